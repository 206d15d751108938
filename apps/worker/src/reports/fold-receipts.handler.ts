import { Injectable, Logger } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import type { DataSource, EntityManager } from 'typeorm';
import { enqueueCallbackEvents } from '@herald/push';
import type { JobPayload } from '@herald/queue';
import type { JobHandler } from '../jobs/job-handler';

/** A run drains at most this many batches, so other maintenance jobs get their turn. */
const MAX_BATCHES = 20;
/** How long a receipt may wait for its ledger row while the message is still being fanned out. */
const LEDGER_GRACE = '1 hour';
const DEADLOCK = '40P01';
const DEADLOCK_ATTEMPTS = 3;

export interface FoldResult {
  /** Receipts taken off the table (folded, or dropped without effect). */
  processed: number;
  delivered: number;
  clicked: number;
  dismissed: number;
}

interface Claimed {
  message_id: string;
  device_id: string;
  app_id: string;
  event: 'delivered' | 'opened' | 'dismissed';
  occurred_at: Date;
}

interface Changed {
  message_id: string;
  device_id: string;
  channel: string;
}

/**
 * Folds SDK receipts (APNs/FCM devices report delivered / opened / dismissed over the SDK API) into
 * the ledger and the counters, exactly once. Several workers run it: each claims a batch with
 * `FOR UPDATE SKIP LOCKED`, and in the same transaction updates the ledger rows, counts only the rows
 * whose column it changed (each UPDATE re-checks `… IS NULL` on the latest row version, so a race with
 * another worker or the gateway counts once), queues callback events and deletes the batch: the ledger
 * holds what a receipt said, nothing reads a folded receipt again, and the table stays as small as the
 * backlog. A device repeating a folded receipt stores it anew, and folding it again changes nothing
 * (every column it could set is already set).
 *
 * Receipts only ever update a ledger row the fan-out wrote, so a device cannot inflate the figures of
 * a message that never targeted it, and the fan-out never finds a row it did not expect. A receipt
 * that beats its ledger row (the provider delivered before the shard recorded the send) is left for
 * a later run while the message is still being sent, for at most {@link LEDGER_GRACE}; after that, and
 * for unknown messages or another app's, the receipt is deleted without effect.
 *
 * Earlier versions kept folded receipts, marked `processed_at`; each process deletes those in batches
 * until none are left ({@link purgeMarked}).
 */
@Injectable()
export class FoldReceiptsHandler implements JobHandler<'reports.fold-receipts'> {
  readonly jobName = 'reports.fold-receipts' as const;
  private readonly logger = new Logger('fold-receipts');

  /** Set once a run found no receipt an earlier version marked processed and kept. */
  private markedPurged = false;

  constructor(@InjectDataSource() private readonly db: DataSource) {}

  async handle(payload: JobPayload<'reports.fold-receipts'>): Promise<FoldResult> {
    if (!this.markedPurged) await this.purgeMarked(payload.batchSize);
    const total: FoldResult = { processed: 0, delivered: 0, clicked: 0, dismissed: 0 };
    for (let i = 0; i < MAX_BATCHES; i++) {
      const r = await this.foldBatchWithRetry(payload.batchSize);
      total.processed += r.processed;
      total.delivered += r.delivered;
      total.clicked += r.clicked;
      total.dismissed += r.dismissed;
      if (r.processed < payload.batchSize) break;
    }
    return total;
  }

  /**
   * One batch of the receipts earlier versions marked processed and never deleted. Nothing indexes
   * them, but while they are most of the table a scan soon finds a batch; once a run finds fewer than a
   * batch, the table holds only the backlog and this process stops looking.
   */
  private async purgeMarked(batchSize: number): Promise<void> {
    const [, deleted]: [unknown, number] = await this.db.query(
      `DELETE FROM device_receipts WHERE ctid IN (
         SELECT ctid FROM device_receipts WHERE processed_at IS NOT NULL LIMIT $1 FOR UPDATE SKIP LOCKED)`,
      [batchSize],
    );
    if (deleted < batchSize) this.markedPurged = true;
  }

  /** Lock order against the gateway's writer is not guaranteed; a deadlock victim simply runs again. */
  private async foldBatchWithRetry(batchSize: number): Promise<FoldResult> {
    for (let attempt = 1; ; attempt++) {
      try {
        return await this.db.transaction((m) => this.foldBatch(m, batchSize));
      } catch (err) {
        const code = (err as { driverError?: { code?: string }; code?: string }).driverError?.code;
        if (code !== DEADLOCK || attempt >= DEADLOCK_ATTEMPTS) throw err;
        this.logger.warn({ attempt }, 'deadlock folding receipts: retrying');
      }
    }
  }

  private async foldBatch(m: EntityManager, batchSize: number): Promise<FoldResult> {
    const claimed: Claimed[] = await m.query(
      `SELECT r.message_id, r.device_id, r.app_id, r.event, LEAST(r.occurred_at, now()) AS occurred_at
         FROM device_receipts r
        WHERE r.processed_at IS NULL
          AND NOT (
            r.created_at > now() - interval '${LEDGER_GRACE}'
            AND EXISTS (SELECT 1 FROM messages msg
                         WHERE msg.id = r.message_id AND msg.app_id = r.app_id
                           AND msg.status IN ('accepted', 'planning', 'sending'))
            AND NOT EXISTS (SELECT 1 FROM deliveries dl
                             WHERE dl.message_id = r.message_id AND dl.device_id = r.device_id))
        ORDER BY r.created_at
        LIMIT $1
        FOR UPDATE OF r SKIP LOCKED`,
      [batchSize],
    );
    const result: FoldResult = { processed: claimed.length, delivered: 0, clicked: 0, dismissed: 0 };
    if (claimed.length === 0) return result;

    // Lock the ledger rows in key order first: the updates below then take no new row locks.
    const keys = uniquePairs(claimed);
    await m.query(
      `SELECT 1 FROM deliveries dl
         JOIN unnest($1::bigint[], $2::bigint[], $3::uuid[]) AS i(message_id, device_id, app_id)
           ON dl.message_id = i.message_id AND dl.device_id = i.device_id AND dl.app_id = i.app_id
        ORDER BY dl.message_id, dl.device_id
          FOR UPDATE OF dl`,
      [keys.map((k) => k.message_id), keys.map((k) => k.device_id), keys.map((k) => k.app_id)],
    );

    // An opened or dismissed notification was delivered, even if its delivered receipt never came
    // (the gateway's writer reads its events the same way).
    const delivered = await this.stamp(m, 'delivered_at', claimed);
    const clicked = await this.stamp(
      m,
      'clicked_at',
      claimed.filter((c) => c.event === 'opened'),
    );
    const dismissed = await this.stamp(
      m,
      'dismissed_at',
      claimed.filter((c) => c.event === 'dismissed'),
    );

    const counts = new Map<
      string,
      { message_id: string; channel: string; d: number; c: number; x: number }
    >();
    const bump = (rows: Changed[], k: 'd' | 'c' | 'x') => {
      for (const r of rows) {
        const key = `${r.message_id}:${r.channel}`;
        const e = counts.get(key) ?? { message_id: r.message_id, channel: r.channel, d: 0, c: 0, x: 0 };
        e[k]++;
        counts.set(key, e);
      }
    };
    bump(delivered, 'd');
    bump(clicked, 'c');
    bump(dismissed, 'x');
    if (counts.size > 0) {
      const list = [...counts.values()];
      await m.query(
        `INSERT INTO message_counters (message_id, channel, delivered, clicked, dismissed)
         SELECT * FROM unnest($1::bigint[], $2::text[], $3::bigint[], $4::bigint[], $5::bigint[])
          ORDER BY 1, 2
         ON CONFLICT (message_id, channel) DO UPDATE
           SET delivered = message_counters.delivered + excluded.delivered,
               clicked = message_counters.clicked + excluded.clicked,
               dismissed = message_counters.dismissed + excluded.dismissed`,
        [
          list.map((e) => e.message_id),
          list.map((e) => e.channel),
          list.map((e) => e.d),
          list.map((e) => e.c),
          list.map((e) => e.x),
        ],
      );
    }

    const now = new Date();
    const ids = (rows: Changed[]) => rows.map((r) => ({ messageId: r.message_id, deviceId: r.device_id }));
    await enqueueCallbackEvents(m, 'delivered', ids(delivered), now);
    await enqueueCallbackEvents(m, 'clicked', ids(clicked), now);
    await enqueueCallbackEvents(m, 'dismissed', ids(dismissed), now);

    await m.query(
      `DELETE FROM device_receipts r
        USING unnest($1::bigint[], $2::bigint[], $3::text[]) AS i(message_id, device_id, event)
        WHERE r.message_id = i.message_id AND r.device_id = i.device_id AND r.event = i.event`,
      [claimed.map((c) => c.message_id), claimed.map((c) => c.device_id), claimed.map((c) => c.event)],
    );
    result.delivered = delivered.length;
    result.clicked = clicked.length;
    result.dismissed = dismissed.length;
    return result;
  }

  /**
   * Sets one time column on the ledger rows that do not have it yet (the earliest receipt's time for
   * a pair) and returns exactly those rows with their channel. `delivered_at` also moves the state.
   * The time is the device's word, so it is clamped to when it can have happened: not before the send
   * was recorded (`sent_at`, else the ledger row's creation) and not after now.
   */
  private async stamp(
    m: EntityManager,
    column: 'delivered_at' | 'clicked_at' | 'dismissed_at',
    receipts: Claimed[],
  ): Promise<Changed[]> {
    if (receipts.length === 0) return [];
    const state = column === 'delivered_at' ? `state = 'delivered',` : '';
    // TypeORM answers an UPDATE with [rows, affected count].
    const [rows]: [Changed[], number] = await m.query(
      `WITH input AS (
         SELECT message_id, device_id, app_id, min(at) AS at
           FROM unnest($1::bigint[], $2::bigint[], $3::uuid[], $4::timestamptz[]) AS i(message_id, device_id, app_id, at)
          GROUP BY 1, 2, 3
       )
       UPDATE deliveries dl
          SET ${state} ${column} = LEAST(GREATEST(i.at, COALESCE(dl.sent_at, dl.created_at)), now()),
              updated_at = now()
         FROM input i
        WHERE dl.message_id = i.message_id AND dl.device_id = i.device_id AND dl.app_id = i.app_id
          AND dl.${column} IS NULL
       RETURNING dl.message_id::text AS message_id, dl.device_id::text AS device_id, dl.channel`,
      [
        receipts.map((r) => r.message_id),
        receipts.map((r) => r.device_id),
        receipts.map((r) => r.app_id),
        receipts.map((r) => r.occurred_at),
      ],
    );
    return rows;
  }
}

function uniquePairs(rows: Claimed[]): Claimed[] {
  const seen = new Map<string, Claimed>();
  for (const r of rows) seen.set(`${r.message_id}:${r.device_id}`, r);
  return [...seen.values()];
}
