import type { DataSource } from 'typeorm';
import { preparedQuery, refusedByContent } from '@herald/db';
import { MicroBatcher, splitOnFailure } from '@herald/platform';
import type { PushSpec } from '@herald/push';
import { recordOutcomePages, shardEndCtes, type OutcomePage } from './ledger.writer';

export interface MessageRow {
  app_id: string;
  status: string;
  request: PushSpec;
  created_at: Date;
  correlation_id: string | null;
  shards_total: number | null;
}

export interface ClaimedShard {
  from: string;
  to: string;
  attempts: number;
}

export interface ShardKey {
  messageId: string;
  shardNo: number;
}

export type ShardEnd = ShardKey & { status: 'done' | 'cancelled' };

/**
 * The statements below read their arrays through `(SELECT $n)`: the planner then cannot see how long
 * they are, plans a prepared statement's fifth call like its first, and keeps one generic plan for it
 * (with the array visible, each call looked cheaper to plan afresh, and planning was most of its cost).
 */

/**
 * The shared claim (see `claimSingleShards`); exported so a test can read its generic plan. The
 * message's status is read in a sub-select that looks the message up by id alone: a status condition
 * in the join let the planner read `messages_unfinished_idx` whole (statistics taken on an idle queue
 * make it look one row long) and match ids in a join filter — one claim then cost as much as the whole
 * backlog of unfinished messages, 5.6 ms each at ~14,000 (bench:unicast).
 */
export const CLAIM_SQL = `WITH cfg AS (SELECT set_config('synchronous_commit', 'off', true) AS v),
     u AS (SELECT * FROM unnest((SELECT $1::bigint[]), (SELECT $2::int[])) AS u(message_id, shard_no)),
     s AS (
       UPDATE message_shards s SET status = 'running', attempts = s.attempts + 1
         FROM u, cfg
        WHERE s.message_id = u.message_id AND s.shard_no = u.shard_no AND s.status IN ('pending', 'running')
          AND (SELECT m.status = 'sending' AND COALESCE(m.shards_total, 1) <= 1 FROM messages m WHERE m.id = s.message_id)
          AND cfg.v IS NOT NULL
       RETURNING s.message_id, s.shard_no, s.from_device_id, s.to_device_id, s.attempts)
     SELECT s.message_id::text AS message_id, s.shard_no, s.from_device_id::text AS "from",
            s.to_device_id::text AS "to", s.attempts, m.app_id, m.status, m.request, m.created_at,
            m.correlation_id, m.shards_total
       FROM s JOIN messages m ON m.id = s.message_id`;

/** The shared shard end (see `finishShards`); exported so a test can read its generic plan. */
export const FINISH_SQL = `WITH ${shardEndCtes('(SELECT $1::bigint[])', '(SELECT $2::int[])', '(SELECT $3::text[])')}
     SELECT count(*) FROM em`;

/**
 * Claims the shards of single-shard messages (unicasts and small lists) that are still open, with
 * their message, in one statement: `running`, one more attempt. The claim is committed without
 * waiting for the WAL flush (`synchronous_commit` off for this transaction only): it is visible at
 * once to recall and to a redelivered job like any commit, and if PostgreSQL itself crashes before
 * the flush, the claim is lost only together with everything the shard wrote after it — every later
 * synchronous commit (the ledger) flushes the WAL up to and including it. A lost claim is therefore
 * the same as a shard never started. Answers `undefined` for a shard it did not claim (a broadcast's
 * shard, a finished shard, a message no longer sending): the caller then takes the general path.
 */
export async function claimSingleShards(
  db: DataSource,
  keys: ShardKey[],
): Promise<({ msg: MessageRow; shard: ClaimedShard } | undefined)[]> {
  const rows = await preparedQuery<MessageRow & ClaimedShard & { message_id: string; shard_no: number }>(
    db,
    'herald-claim-single-shards',
    CLAIM_SQL,
    [keys.map((k) => k.messageId), keys.map((k) => k.shardNo)],
  );
  const byKey = new Map(rows.map((r) => [`${r.message_id}/${r.shard_no}`, r]));
  return keys.map((k) => {
    const r = byKey.get(`${k.messageId}/${k.shardNo}`);
    if (!r) return undefined;
    const { from, to, attempts, message_id: _m, shard_no: _s, ...msg } = r;
    return { msg, shard: { from, to, attempts } };
  });
}

/**
 * Marks shards finished, once each (only a `running` one moves), and their messages completed when
 * the last shard of each is. One statement for shards of any messages.
 */
export async function finishShards(db: DataSource, ends: ShardEnd[]): Promise<void> {
  await preparedQuery(db, 'herald-finish-shards', FINISH_SQL, [
    ends.map((e) => e.messageId),
    ends.map((e) => e.shardNo),
    ends.map((e) => e.status),
  ]);
}

/**
 * The shard jobs of one worker process share their bookkeeping statements: the claims, ledger pages
 * and shard ends that concurrent jobs issue in the same turn of the event loop go to PostgreSQL as one
 * statement each (under unicast load, one per several messages instead of one per message). If
 * PostgreSQL refuses a shared statement for its content (or a deadlock), each item is run alone, so one
 * bad item fails only its own job.
 */
export class ShardStatements {
  readonly claims: MicroBatcher<ShardKey, { msg: MessageRow; shard: ClaimedShard } | undefined>;
  readonly outcomes: MicroBatcher<OutcomePage, string[]>;
  readonly ends: MicroBatcher<ShardEnd, undefined>;

  constructor(db: DataSource) {
    this.claims = new MicroBatcher({
      run: splitOnFailure((keys) => claimSingleShards(db, keys), refusedByContent),
    });
    // A broadcast page is 2,000 rows: a few pages per statement at most.
    this.outcomes = new MicroBatcher({
      run: splitOnFailure((pages) => recordOutcomePages(db, pages), refusedByContent),
      maxBatch: 8,
    });
    this.ends = new MicroBatcher({
      run: splitOnFailure(async (ends) => {
        await finishShards(db, ends);
        return ends.map(() => undefined);
      }, refusedByContent),
    });
  }
}
