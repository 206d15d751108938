import type { DataSource, EntityManager } from 'typeorm';
import type { CompiledAudience } from '@herald/audience';
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
 * jobs are derived from it and restored by the reconciler) — in one statement with its shard row when
 * it is a single shard. With `target`, the row is written only if at least one device matches the
 * compiled audience (an index probe in the same statement: JPush's 1011 costs no extra round trip), and
 * `undefined` means none did. Run inside the caller's transaction when other rows (idempotency records)
 * must commit with it.
 */
export async function insertMessage(
  db: DataSource | EntityManager,
  m: NewMessage,
  target?: MessageTarget,
): Promise<string | undefined> {
  const [id] = await insertMessages(db, [{ message: m, target }]);
  return id;
}

/** The compiled audience a message is written only if it matches (the 1011 probe). */
export type MessageTarget = Pick<CompiledAudience, 'from' | 'where' | 'params'>;

/** A message to write, with the audience probe that decides whether it is written at all (none: always). */
export interface TargetedMessage {
  message: NewMessage;
  target?: MessageTarget;
}

/**
 * `insertMessage` for several messages in one statement (one round trip, one commit): each message is
 * its own data-modifying `WITH` part with its own `EXISTS` probe, so each is written or not on its own
 * audience; answers are in order (`undefined`: no device matched). The statement is atomic: if it
 * fails, nothing of it is written — callers that need per-message errors run the messages apart then.
 */
export async function insertMessages(
  db: DataSource | EntityManager,
  items: TargetedMessage[],
): Promise<(string | undefined)[]> {
  const params: unknown[] = [];
  const parts: string[] = [];
  const selects: string[] = [];
  items.forEach(({ message: m, target }, i) => {
    const base = params.length;
    // The compiler binds every value, so `$n` occurs in the clause only as a placeholder.
    const renumber = (text: string) =>
      base === 0 ? text : text.replace(/\$(\d+)/g, (_, n: string) => `$${base + Number(n)}`);
    const guard = target
      ? `WHERE EXISTS (SELECT 1 FROM ${renumber(target.from)} d WHERE ${renumber(target.where)})`
      : '';
    const targetParams = target?.params ?? [];
    params.push(...targetParams);
    const p = (k: number) => `$${base + targetParams.length + k}`;
    params.push(
      m.appId,
      m.spec.options.sendno,
      m.source ?? 'push',
      m.singleShard ? 'sending' : 'accepted',
      m.spec.cid ?? null,
      JSON.stringify(m.spec),
      JSON.stringify(m.spec.audience),
      m.spec.platform === 'all' ? ['all'] : m.spec.platform,
      m.spec.options.time_to_live,
      m.spec.options.override_msg_id ?? null,
      m.scheduleId ?? null,
      m.correlationId ?? null,
      m.singleShard ? 1 : null,
    );
    parts.push(`m${i} AS (
      INSERT INTO messages (app_id, sendno, source, status, cid, request, audience, platforms, time_to_live,
                            override_message_id, schedule_id, correlation_id, shards_total, expires_at)
      SELECT ${p(1)}::uuid, ${p(2)}, ${p(3)}, ${p(4)}, ${p(5)}, ${p(6)}::jsonb, ${p(7)}::jsonb, ${p(8)}::text[],
             ${p(9)}::int, ${p(10)}::bigint, ${p(11)}::uuid, ${p(12)}, ${p(13)}::int,
             now() + make_interval(secs => ${p(9)}::int)
      ${guard}
      RETURNING id)`);
    if (m.singleShard) {
      parts.push(`s${i} AS (
        INSERT INTO message_shards (message_id, shard_no, from_device_id, to_device_id)
        SELECT id, 0, 0, ${MAX_ID}::bigint FROM m${i} RETURNING message_id AS id)`);
    }
    selects.push(`SELECT ${i} AS i, id::text AS id FROM ${m.singleShard ? 's' : 'm'}${i}`);
  });
  const sql = `WITH ${parts.join(',\n')}\n${selects.join('\nUNION ALL ')}`;
  const rows = await db.query<{ i: number; id: string }[]>(sql, params);
  const ids = new Map(rows.map((r) => [Number(r.i), r.id]));
  return items.map((_, i) => ids.get(i));
}
