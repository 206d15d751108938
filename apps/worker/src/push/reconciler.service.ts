import {
  Inject,
  Injectable,
  Logger,
  type OnApplicationBootstrap,
  type OnApplicationShutdown,
} from '@nestjs/common';
import type { EntityManager } from 'typeorm';
import { HERALD_CONFIG, type HeraldConfig } from '@herald/config';
import { QueueService } from '@herald/platform';
import { PushRuntime } from './push.runtime';
import { planJob, shardJobs, type PushJob } from '@herald/push';

/** Unfinished messages read per page; a pass pages through all of them (keyset on `created_at, id`). */
const PAGE = 500;
/** Open shards read per page of a page's sending messages (a message may have up to 10,000). */
const SHARD_PAGE = 5_000;
/** Job states asked of Redis at once: concurrent commands on one connection go out pipelined. */
const STATE_BURST = 1_000;

interface UnfinishedMessage {
  id: string;
  status: string;
  /** `created_at` as PostgreSQL prints it, so the keyset cursor keeps its microseconds. */
  created_at: string;
  /** `started_at` in epoch ms: where the plan handler began the `big_push_duration` window. */
  started_ms: number;
  shards_total: number | null;
  big_push_minutes: number | null;
}

/**
 * The outbox reconciler (architecture invariant 1). PostgreSQL is the truth: every message accepted
 * but not finished must have its jobs in Redis. Each worker runs this on a timer (not as a BullMQ job,
 * which a Redis flush would take with it); an advisory lock lets one worker at a time do the work.
 * Each pass pages through every unfinished message (oldest first, `PAGE` at a time, so long-running
 * messages never hide newer ones) and, per page, asks Redis for the state of all their plan or open
 * shard jobs in pipelined bursts. It re-adds a missing plan or shard job (fixed job ids make a race with
 * the API a no-op), retries a job that exhausted its attempts, and restores the recurring job
 * schedulers.
 */
@Injectable()
export class ReconcilerService implements OnApplicationBootstrap, OnApplicationShutdown {
  private readonly logger = new Logger('push-reconciler');
  private timer?: NodeJS.Timeout;
  private running?: Promise<unknown>;

  constructor(
    @Inject(HERALD_CONFIG) private readonly config: HeraldConfig,
    private readonly runtime: PushRuntime,
    private readonly queues: QueueService,
  ) {}

  onApplicationBootstrap(): void {
    this.timer = setInterval(() => {
      this.running ??= this.run()
        .catch((err: unknown) => this.logger.warn({ err }, 'reconcile failed'))
        .finally(() => (this.running = undefined));
    }, this.config.push.reconcileIntervalMs);
    this.timer.unref();
  }

  async onApplicationShutdown(): Promise<void> {
    clearInterval(this.timer);
    await this.running;
  }

  /** One pass over every unfinished message; returns how many jobs it re-added or retried. */
  async run({ pageSize = PAGE }: { pageSize?: number } = {}): Promise<{ requeued: number }> {
    return this.runtime.db.transaction(async (tx) => {
      const [{ locked }] = await tx.query<{ locked: boolean }[]>(
        `SELECT pg_try_advisory_xact_lock(hashtext('herald-push-reconciler')) AS locked`,
      );
      if (!locked) return { requeued: 0 };
      await this.queues.upsertRecurringJobs();
      let requeued = 0;
      let after = { createdAt: '-infinity', id: '0' };
      for (;;) {
        // `created_at >= $2` lets the partial index on created_at serve the keyset condition.
        const page = await tx.query<UnfinishedMessage[]>(
          `SELECT id::text AS id, status, created_at::text AS created_at,
                  (extract(epoch FROM COALESCE(started_at, created_at)) * 1000)::float8 AS started_ms,
                  shards_total, (request #>> '{options,big_push_duration}')::float8 AS big_push_minutes
             FROM messages
            WHERE status IN ('accepted', 'planning', 'sending')
              AND created_at < now() - make_interval(secs => $1::float8 / 1000)
              AND created_at >= $2::timestamptz
              AND (created_at, id) > ($2::timestamptz, $3::bigint)
            ORDER BY created_at, id
            LIMIT $4`,
          [this.config.push.reconcileGraceMs, after.createdAt, after.id, pageSize],
        );
        if (page.length > 0) requeued += await this.reconcilePage(tx, page);
        if (page.length < pageSize) break;
        const last = page[page.length - 1];
        after = { createdAt: last.created_at, id: last.id };
      }
      if (requeued > 0) this.logger.log({ requeued }, 're-enqueued jobs of unfinished messages');
      return { requeued };
    });
  }

  private async reconcilePage(tx: EntityManager, page: UnfinishedMessage[]): Promise<number> {
    let requeued = await this.repair(page.filter((m) => m.status !== 'sending').map((m) => planJob(m.id)));
    const windows = new Map(page.filter((m) => m.status === 'sending').map((m) => [m.id, m] as const));
    if (windows.size === 0) return requeued;
    const sending = [...windows.keys()];
    // Every shard finished but the message was not marked (a crash between the two writes).
    await tx.query(
      `UPDATE messages m SET status = 'completed', completed_at = now()
        WHERE m.id = ANY($1::bigint[]) AND m.status = 'sending'
          AND NOT EXISTS (SELECT 1 FROM message_shards s
                           WHERE s.message_id = m.id AND s.status IN ('pending', 'running'))`,
      [sending],
    );
    let after = { messageId: '0', shardNo: -1 };
    for (;;) {
      const shards = await tx.query<{ message_id: string; no: number }[]>(
        `SELECT message_id::text AS message_id, shard_no AS no FROM message_shards
          WHERE message_id = ANY($1::bigint[]) AND status IN ('pending', 'running')
            AND (message_id, shard_no) > ($2::bigint, $3::int)
          ORDER BY message_id, shard_no
          LIMIT ${SHARD_PAGE}`,
        [sending, after.messageId, after.shardNo],
      );
      // A re-added shard keeps its place in the `big_push_duration` window (overdue ones go now).
      const jobs = shards.map(({ message_id: id, no }) => {
        const m = windows.get(id)!;
        const durationMs = (m.big_push_minutes ?? 0) * 60_000;
        return shardJobs(id, [no], durationMs, Math.max(m.shards_total ?? 0, no + 1), m.started_ms)[0];
      });
      requeued += await this.repair(jobs);
      if (shards.length < SHARD_PAGE) return requeued;
      const last = shards[shards.length - 1];
      after = { messageId: last.message_id, shardNo: last.no };
    }
  }

  /**
   * Makes each job exist unless it is waiting, delayed or running: a failed job (attempts exhausted)
   * is retried; a missing one, or one completed while PostgreSQL says its work is not done, is added
   * again (removed first, so its fixed id does not make the add a no-op).
   */
  private async repair(jobs: PushJob[]): Promise<number> {
    const queue = this.queues.queue('push');
    let requeued = 0;
    for (let i = 0; i < jobs.length; i += STATE_BURST) {
      const burst = jobs.slice(i, i + STATE_BURST);
      const states = await Promise.all(burst.map((j) => queue.getJobState(j.opts.jobId)));
      const failed = burst.filter((_, k) => states[k] === 'failed');
      const missing = burst.filter((_, k) => states[k] === 'unknown' || states[k] === 'completed');
      await Promise.all(
        failed.map(async (j) => {
          const job = await queue.getJob(j.opts.jobId);
          await job?.retry('failed');
        }),
      );
      if (missing.length > 0) {
        await Promise.all(missing.map((j) => queue.remove(j.opts.jobId)));
        await queue.addBulk(missing);
      }
      requeued += failed.length + missing.length;
    }
    return requeued;
  }
}
