import { Injectable } from '@nestjs/common';
import type { JobPayload } from '@herald/queue';
import type { JobHandler } from '../jobs/job-handler';
import { PushRuntime } from './push.runtime';

const BATCH = 1_000;

/**
 * Recall, after the API marked the message cancelled (which stops pending shards): waits until no
 * shard is still sending (a running shard notices the cancel at its next page), then walks the
 * message's gateway ledger rows still `sent` — in an inbox, not acknowledged — in device-id order,
 * removes each undelivered copy and queues a `recall` frame for devices that may have shown it.
 */
@Injectable()
export class RecallHandler implements JobHandler<'push.recall'> {
  readonly jobName = 'push.recall' as const;

  constructor(private readonly runtime: PushRuntime) {}

  async handle({ messageId }: JobPayload<'push.recall'>): Promise<{ removed: number; notified: number }> {
    const db = this.runtime.db;
    const [running] = await db.query<{ n: number }[]>(
      `SELECT count(*)::int AS n FROM message_shards WHERE message_id = $1 AND status = 'running'`,
      [messageId],
    );
    // Retried with backoff by the queue: the shard stops within a page.
    if (running.n > 0) throw new Error(`recall of ${messageId} waits for ${running.n} running shard(s)`);
    let after = '0';
    let removed = 0;
    let notified = 0;
    for (;;) {
      const rows = await db.query<{ id: string; rid: string }[]>(
        `SELECT d.device_id::text AS id, v.registration_id AS rid
           FROM deliveries d JOIN devices v ON v.id = d.device_id
          WHERE d.message_id = $1 AND d.channel = 'gateway' AND d.state = 'sent' AND d.device_id > $2
          ORDER BY d.device_id LIMIT ${BATCH}`,
        [messageId, after],
      );
      if (rows.length === 0) break;
      after = rows[rows.length - 1].id;
      const statuses = await this.runtime.gateway.recall(
        messageId,
        rows.map((r) => r.rid),
      );
      const gone = rows.filter((_, i) => statuses[i] === 'removed').map((r) => r.id);
      removed += gone.length;
      notified += statuses.filter((s) => s === 'had').length;
      if (gone.length > 0) {
        await db.query(
          `UPDATE deliveries SET state = 'recalled', reason = 'recalled', updated_at = now()
            WHERE message_id = $1 AND device_id = ANY($2::bigint[]) AND state = 'sent'`,
          [messageId, gone],
        );
      }
    }
    return { removed, notified };
  }
}
