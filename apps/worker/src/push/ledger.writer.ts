import type { Channel } from '@herald/audience';
import type { DataSource } from 'typeorm';
import { preparedQuery } from '@herald/db';
import { CALLBACK_TYPE_BIT, callbackTypeMaskSql } from '@herald/push';

export type LedgerState = 'sent' | 'failed' | 'invalid_token' | 'expired';

export interface LedgerRow {
  deviceId: string;
  channel: Channel;
  state: LedgerState;
  reason: string | null;
  providerMessageId: string | null;
  providerStatus: number | null;
  attempts: number;
}

/** The outcomes of one page of one message's shard. */
export interface OutcomePage {
  messageId: string;
  appId: string;
  rows: LedgerRow[];
  /**
   * The message asked for a `callback`: the rows this statement newly records as sent queue their
   * `sent` events (`callback_events`, filtered by `callback.type`) in the same statement.
   */
  callback?: boolean;
  /** Stored badges the page's sends moved (JPush `"+N"`), by device id: written in the same statement. */
  badges?: ReadonlyMap<string, number>;
  /**
   * The shard's end, recorded in the same statement as the page (as `finishShards` would: once, and
   * the message completed with its last shard), so a unicast costs one statement fewer. The shard
   * handler sets it only on a single-shard message's last page when this statement is the shard's
   * last write (nothing to retry, no invalid tokens to hand to the feedback queue after it).
   */
  end?: { shardNo: number; status: 'done' };
}

/**
 * Shard ends as data-modifying `WITH` parts (`e`, `es`, `ec`, `em`), given the SQL of their three
 * arrays (message ids, shard numbers, statuses): a shard moves once (only a `running` one), and its
 * message is completed with its last shard. `FINISH_SQL` is these parts alone (reading `em`, so a
 * plan's top node counts the message update's work too); the ledger statement carries them for ends
 * recorded together with their last page.
 */
export function shardEndCtes(messageIds: string, shardNos: string, statuses: string): string {
  return `e AS (
       SELECT * FROM unnest(${messageIds}, ${shardNos}, ${statuses}) AS e(message_id, shard_no, status)
     ), es AS (
       UPDATE message_shards ms SET status = e.status, completed_at = now()
         FROM e
        WHERE ms.message_id = e.message_id AND ms.shard_no = e.shard_no AND ms.status = 'running'
       RETURNING ms.message_id
     ), ec AS (SELECT message_id, count(*)::int AS n FROM es GROUP BY message_id
     ), em AS (
       UPDATE messages m
          SET shards_done = m.shards_done + ec.n,
              status = CASE WHEN m.status = 'sending' AND m.shards_done + ec.n >= m.shards_total
                            THEN 'completed' ELSE m.status END,
              completed_at = CASE WHEN m.status = 'sending' AND m.shards_done + ec.n >= m.shards_total
                                  THEN now() ELSE m.completed_at END
         FROM ec WHERE m.id = ec.message_id
       RETURNING m.id
     )`;
}

/**
 * Records the outcomes of pages of a shard in one statement — pages of several messages at once when
 * concurrent jobs share it (`ShardStatements`): a ledger row per device, and — only for rows this
 * statement created or moved out of a non-final state — the counters and failure reasons. A
 * redelivered shard, a retried statement or a gateway ack that arrived first can therefore never
 * count a device twice (architecture invariant 6). The page's side effects in PostgreSQL are part of
 * the same statement, so they commit with the ledger rows or not at all — a job that fails after it
 * and is run again (skipping what the ledger holds) loses none of them: the `sent` callback events of
 * newly sent rows (pages with `callback`) and the stored badges the sends moved. Answers each page's
 * newly sent device ids. A device
 * may appear in one page per message at most (PostgreSQL refuses to update a row twice in one
 * statement); a page's devices are distinct, and two pages of one batch are of different messages or
 * disjoint shards.
 */
export async function recordOutcomePages(db: DataSource, pages: OutcomePage[]): Promise<string[][]> {
  // Column arrays filled in one pass (a broadcast records 1,000,000 rows: no object per row).
  const cols = {
    messageId: [] as string[],
    appId: [] as string[],
    deviceId: [] as string[],
    channel: [] as string[],
    state: [] as string[],
    reason: [] as (string | null)[],
    providerMessageId: [] as (string | null)[],
    providerStatus: [] as (number | null)[],
    attempts: [] as number[],
  };
  for (const p of pages) {
    for (const r of p.rows) {
      cols.messageId.push(p.messageId);
      cols.appId.push(p.appId);
      cols.deviceId.push(r.deviceId);
      cols.channel.push(r.channel);
      cols.state.push(r.state);
      cols.reason.push(r.reason);
      cols.providerMessageId.push(r.providerMessageId);
      cols.providerStatus.push(r.providerStatus);
      cols.attempts.push(r.attempts);
    }
  }
  const ends = pages.filter((p) => p.end !== undefined);
  const badgeIds: string[] = [];
  const badgeValues: number[] = [];
  for (const p of pages) {
    for (const [id, badge] of p.badges ?? []) {
      badgeIds.push(id);
      badgeValues.push(badge);
    }
  }
  if (cols.deviceId.length === 0 && ends.length === 0 && badgeIds.length === 0) return pages.map(() => []);
  const result = await preparedQuery<{ m: string; id: string }>(
    db,
    'herald-record-outcomes',
    `WITH input AS (
       SELECT * FROM unnest($1::bigint[], $2::uuid[], $3::bigint[], $4::text[], $5::text[], $6::text[],
                            $7::text[], $8::int[], $9::int[])
         AS i(message_id, app_id, device_id, channel, state, reason, provider_message_id, provider_status, attempts)
     ), changed AS (
       INSERT INTO deliveries AS d (message_id, device_id, app_id, channel, state, reason, provider_message_id,
                                    provider_status, attempts, sent_at)
       SELECT message_id, device_id, app_id, channel, state, reason, provider_message_id, provider_status, attempts,
              CASE WHEN state = 'sent' THEN now() END
         FROM input
       ON CONFLICT (message_id, device_id) DO UPDATE
         SET state = CASE WHEN d.state = 'delivered' THEN 'delivered' ELSE excluded.state END,
             reason = excluded.reason,
             provider_message_id = excluded.provider_message_id,
             provider_status = excluded.provider_status,
             attempts = d.attempts + excluded.attempts,
             sent_at = COALESCE(d.sent_at, excluded.sent_at),
             updated_at = now()
         WHERE d.sent_at IS NULL AND d.state IN ('pending', 'retrying', 'delivered')
       RETURNING d.message_id, d.device_id
     ), counted AS (
       SELECT i.message_id, i.channel, i.state, i.reason, i.device_id
         FROM changed c JOIN input i ON i.message_id = c.message_id AND i.device_id = c.device_id
     ), counters AS (
       INSERT INTO message_counters AS mc (message_id, channel, targets, sent, failed)
       SELECT message_id, channel, count(*), count(*) FILTER (WHERE state = 'sent'),
              count(*) FILTER (WHERE state <> 'sent')
         FROM counted GROUP BY message_id, channel
        -- One lock order for every statement: two batches holding pages of the same messages never deadlock.
        ORDER BY message_id, channel
       ON CONFLICT (message_id, channel) DO UPDATE
         SET targets = mc.targets + excluded.targets, sent = mc.sent + excluded.sent,
             failed = mc.failed + excluded.failed
     ), failures AS (
       INSERT INTO message_failures AS mf (message_id, channel, reason, count)
       SELECT message_id, channel, reason, count(*) FROM counted WHERE state <> 'sent'
        GROUP BY message_id, channel, reason ORDER BY message_id, channel, reason
       ON CONFLICT (message_id, channel, reason) DO UPDATE SET count = mf.count + excluded.count
     ), asked AS MATERIALIZED (
       -- The batch's messages whose page says they asked for a callback that wants "sent" events ($13),
       -- looked up by id: a page without a callback reads no message or device row here.
       SELECT m.id, m.app_id FROM messages m
        WHERE m.id = ANY($13::bigint[]) AND m.request ? 'callback'
          AND ${callbackTypeMaskSql("(m.request #> '{callback,type}')")} & ${CALLBACK_TYPE_BIT.sent} <> 0
     ), sent_events AS (
       INSERT INTO callback_events (app_id, message_id, device_id, registration_id, event, occurred_at)
       SELECT x.app_id, x.id, dv.id, dv.registration_id, 'sent', now()
         -- Fenced (OFFSET 0): the rows of asking messages first, so no device is read for the others.
         FROM (SELECT a.id, a.app_id, c.device_id FROM asked a
                 JOIN counted c ON c.message_id = a.id AND c.state = 'sent' OFFSET 0) x
         JOIN devices dv ON dv.id = x.device_id AND dv.app_id = x.app_id
       ON CONFLICT (message_id, device_id, event) DO NOTHING
     ), badges AS (
       UPDATE devices dv SET badge = b.badge
         FROM unnest($14::bigint[], $15::int[]) AS b(id, badge)
        WHERE dv.id = b.id
     ), ${shardEndCtes('$10::bigint[]', '$11::int[]', '$12::text[]')}
     SELECT message_id::text AS m, device_id::text AS id FROM counted WHERE state = 'sent'`,
    [
      cols.messageId,
      cols.appId,
      cols.deviceId,
      cols.channel,
      cols.state,
      cols.reason,
      cols.providerMessageId,
      cols.providerStatus,
      cols.attempts,
      ends.map((p) => p.messageId),
      ends.map((p) => p.end!.shardNo),
      ends.map((p) => p.end!.status),
      [...new Set(pages.filter((p) => p.callback).map((p) => p.messageId))],
      badgeIds,
      badgeValues,
    ],
  );
  const sent = new Set(result.map((r) => `${r.m}/${r.id}`));
  return pages.map((p) =>
    p.rows.filter((r) => sent.has(`${p.messageId}/${r.deviceId}`)).map((r) => r.deviceId),
  );
}
