import type { SqlRunner } from '@herald/push';

export interface StateChange {
  deviceId: string;
  messageId: string;
  channel: 'apns' | 'fcm' | 'gateway';
  reason: string;
  providerTimestamp?: string;
  target: 'invalid' | 'quarantined';
}

export type ChangeAction = 'invalidated' | 'quarantined' | 'ignored' | 'unchanged';

export interface ChangeCount {
  channel: string;
  reason: string;
  action: ChangeAction;
  n: number;
}

/** Devices changed per statement: each statement is its own short transaction, so locks stay brief. */
export const STATE_CHUNK = 2_000;

/** Lower-case hex SHA-256 of the token: lets a tenant match the feedback against its own token list. */
export const tokenHashSql = (column: string): string => `encode(digest(${column}, 'sha256'), 'hex')`;

/**
 * Applies invalid/quarantine decisions for one app's devices, set-based, in chunks. Per device:
 * - `ignored` (recorded, nothing changed): the device's token was updated (re-registration, new token)
 *   after the provider's 410 timestamp or after the message began sending: the failure may concern a
 *   token the device no longer has, and a live installation must never be pruned. The job carries no
 *   token, so times decide; the message's start is the earliest moment the send could have used the
 *   old token, which errs on the side of keeping the device;
 * - `unchanged`: already in that state (or invalid, which a quarantine never weakens), or the token is
 *   gone: a job that runs twice changes and records nothing the second time;
 * - otherwise the status changes, with a feedback event, an audit entry and, for invalidations of an
 *   app with a webhook, a `token.invalidated` webhook queued — all in the statement that changes it.
 * Rows are locked in id order so concurrent jobs over overlapping devices cannot deadlock.
 */
export async function applyStateChanges(
  db: SqlRunner,
  appId: string,
  changes: readonly StateChange[],
): Promise<ChangeCount[]> {
  const out: ChangeCount[] = [];
  for (let i = 0; i < changes.length; i += STATE_CHUNK) {
    const chunk = changes.slice(i, i + STATE_CHUNK);
    const rows = (await db.query(
      `WITH input AS (
         SELECT * FROM unnest($2::bigint[], $3::bigint[], $4::text[], $5::text[], $6::timestamptz[], $7::text[])
           AS i(device_id, message_id, channel, reason, provider_ts, target)
       ), locked AS (
         SELECT d.id, d.registration_id, d.channel, d.token, d.status, d.token_updated_at
           FROM devices d
          WHERE d.app_id = $1 AND d.id IN (SELECT device_id FROM input)
          ORDER BY d.id
            FOR UPDATE
       ), judged AS (
         SELECT i.*, l.registration_id, l.token, l.status AS old_status,
                CASE
                  WHEN l.token IS NULL OR l.status = 'invalid' OR l.status = i.target THEN 'unchanged'
                  WHEN l.token_updated_at > i.provider_ts
                    OR l.token_updated_at > COALESCE(m.started_at, m.created_at) THEN 'ignored'
                  WHEN i.target = 'invalid' THEN 'invalidated'
                  ELSE 'quarantined'
                END AS action
           FROM input i
           JOIN locked l ON l.id = i.device_id AND l.channel = i.channel
           LEFT JOIN messages m ON m.id = i.message_id AND m.app_id = $1
       ), changed AS (
         UPDATE devices d
            SET status = j.target, status_reason = j.reason, status_changed_at = now(), updated_at = now()
           FROM judged j
          WHERE d.id = j.device_id AND j.action IN ('invalidated', 'quarantined')
         RETURNING d.id
       ), events AS (
         INSERT INTO feedback_events (app_id, device_id, registration_id, channel, token_hash, token_suffix,
                                      reason, action, provider_timestamp, message_id)
         SELECT $1, device_id, registration_id, channel, ${tokenHashSql('token')},
                right(token, 8), reason, action, provider_ts, message_id
           FROM judged WHERE action <> 'unchanged'
         RETURNING id, action
       ), audit AS (
         INSERT INTO audit_log (tenant_id, app_id, actor_type, actor_id, action, target_type, target_id, details)
         SELECT a.tenant_id, $1, 'system', 'feedback', 'device.' || j.action, 'device', j.registration_id,
                jsonb_build_object('reason', j.reason, 'channel', j.channel, 'from', j.old_status,
                                   'message_id', j.message_id::text, 'provider_timestamp', j.provider_ts)
           FROM judged j JOIN apps a ON a.id = $1
          WHERE j.action IN ('invalidated', 'quarantined')
       ), hooks AS (
         INSERT INTO webhook_events (app_id, event, feedback_event_id)
         SELECT $1, 'token.invalidated', e.id
           FROM events e JOIN apps a ON a.id = $1 AND a.webhook_url IS NOT NULL
          WHERE e.action = 'invalidated'
       )
       SELECT channel, reason, action, count(*)::int AS n FROM judged GROUP BY channel, reason, action`,
      [
        appId,
        chunk.map((c) => c.deviceId),
        chunk.map((c) => c.messageId),
        chunk.map((c) => c.channel),
        chunk.map((c) => c.reason),
        chunk.map((c) => c.providerTimestamp ?? null),
        chunk.map((c) => c.target),
      ],
    )) as ChangeCount[];
    out.push(...rows);
  }
  return out;
}
