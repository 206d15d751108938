import type { SqlRunner } from './callback-events';

/** Why a gateway inbox entry left without reaching its device. */
export type DroppedReason = 'inbox_full' | 'expired' | 'frame_lost';

/**
 * Gateway inbox entries that left without reaching their device: pushed out by a newer entry
 * (`inbox_full`) or expired unread (both recorded by the worker as state `expired`), or dropped by a
 * node because their shared frame was gone from Redis (`frame_lost`, state `failed`). Their ledger
 * rows move from `sent` once, and their count from sent to failed with that reason (so targets = sent
 * + failed holds at every moment). A row that is not `sent` (already delivered, say) is left alone.
 * An entry dropped while the device had it in flight may still be acked: the gateway's receipt
 * writer then moves it back, from failed to sent (and out of its reason's count).
 */
export async function recordDropped(
  db: SqlRunner,
  rows: { messageId: string; deviceId: string; reason: DroppedReason }[],
): Promise<void> {
  if (rows.length === 0) return;
  await db.query(
    `WITH input AS (
       SELECT * FROM unnest($1::bigint[], $2::bigint[], $3::text[]) AS i(message_id, device_id, reason)
     ), changed AS (
       UPDATE deliveries d
          SET state = CASE WHEN i.reason = 'frame_lost' THEN 'failed' ELSE 'expired' END,
              reason = i.reason, updated_at = now()
         FROM input i
        WHERE d.message_id = i.message_id AND d.device_id = i.device_id AND d.state = 'sent'
       RETURNING d.message_id, d.channel, i.reason
     ), counters AS (
       UPDATE message_counters mc SET sent = mc.sent - c.n, failed = mc.failed + c.n
         FROM (SELECT message_id, channel, count(*) AS n FROM changed GROUP BY 1, 2) c
        WHERE mc.message_id = c.message_id AND mc.channel = c.channel
     )
     INSERT INTO message_failures AS mf (message_id, channel, reason, count)
     SELECT message_id, channel, reason, count(*) FROM changed GROUP BY 1, 2, 3
     ON CONFLICT (message_id, channel, reason) DO UPDATE SET count = mf.count + excluded.count`,
    [rows.map((r) => r.messageId), rows.map((r) => r.deviceId), rows.map((r) => r.reason)],
  );
}
