import { DataSource, type EntityManager } from 'typeorm';
import { arrayLiteral, preparedRunner, textParam } from '@herald/db';
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
export type MessageTarget = Pick<CompiledAudience, 'from' | 'where' | 'params' | 'preparable'>;

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
  if (db instanceof DataSource && items.length > 0 && sameKeyedTarget(items)) return insertKeyed(db, items);
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

/**
 * Every message is to registration ids or aliases and nothing else, and their audiences compiled to
 * the same SQL text (only the values differ): the unicast path, and the common batch.
 */
function sameKeyedTarget(items: TargetedMessage[]): boolean {
  const first = items[0].target;
  if (!first?.preparable) return false;
  return items.every(
    ({ target: t }) =>
      t !== undefined &&
      t.preparable === true &&
      t.from === first.from &&
      t.where === first.where &&
      t.params.every((v) => textParam(v) !== undefined),
  );
}

/** The keyed insert's text per audience shape (`from`, `where` and how many values they read). */
const keyedSql = new Map<string, string>();

function keyedInsertSql(target: MessageTarget): string {
  const k = target.params.length;
  const shape = `${k}\u0000${target.from}\u0000${target.where}`;
  let sql = keyedSql.get(shape);
  if (sql !== undefined) return sql;
  const row = (text: string) => text.replace(/\$(\d+)/g, (_, n: string) => `i.t${n}`);
  const targetCols = Array.from({ length: k }, (_, j) => `t${j + 1}`);
  sql = `WITH i AS (
      SELECT * FROM unnest(
        (SELECT $1::int[]), (SELECT $2::uuid[]), (SELECT $3::text[]), (SELECT $4::text[]), (SELECT $5::text[]),
        (SELECT $6::text[]), (SELECT $7::jsonb[]), (SELECT $8::jsonb[]), (SELECT $9::text[]), (SELECT $10::int[]),
        (SELECT $11::bigint[]), (SELECT $12::uuid[]), (SELECT $13::text[]), (SELECT $14::int[])
        ${targetCols.map((_, j) => `, (SELECT $${15 + j}::text[])`).join('')})
        AS i(ord, app_id, sendno, source, status, cid, request, audience, platforms, time_to_live,
             override_message_id, schedule_id, correlation_id, shards_total${targetCols.map((c) => `, ${c}`).join('')})
    ), ids AS (
      SELECT nextval('messages_id_seq'::regclass) AS id, i.* FROM i
       WHERE EXISTS (SELECT 1 FROM ${row(target.from)} d WHERE ${row(target.where)})
    ), m AS (
      INSERT INTO messages (id, app_id, sendno, source, status, cid, request, audience, platforms, time_to_live,
                            override_message_id, schedule_id, correlation_id, shards_total, expires_at)
      OVERRIDING SYSTEM VALUE
      SELECT id, app_id, sendno, source, status, cid, request, audience, platforms::text[], time_to_live,
             override_message_id, schedule_id, correlation_id, shards_total,
             now() + make_interval(secs => time_to_live)
        FROM ids
    ), s AS (
      INSERT INTO message_shards (message_id, shard_no, from_device_id, to_device_id)
      SELECT id, 0, 0, ${MAX_ID}::bigint FROM ids WHERE shards_total = 1
    )
    SELECT ord, id::text AS id FROM ids`;
  // Texts are as many as the audience shapes (registration ids or aliases, each platform filter).
  keyedSql.set(shape, sql);
  return sql;
}

/**
 * `insertMessages` for messages whose audiences share one SQL text: one set-based statement over
 * arrays, its text the same whatever the number of messages, so it is a named prepared statement
 * with one generic plan. (The general statement's per-message `WITH` parts change its text with every
 * batch size, and PostgreSQL spent more time planning them than writing the rows: ~1.5 ms for 64.)
 * Each message's probe is its audience's own condition with the audience's values read from that
 * message's row; ids are drawn first, so the answers map back to the messages in order (from the
 * identity's sequence, named as PostgreSQL named it: looking it up with `pg_get_serial_sequence` ran a
 * catalog query per row).
 */
async function insertKeyed(db: DataSource, items: TargetedMessage[]): Promise<(string | undefined)[]> {
  const target = items[0].target as MessageTarget;
  const sql = keyedInsertSql(target);
  const column = <T>(f: (m: NewMessage) => T) => items.map(({ message }) => f(message));
  const params: unknown[] = [
    items.map((_, n) => n),
    column((m) => m.appId),
    column((m) => m.spec.options.sendno),
    column((m) => m.source ?? 'push'),
    column((m) => (m.singleShard ? 'sending' : 'accepted')),
    column((m) => m.spec.cid ?? null),
    column((m) => JSON.stringify(m.spec)),
    column((m) => JSON.stringify(m.spec.audience)),
    column((m) => arrayLiteral(m.spec.platform === 'all' ? ['all'] : m.spec.platform)),
    column((m) => m.spec.options.time_to_live),
    column((m) => m.spec.options.override_msg_id ?? null),
    column((m) => m.scheduleId ?? null),
    column((m) => m.correlationId ?? null),
    column((m) => (m.singleShard ? 1 : null)),
  ];
  for (let j = 0; j < target.params.length; j++) {
    params.push(items.map(({ target: t }) => textParam((t as MessageTarget).params[j])));
  }
  const rows = (await preparedRunner(db).query(sql, params)) as { ord: number; id: string }[];
  const ids = new Map(rows.map((r) => [Number(r.ord), r.id]));
  return items.map((_, n) => ids.get(n));
}
