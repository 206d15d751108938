import type { DataSource, EntityManager } from 'typeorm';
import type { PushSpec } from './push.types';

export type MessageSource = 'push' | 'batch' | 'schedule' | 'campaign' | 'test';

export interface NewMessage {
  appId: string;
  spec: PushSpec;
  source?: MessageSource;
  scheduleId?: string;
  correlationId?: string;
  /**
   * A small explicit audience (registration ids or aliases: at most 1000 devices) is one shard: the
   * message row, its shard row and its counters are written at once and the shard job is enqueued
   * directly, skipping the plan job — the unicast path.
   */
  singleShard: boolean;
}

/** Whole device-id range, for a single-shard message. */
const MAX_ID = '9223372036854775807';

/** A small explicit audience (registration ids or aliases ANDed with anything) is one shard. */
export function isSingleShard(spec: PushSpec): boolean {
  return spec.audience.registration_id !== undefined || spec.audience.alias !== undefined;
}

/**
 * Writes an accepted message (architecture invariant 1: the row is committed before the API answers;
 * jobs are derived from it and restored by the reconciler). Run inside the caller's transaction when
 * other rows (idempotency records) must commit with it.
 */
export async function insertMessage(db: DataSource | EntityManager, m: NewMessage): Promise<string> {
  const rows = await db.query<{ id: string }[]>(
    `INSERT INTO messages (app_id, sendno, source, status, cid, request, audience, platforms, time_to_live,
                           override_message_id, schedule_id, correlation_id, shards_total, expires_at)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9::int, $10, $11, $12, $13, now() + make_interval(secs => $9::int))
     RETURNING id::text AS id`,
    [
      m.appId,
      m.spec.options.sendno,
      m.source ?? 'push',
      m.singleShard ? 'sending' : 'accepted',
      m.spec.cid ?? null,
      m.spec,
      m.spec.audience,
      m.spec.platform === 'all' ? ['all'] : m.spec.platform,
      m.spec.options.time_to_live,
      m.spec.options.override_msg_id ?? null,
      m.scheduleId ?? null,
      m.correlationId ?? null,
      m.singleShard ? 1 : null,
    ],
  );
  const id = rows[0].id;
  if (m.singleShard) {
    await db.query(
      `INSERT INTO message_shards (message_id, shard_no, from_device_id, to_device_id) VALUES ($1, 0, 0, $2)`,
      [id, MAX_ID],
    );
  }
  return id;
}
