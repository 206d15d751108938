/** Anything with `query` (a DataSource, an EntityManager, a pg client). */
export interface SqlRunner {
  query(sql: string, params?: unknown[]): Promise<unknown>;
}

export type CallbackEvent = 'sent' | 'delivered' | 'clicked' | 'dismissed';

/**
 * JPush's `callback.type` bits (1 delivered, 2 clicked, 8 sent) and Herald's 16 (dismissed); no `type`
 * means 3. The callbacks worker (`apps/worker/src/callbacks/callback-policy.ts`) applies the same mask;
 * filtering here too keeps a broadcast from writing a `sent` row per device nobody asked for.
 */
export const CALLBACK_TYPE_BIT: Record<CallbackEvent, number> = {
  delivered: 1,
  clicked: 2,
  sent: 8,
  dismissed: 16,
};

/**
 * The SQL of a message's `callback.type` mask, given the SQL of that jsonb value (`request #>
 * '{callback,type}'`): the number when it is a whole number in int range, else 3. For the statements
 * that queue events themselves (the ledger statement's `sent` events).
 */
export function callbackTypeMaskSql(type: string): string {
  return `(CASE WHEN jsonb_typeof(${type}) <> 'number' THEN 3
                  WHEN ${type}::numeric BETWEEN 0 AND 2147483647 AND mod(${type}::numeric, 1) = 0
                  THEN ${type}::numeric::bigint
                  ELSE 3 END)`;
}

/**
 * Queues callback events for ledger changes, keeping only messages that asked for a `callback`
 * (`messages.request ? 'callback'`); the join makes the call safe to issue for any change. Run it in the
 * transaction (or right after the statement) that changed the ledger, with exactly the rows that
 * changed, so an event is queued once. A duplicate (same message, device, event) is ignored, and so
 * is an event the message's `callback.type` does not ask for.
 */
export async function enqueueCallbackEvents(
  db: SqlRunner,
  event: CallbackEvent,
  rows: { messageId: string; deviceId: string }[],
  at: Date = new Date(),
): Promise<void> {
  if (rows.length === 0) return;
  await db.query(
    `INSERT INTO callback_events (app_id, message_id, device_id, registration_id, event, occurred_at)
     SELECT m.app_id, m.id, d.id, d.registration_id, $3, $4
       FROM unnest($1::bigint[], $2::bigint[]) AS i(message_id, device_id)
       JOIN messages m ON m.id = i.message_id AND m.request ? 'callback'
       JOIN devices d ON d.id = i.device_id AND d.app_id = m.app_id
       CROSS JOIN LATERAL (SELECT m.request #> '{callback,type}' AS t) c
      WHERE ${callbackTypeMaskSql('c.t')} & $5 <> 0
     ON CONFLICT (message_id, device_id, event) DO NOTHING`,
    [rows.map((r) => r.messageId), rows.map((r) => r.deviceId), event, at, CALLBACK_TYPE_BIT[event]],
  );
}
