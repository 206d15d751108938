import { Inject, Injectable, Logger } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import type { Redis } from 'ioredis';
import type { DataSource } from 'typeorm';
import { HERALD_CONFIG, type HeraldConfig } from '@herald/config';
import { preparedQuery } from '@herald/db';
import { heraldMetrics } from '@herald/metrics';
import { REDIS } from '@herald/platform';
import { InboxStore } from '@herald/providers';
import { enqueueCallbackEvents, recordDropped, type CallbackEvent } from '@herald/push';

export interface ReceiptDevice {
  rid: string;
  deviceId: string;
  appId: string;
}

/** JPush message ids are decimal bigints below 2^53; anything else cannot be in the ledger. */
const LEDGER_ID = /^[1-9][0-9]{0,15}$/;
const FLUSH_MS = 10;
const FLUSH_AT = 2_000;
const LEDGER_CONCURRENCY = 3;
const LEDGER_ATTEMPTS = 5;

/**
 * A ledger row (`deliveries`, before an update) counted in its message's `failed` and
 * `message_failures`: a gateway entry dropped from the inbox (`recordDropped`) or failed by the worker.
 */
const COUNTED_FAILED = `deliveries.state IN ('expired', 'failed') AND deliveries.channel = 'gateway' AND deliveries.reason IS NOT NULL`;

const ignoredAcks = heraldMetrics.gatewayReceiptsIgnored.labels('ack');
const ignoredEvents = heraldMetrics.gatewayReceiptsIgnored.labels('event');

/** One ledger statement waiting for its turn: what it records and how many rows, for the logs. */
interface LedgerJob {
  what: 'delivered' | 'frame_lost';
  rows: number;
  write: () => Promise<void>;
}

/**
 * An ack batch into the ledger: $1 message ids, $2 device ids, $3 app ids (one per ack), $4 the time.
 * Only acks of messages sent to the device come here (the Redis part sorts them out), but possibly
 * before the worker's `sent` row: hence the upsert (the worker's keeps `delivered`).
 * Returns the changed rows of messages with a callback, usually none. A named
 * prepared statement whose arrays no plan sees (sub-selects): one generic plan, instead of planning
 * it for every batch of acks (~0.2 ms each, as long as running it). That plan expects ~10 rows
 * from each array, so nothing in it may join the rows against themselves: a nested loop of
 * `changed` × `input` cost 130 µs per ack at 2,000 acks a statement. The messages with a callback
 * are gathered once (an init plan) and the changed rows tested against that short array.
 *
 * A gateway row counted failed (`expired`/`failed`: dropped from the inbox, as `inbox_full` say, while
 * the device had it in flight) that is acked after all is delivered, so it was sent: it moves back from
 * failed to sent (and out of its reason's failure count), keeping targets = sent + failed and
 * delivered ≤ sent. It keeps its reason (the count it left, as the ledger then shows), and only it
 * does: the other rows this moves lose theirs (a retry's), so `changed` tells them apart by it
 * (PostgreSQL 15 returns no old values). Its `sent_at` is set if it had none, as the worker's writer
 * counts a `delivered` row without one as an ack that came first.
 */
export const DELIVERED_SQL = `WITH input AS (
     SELECT i.message_id, i.device_id, i.app_id, m.request ? 'callback' AS callback
       FROM unnest((SELECT $1::bigint[]), (SELECT $2::bigint[]), (SELECT $3::uuid[])) AS i(message_id, device_id, app_id)
       JOIN messages m ON m.id = i.message_id AND m.app_id = i.app_id
   ), changed AS (
     INSERT INTO deliveries (message_id, device_id, app_id, channel, state, delivered_at)
     SELECT message_id, device_id, app_id, 'gateway', 'delivered', $4 FROM input
     ON CONFLICT (message_id, device_id) DO UPDATE
       SET state = 'delivered', delivered_at = excluded.delivered_at, updated_at = now(),
           reason = CASE WHEN ${COUNTED_FAILED} THEN deliveries.reason END,
           sent_at = CASE WHEN ${COUNTED_FAILED} THEN COALESCE(deliveries.sent_at, excluded.delivered_at)
                          ELSE deliveries.sent_at END
       WHERE deliveries.state <> 'delivered'
     RETURNING message_id, device_id, reason AS unfailed
   ), counted AS (
     INSERT INTO message_counters (message_id, channel, delivered, sent, failed)
     SELECT message_id, 'gateway', count(*), count(unfailed), -count(unfailed) FROM changed GROUP BY message_id
     ON CONFLICT (message_id, channel) DO UPDATE
       SET delivered = message_counters.delivered + excluded.delivered,
           sent = message_counters.sent + excluded.sent, failed = message_counters.failed + excluded.failed
   ), failures AS (
     UPDATE message_failures f SET count = f.count - u.n
       FROM (SELECT message_id, unfailed, count(*) AS n FROM changed WHERE unfailed IS NOT NULL GROUP BY 1, 2) u
      WHERE f.message_id = u.message_id AND f.channel = 'gateway' AND f.reason = u.unfailed
   )
   SELECT c.message_id::text, c.device_id::text
     FROM changed c
    WHERE c.message_id = ANY ((SELECT array_agg(DISTINCT message_id) FROM input WHERE callback)::bigint[])`;

/**
 * Receipts from devices: acks remove inbox entries and mark the ledger row delivered; events record
 * clicks and dismissals. Only ids sent to the reporting device count (message ids are sequential,
 * easy to guess): an ack's ids in its connection's window (`sent`), its inbox, or acknowledged before;
 * an event's with a `sent`/`delivered` ledger row, or known so to the connection or Redis. Any other id
 * is ignored (`herald_gateway_receipts_ignored_total`). Acks are batched (a broadcast brings thousands per second per node) into one
 * Redis script call per page of devices and one SQL statement per flush. Counting happens only for rows that changed state,
 * so a repeated ack or event (redelivery, a second node) is never counted twice. The same rows, when
 * their message asked for a JPush `callback`, are queued as callback events (one more statement, only
 * then).
 */
@Injectable()
export class ReceiptWriter {
  private readonly logger = new Logger('gateway-receipts');
  private readonly inbox: InboxStore;
  private acks: PendingAck[] = [];
  private ackTimer: NodeJS.Timeout | undefined;
  private flushing: Promise<void> = Promise.resolve();
  private nextFlush = deferred();
  private ledgerRunning = 0;
  private ledgerQueue: { job: LedgerJob; attempt: number }[] = [];
  private readonly ledgerPending = new Set<Promise<void>>();
  private seen = new Set<string>();
  private heartbeats = new Map<string, number>();
  private seenTimer: NodeJS.Timeout | undefined;
  private lost: { messageId: string; deviceId: string }[] = [];
  private lostTimer: NodeJS.Timeout | undefined;

  constructor(
    @InjectDataSource() private readonly db: DataSource,
    @Inject(REDIS) redis: Redis,
    @Inject(HERALD_CONFIG) config: HeraldConfig,
  ) {
    this.inbox = new InboxStore(redis, config.redis.queuePrefix);
  }

  /**
   * Resolves once this ack's batch is written (never rejects: failures are logged). `sent`: the ids
   * of `ids` that the device's connection had in flight (this node sent them to it), which count even
   * when the inbox no longer holds them (pushed out as `inbox_full`, or expired, while in flight).
   */
  ack(device: ReceiptDevice, ids: readonly string[], sent: readonly string[] = []): Promise<void> {
    this.acks.push({ device, ids, sent });
    const written = this.nextFlush;
    if (this.acks.length >= FLUSH_AT) this.flushAcks();
    else this.ackTimer ??= setTimeout(() => this.flushAcks(), FLUSH_MS);
    return written.promise;
  }

  /** Resolves when everything queued so far is written. */
  async flush(): Promise<void> {
    this.flushAcks();
    this.flushLost();
    await this.flushing;
    while (this.ledgerPending.size > 0) await Promise.all([...this.ledgerPending]);
    await this.flushSeen();
  }

  private flushAcks(): void {
    clearTimeout(this.ackTimer);
    this.ackTimer = undefined;
    const batch = this.acks;
    if (batch.length === 0) return;
    this.acks = [];
    const done = this.nextFlush;
    this.nextFlush = deferred();
    this.flushing = this.flushing
      .then(() => this.writeAcks(batch))
      .catch((err: unknown) => this.logger.error({ err, acks: batch.length }, 'ack write failed'))
      .finally(() => done.resolve());
  }

  /**
   * Redis first (the caller refills the window after it): it answers which ids were the device's, and
   * only those go to the ledger, whose write runs beside later batches.
   */
  private async writeAcks(batch: PendingAck[]): Promise<void> {
    const now = Date.now();
    // One script call per page of devices.
    const replies = await this.inbox.ackMany(
      batch.map(({ device, ids, sent }) => ({ rid: device.rid, ids, sent })),
      now,
    );
    const rows = new Map<string, [string, string, string]>();
    let failed: Error | undefined;
    let ignored = 0;
    batch.forEach(({ device, ids, sent }, i) => {
      const reply = replies[i];
      // Redis did not answer for this device: what its connection had in flight still counts (the
      // rest stays in the inbox, is sent again and acked again).
      if (reply instanceof Error) failed ??= reply;
      else ignored += ids.length - reply.length;
      for (const id of reply instanceof Error ? sent : reply) {
        if (LEDGER_ID.test(id)) rows.set(`${id}:${device.deviceId}`, [id, device.deviceId, device.appId]);
      }
    });
    if (ignored > 0) ignoredAcks.inc(ignored);
    if (rows.size > 0) {
      const delivered = [...rows.values()];
      this.startLedger({
        what: 'delivered',
        rows: delivered.length,
        write: () => this.writeDelivered(delivered, now),
      });
    }
    if (failed) throw failed;
  }

  /**
   * At most {@link LEDGER_CONCURRENCY} ledger statements at once (acks and lost entries alike), so a
   * burst cannot take the whole pool. Every statement counts only the rows it changes, so running it
   * again after a failure is safe.
   */
  private startLedger(job: LedgerJob, attempt = 1): void {
    if (this.ledgerRunning >= LEDGER_CONCURRENCY) {
      this.ledgerQueue.push({ job, attempt });
      return;
    }
    this.ledgerRunning++;
    const { what, rows } = job;
    const done = job
      .write()
      .catch(async (err: unknown) => {
        if (attempt < LEDGER_ATTEMPTS) {
          this.logger.warn({ err, what, rows, attempt }, 'ledger write failed: retrying');
          await new Promise((r) => setTimeout(r, 200 * attempt));
          this.ledgerQueue.unshift({ job, attempt: attempt + 1 });
        } else {
          this.logger.error({ err, what, rows }, 'ledger write failed: giving up');
        }
      })
      .finally(() => {
        this.ledgerRunning--;
        this.ledgerPending.delete(done);
        const next = this.ledgerQueue.shift();
        if (next) this.startLedger(next.job, next.attempt);
      });
    this.ledgerPending.add(done);
  }

  private async writeDelivered(rows: [string, string, string][], now: number): Promise<void> {
    const changed = await preparedQuery<{ message_id: string; device_id: string }>(
      this.db,
      'gateway_delivered',
      DELIVERED_SQL,
      [rows.map((r) => r[0]), rows.map((r) => r[1]), rows.map((r) => r[2]), new Date(now)],
    );
    await this.queueCallbacks(
      'delivered',
      changed.map((r) => ({ messageId: r.message_id, deviceId: r.device_id })),
      new Date(now),
    );
  }

  /**
   * After the ledger statement committed: a failure here must not rerun it (it would change nothing
   * and queue nothing), so the enqueue, idempotent per (message, device, event), is retried alone.
   */
  private async queueCallbacks(
    event: CallbackEvent,
    rows: { messageId: string; deviceId: string }[],
    at: Date,
  ): Promise<void> {
    for (let attempt = 1; rows.length > 0; attempt++) {
      try {
        await enqueueCallbackEvents(this.db, event, rows, at);
        return;
      } catch (err) {
        if (attempt >= LEDGER_ATTEMPTS) {
          this.logger.error({ err, event, rows: rows.length }, 'callback events lost: enqueue failed');
          return;
        }
        await new Promise((r) => setTimeout(r, 200 * attempt));
      }
    }
  }

  /**
   * `opened` → clicked_at and `clicked`, `dismissed` → dismissed_at and `dismissed`, each once. A
   * click implies delivery: a row not yet delivered is delivered and counted delivered too.
   *
   * Counted only for a message that reached this device: its ledger row is `sent` or `delivered`
   * (the usual case: the ack's batch landed before the user tapped), or else — the event overtook the
   * ack's ledger write, or even the worker's `sent` row, or the entry was dropped while in flight —
   * the connection had it in flight (`sent`) or Redis has it in the device's inbox or acknowledged set.
   * Redis is asked only then, so the usual event costs no Redis round trip. Any other id (never sent
   * to this device) is ignored. A row counted failed (dropped while in flight) moves back to sent, as
   * in {@link DELIVERED_SQL}.
   */
  async event(device: ReceiptDevice, id: string, ev: 'opened' | 'dismissed', sent = false): Promise<void> {
    if (!LEDGER_ID.test(id)) return;
    // An ack of this id may be on its way (acks are batched; the node no longer counts it in flight):
    // its Redis part, which remembers the id as acknowledged, lands first. No wait when none is pending.
    if (!sent) await (this.acks.length > 0 ? this.nextFlush.promise : this.flushing);
    const column = ev === 'opened' ? 'clicked_at' : 'dismissed_at';
    const counter = ev === 'opened' ? 'clicked' : 'dismissed';
    const at = new Date();
    type Row = { state: string; unfailed: string | null; undelivered: boolean; fresh: boolean };
    const lock = (tx: { query: DataSource['query'] }) =>
      tx.query<Row[]>(
        `SELECT state, CASE WHEN ${COUNTED_FAILED} THEN reason END AS unfailed,
                delivered_at IS NULL AS undelivered, ${column} IS NULL AS fresh
           FROM deliveries WHERE message_id = $1 AND device_id = $2 FOR UPDATE`,
        [id, device.deviceId],
      );
    const changed = await this.db.transaction(async (tx) => {
      const [message] = await tx.query<{ callback: boolean }[]>(
        `SELECT request ? 'callback' AS callback FROM messages WHERE id = $1 AND app_id = $2`,
        [id, device.appId],
      );
      if (!message) return undefined;
      // Lock the row: a concurrent ack (or a second event) waits for this transaction and sees what
      // it did, so the delivery is counted by exactly one of them.
      let [row] = await lock(tx);
      if (!row || (row.state !== 'sent' && row.state !== 'delivered')) {
        if (!sent && !(await this.inbox.holds(device.rid, id))) {
          ignoredEvents.inc();
          return undefined;
        }
        if (!row) {
          // The placeholder never shows: it is delivered below, in this transaction.
          await tx.query(
            `INSERT INTO deliveries (message_id, device_id, app_id, channel, state)
             VALUES ($1, $2, $3, 'gateway', 'pending') ON CONFLICT (message_id, device_id) DO NOTHING`,
            [id, device.deviceId, device.appId],
          );
          [row] = await lock(tx);
        }
      }
      if (!row.fresh) return undefined;
      const moved = row.state !== 'delivered';
      const unfailed = moved ? row.unfailed : null;
      await tx.query(
        `UPDATE deliveries SET ${column} = $3, state = 'delivered', delivered_at = COALESCE(delivered_at, $3),
                reason = CASE WHEN $4 THEN $5 ELSE reason END,
                sent_at = CASE WHEN $5::text IS NOT NULL THEN COALESCE(sent_at, $3) ELSE sent_at END,
                updated_at = now()
          WHERE message_id = $1 AND device_id = $2`,
        [id, device.deviceId, at, moved, unfailed],
      );
      const back = unfailed === null ? 0 : 1;
      await tx.query(
        `INSERT INTO message_counters (message_id, channel, delivered, sent, failed, ${counter})
         VALUES ($1, 'gateway', $2, $3, -$3::bigint, 1)
         ON CONFLICT (message_id, channel) DO UPDATE
           SET delivered = message_counters.delivered + excluded.delivered,
               sent = message_counters.sent + excluded.sent, failed = message_counters.failed + excluded.failed,
               ${counter} = message_counters.${counter} + 1`,
        [id, row.undelivered ? 1 : 0, back],
      );
      if (unfailed !== null) {
        await tx.query(
          `UPDATE message_failures SET count = count - 1
            WHERE message_id = $1 AND channel = 'gateway' AND reason = $2`,
          [id, unfailed],
        );
      }
      return { newly_delivered: row.undelivered, callback: message.callback };
    });
    if (!changed?.callback) return;
    const rows = [{ messageId: id, deviceId: device.deviceId }];
    // A click or dismissal without an earlier ack delivered the message (and counted it): say so.
    if (changed.newly_delivered) await this.queueCallbacks('delivered', rows, at);
    await this.queueCallbacks(ev === 'opened' ? 'clicked' : 'dismissed', rows, at);
  }

  /**
   * Entries a node removed because their shared frame was gone: never delivered, so their ledger rows
   * leave `sent` for `failed` with reason `frame_lost` and the message's counts say so. Batched (a lost
   * broadcast frame is lost for every device that fetches it) through the ledger's statement queue.
   */
  frameLost(device: ReceiptDevice, ids: readonly string[]): void {
    for (const id of ids)
      if (LEDGER_ID.test(id)) this.lost.push({ messageId: id, deviceId: device.deviceId });
    this.lostTimer ??= setTimeout(() => this.flushLost(), FLUSH_MS);
  }

  private flushLost(): void {
    clearTimeout(this.lostTimer);
    this.lostTimer = undefined;
    if (this.lost.length === 0) return;
    const rows = this.lost.map((r) => ({ ...r, reason: 'frame_lost' as const }));
    this.lost = [];
    this.startLedger({ what: 'frame_lost', rows: rows.length, write: () => recordDropped(this.db, rows) });
  }

  /** `devices.last_seen_at` (the `last_online_time` fallback), written at most once a second per node. */
  touch(deviceId: string): void {
    this.seen.add(deviceId);
    this.seenTimer ??= setTimeout(() => void this.flushSeen(), 1_000);
  }

  private async flushSeen(): Promise<void> {
    clearTimeout(this.seenTimer);
    this.seenTimer = undefined;
    const ids = [...this.seen];
    const heartbeats = [...this.heartbeats];
    this.seen = new Set();
    this.heartbeats = new Map();
    if (ids.length > 0) {
      await this.db
        .query(`UPDATE devices SET last_seen_at = now() WHERE id = ANY($1::bigint[])`, [ids])
        .catch((err: unknown) => this.logger.error({ err }, 'last_seen_at write failed'));
    }
    if (heartbeats.length > 0) {
      await this.db
        .query(
          `UPDATE devices d SET stable_heartbeat = u.hb
             FROM unnest($1::bigint[], $2::int[]) AS u(id, hb)
            WHERE d.id = u.id AND d.stable_heartbeat IS DISTINCT FROM u.hb`,
          [heartbeats.map((h) => h[0]), heartbeats.map((h) => h[1])],
        )
        .catch((err: unknown) => this.logger.error({ err }, 'stable heartbeat write failed'));
    }
  }

  /**
   * Remembers the heartbeat that held on this device's network, proposed in its next `welcome`.
   * Batched with `last_seen_at`: thousands of connections opened together pass their first interval
   * together, and one statement per device would starve the pool.
   */
  stableHeartbeat(deviceId: string, hb: number): void {
    this.heartbeats.set(deviceId, hb);
    this.seenTimer ??= setTimeout(() => void this.flushSeen(), 1_000);
  }
}

interface PendingAck {
  device: ReceiptDevice;
  ids: readonly string[];
  sent: readonly string[];
}

function deferred(): { promise: Promise<void>; resolve: () => void } {
  let resolve!: () => void;
  const promise = new Promise<void>((r) => (resolve = r));
  return { promise, resolve };
}
