import { Injectable } from '@nestjs/common';
import { QueueService } from '@herald/platform';
import type { JobPayload } from '@herald/queue';
import type { JobHandler } from '../jobs/job-handler';
import { PushRuntime } from './push.runtime';
import { enqueueShards, type PushSpec } from '@herald/push';

/**
 * Splits an accepted message into shards: keyset ranges of the app's device ids with about
 * `HERALD_SHARD_SIZE` active devices each (the audience lib's percentiles), written as
 * `message_shards` rows before any job exists, so a redelivered plan or the reconciler rebuilds the
 * same jobs. `big_push_duration` spreads the shards evenly over its minutes from `started_at`.
 */
@Injectable()
export class PlanHandler implements JobHandler<'push.plan'> {
  readonly jobName = 'push.plan' as const;

  constructor(
    private readonly runtime: PushRuntime,
    private readonly queues: QueueService,
  ) {}

  async handle({ messageId }: JobPayload<'push.plan'>): Promise<{ shards: number }> {
    const db = this.runtime.db;
    // TypeORM answers an UPDATE … RETURNING with [rows, affected].
    const [claimed] = await db.query<[{ app_id: string; request: PushSpec; started_ms: number }[], number]>(
      `UPDATE messages SET status = 'planning', started_at = COALESCE(started_at, now())
        WHERE id = $1 AND status IN ('accepted', 'planning')
        RETURNING app_id, request, (extract(epoch FROM started_at) * 1000)::float8 AS started_ms`,
      [messageId],
    );
    if (claimed.length === 0) return { shards: 0 };
    const { app_id: appId, request: spec, started_ms: startedAt } = claimed[0];

    const [{ n }] = await db.query<{ n: string }[]>(
      `SELECT count(*)::bigint AS n FROM devices WHERE app_id = $1 AND status = 'active'`,
      [appId],
    );
    const count = Math.max(1, Math.ceil(Number(n) / this.runtime.config.push.shardSize));
    const ranges = await this.runtime.audience.splitRanges(appId, Math.min(count, 10_000));
    await db.transaction(async (tx) => {
      await tx.query(
        `INSERT INTO message_shards (message_id, shard_no, from_device_id, to_device_id)
         SELECT $1, n - 1, f, t FROM unnest($2::bigint[], $3::bigint[]) WITH ORDINALITY AS r(f, t, n)
         ON CONFLICT (message_id, shard_no) DO NOTHING`,
        [messageId, ranges.map((r) => r.afterId), ranges.map((r) => r.throughId)],
      );
      const [{ total }] = await tx.query<{ total: number }[]>(
        `SELECT count(*)::int AS total FROM message_shards WHERE message_id = $1`,
        [messageId],
      );
      await tx.query(
        `UPDATE messages SET status = 'sending', shards_total = $2 WHERE id = $1 AND status = 'planning'`,
        [messageId, total],
      );
    });
    const durationMs = (spec.options.big_push_duration ?? 0) * 60_000;
    const shardNos = ranges.map((_, i) => i);
    // The window starts at `started_at`, which the reconciler reads to put a lost shard back in place.
    await enqueueShards(this.queues, messageId, shardNos, durationMs, shardNos.length, startedAt);
    return { shards: ranges.length };
  }
}
