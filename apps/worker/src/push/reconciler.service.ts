import {
  Inject,
  Injectable,
  Logger,
  type OnApplicationBootstrap,
  type OnApplicationShutdown,
} from '@nestjs/common';
import { HERALD_CONFIG, type HeraldConfig } from '@herald/config';
import { QueueService } from '@herald/platform';
import { PushRuntime } from './push.runtime';
import { enqueuePlan, enqueueShards, planJobId, shardJobId } from '@herald/push';

const BATCH = 500;

/**
 * The outbox reconciler (architecture invariant 1). PostgreSQL is the truth: every message accepted
 * but not finished must have its jobs in Redis. Each worker runs this on a timer (not as a BullMQ job,
 * which a Redis flush would take with it); an advisory lock lets one worker at a time do the work.
 * It re-adds a missing plan or shard job (fixed job ids make a race with the API a no-op), retries a
 * shard job that exhausted its attempts, and restores the recurring job schedulers.
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

  /** One pass; returns how many jobs it re-added. */
  async run(): Promise<{ requeued: number }> {
    return this.runtime.db.transaction(async (tx) => {
      const [{ locked }] = await tx.query<{ locked: boolean }[]>(
        `SELECT pg_try_advisory_xact_lock(hashtext('herald-push-reconciler')) AS locked`,
      );
      if (!locked) return { requeued: 0 };
      await this.queues.upsertRecurringJobs();
      const messages = await tx.query<{ id: string; status: string }[]>(
        `SELECT id::text AS id, status FROM messages
          WHERE status IN ('accepted', 'planning', 'sending')
            AND created_at < now() - make_interval(secs => $1::float8 / 1000)
          ORDER BY created_at LIMIT ${BATCH}`,
        [this.config.push.reconcileGraceMs],
      );
      const queue = this.queues.queue('push');
      let requeued = 0;
      for (const m of messages) {
        if (m.status !== 'sending') {
          const job = await queue.getJob(planJobId(m.id));
          const state = job ? await job.getState() : 'missing';
          if (state === 'failed') await job!.retry('failed');
          else if (state === 'missing' || state === 'unknown' || state === 'completed') {
            if (job) await job.remove();
            await enqueuePlan(this.queues, m.id);
          } else continue;
          requeued++;
          continue;
        }
        const shards = await tx.query<{ no: number }[]>(
          `SELECT shard_no AS no FROM message_shards WHERE message_id = $1 AND status IN ('pending', 'running')`,
          [m.id],
        );
        if (shards.length === 0) {
          // Every shard finished but the message was not marked (a crash between the two writes).
          await tx.query(
            `UPDATE messages SET status = 'completed', completed_at = now() WHERE id = $1 AND status = 'sending'`,
            [m.id],
          );
          continue;
        }
        const missing: number[] = [];
        for (const { no } of shards) {
          const job = await queue.getJob(shardJobId(m.id, no));
          const state = job ? await job.getState() : 'missing';
          if (state === 'failed') {
            await job!.retry('failed');
            requeued++;
          } else if (state === 'missing' || state === 'unknown' || state === 'completed') {
            if (job) await job.remove();
            missing.push(no);
          }
        }
        if (missing.length > 0) {
          await enqueueShards(this.queues, m.id, missing, 0, 1);
          requeued += missing.length;
        }
      }
      if (requeued > 0) this.logger.log({ requeued }, 're-enqueued jobs of unfinished messages');
      return { requeued };
    });
  }
}
