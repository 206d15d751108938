import type { DataSource } from 'typeorm';
import type { ApnsEnvironment, ApnsSendItem, DeliveryOutcome, ProviderClientPool } from '@herald/providers';
import { enqueueCallbackEvents, PushComposer, type AppCredentials, type PushSpec } from '@herald/push';
import type { FeedbackItem } from './feedback-rules';

const other = (env: ApnsEnvironment): ApnsEnvironment => (env === 'production' ? 'sandbox' : 'production');

/** Apple's reasons that are about the token itself, should one come back `permanent` rather than `invalid_token`. */
const TOKEN_REASONS = new Set([
  'BadDeviceToken',
  'DeviceTokenNotForTopic',
  'Unregistered',
  'MissingDeviceToken',
]);

/** The other environment refused the token itself: the only answer that quarantines the device. */
function refusesToken(o: DeliveryOutcome): boolean {
  return o.kind === 'invalid_token' || (o.kind === 'permanent' && TOKEN_REASONS.has(o.reason));
}

interface Candidate {
  device_id: string;
  message_id: string;
  token: string | null;
  language: string | null;
  badge: number;
  status: string;
  apns_environment: ApnsEnvironment | null;
  token_updated_at: Date | null;
  delivery_state: string | null;
  delivery_reason: string | null;
  request: PushSpec;
  message_status: string;
  sending_since: Date;
  time_to_live: number;
}

export interface RetryResult {
  /** Resent and accepted on the other environment: the device is kept, its environment corrected. */
  corrected: number;
  /** Already corrected by an earlier run of the same job: nothing to do. */
  done: number;
  /** Not resendable, or the token refused on the other environment too: the caller quarantines these. */
  quarantine: FeedbackItem[];
  /**
   * The other environment answered for now only (429, 5xx, timeout, reset): nothing is known about the
   * token. The caller leaves the device as it is and has the job run again (the ledger row is still
   * `invalid_token`, so the next run resends these, and only these).
   */
  deferred: { item: FeedbackItem; env: ApnsEnvironment; outcome: DeliveryOutcome }[];
  /**
   * The other environment refused the resend for a reason that is not the token (its credentials: 403
   * `InvalidProviderToken`, a key that will not sign; or the message): the device is left as it is,
   * the refusal logged, and nothing retried (it would be refused again).
   */
  unresolved: { item: FeedbackItem; env: ApnsEnvironment; outcome: DeliveryOutcome }[];
}

/**
 * APNs `BadDeviceToken` with credentials for both environments: one resend of the same message on
 * the other environment. If Apple accepts it the device was registered with the wrong environment:
 * its `apns_environment` is corrected and the delivery counted as sent instead of failed, exactly once
 * (the ledger row moves out of `invalid_token` in the transaction that moves the counts, so a second
 * run finds it `sent` and neither resends nor counts again). Only the token refused there too
 * (`invalid_token`) quarantines the device: a transient answer (429, 5xx, timeout) is deferred to a
 * run of the job again, and a refusal of the other environment's credentials or of the message leaves
 * the device alone.
 */
export class EnvironmentRetry {
  constructor(
    private readonly db: DataSource,
    private readonly pool: ProviderClientPool,
  ) {}

  async run(appId: string, credentials: AppCredentials, items: FeedbackItem[]): Promise<RetryResult> {
    const result: RetryResult = { corrected: 0, done: 0, quarantine: [], deferred: [], unresolved: [] };
    if (items.length === 0) return result;
    const rows = await this.db.query<Candidate[]>(
      `SELECT d.id::text AS device_id, i.message_id::text AS message_id, d.token, d.language, d.badge,
              d.status, d.apns_environment, d.token_updated_at, dl.state AS delivery_state,
              dl.reason AS delivery_reason, m.request, m.status AS message_status,
              COALESCE(m.started_at, m.created_at) AS sending_since, m.time_to_live
         FROM unnest($2::bigint[], $3::bigint[]) AS i(device_id, message_id)
         JOIN devices d ON d.id = i.device_id AND d.app_id = $1 AND d.channel = 'apns'
         JOIN messages m ON m.id = i.message_id AND m.app_id = $1
         LEFT JOIN deliveries dl ON dl.message_id = i.message_id AND dl.device_id = i.device_id`,
      [appId, items.map((i) => i.deviceId), items.map((i) => i.messageId)],
    );
    const byDevice = new Map(rows.map((r) => [r.device_id, r]));
    const now = Date.now();
    // Per message, then per target environment: one composer per message, one send per client.
    const sends = new Map<string, { env: ApnsEnvironment; item: FeedbackItem; row: Candidate }[]>();
    for (const item of items) {
      const row = byDevice.get(item.deviceId);
      if (!row) continue; // deleted since, or not an APNs device of this app: nothing to change
      if (row.delivery_state === 'sent' || row.delivery_state === 'delivered') {
        result.done += 1;
        continue;
      }
      const used = item.apnsEnvironment ?? row.apns_environment ?? 'production';
      const expired =
        row.time_to_live === 0 || new Date(row.sending_since).getTime() + row.time_to_live * 1000 <= now;
      const resendable =
        row.token !== null &&
        row.status === 'active' &&
        row.delivery_state === 'invalid_token' &&
        row.delivery_reason === item.reason &&
        row.message_status !== 'cancelled' &&
        !expired &&
        // A token updated since the send is the race the state writer records as ignored.
        (row.token_updated_at === null || row.token_updated_at <= row.sending_since) &&
        credentials.apns[other(used)] !== undefined;
      if (!resendable) {
        result.quarantine.push(item);
        continue;
      }
      const list = sends.get(row.message_id) ?? [];
      list.push({ env: other(used), item, row });
      sends.set(row.message_id, list);
    }

    const accepted: { item: FeedbackItem; env: ApnsEnvironment; providerMessageId: string | null }[] = [];
    for (const [messageId, list] of sends) {
      const composer = new PushComposer(
        list[0].row.request,
        messageId,
        new Date(list[0].row.sending_since).getTime(),
      );
      for (const env of ['production', 'sandbox'] as const) {
        const stored = credentials.apns[env]!;
        const batch: { item: FeedbackItem; send: ApnsSendItem }[] = [];
        for (const s of list.filter((x) => x.env === env)) {
          const composed = composer.apns(s.row, stored.bundleId);
          if (!composed?.ok) result.quarantine.push(s.item);
          else batch.push({ item: s.item, send: { token: s.row.token!, request: composed.value.request } });
        }
        if (batch.length === 0) continue;
        const client = this.pool.apnsClient(stored.credentials, env, stored.fingerprint);
        const outcomes = await client.send(batch.map((b) => b.send));
        outcomes.forEach((o, k) => {
          const item = batch[k].item;
          if (o.kind === 'sent') accepted.push({ item, env, providerMessageId: o.providerMessageId ?? null });
          else if (o.kind === 'retryable' || o.kind === 'rate_limited')
            result.deferred.push({ item, env, outcome: o });
          else if (refusesToken(o)) result.quarantine.push(item);
          else result.unresolved.push({ item, env, outcome: o });
        });
      }
    }
    if (accepted.length > 0) result.corrected = await this.record(appId, accepted);
    return result;
  }

  /** The ledger row, the counters and failure reasons, the device's environment and callbacks: one transaction. */
  private async record(
    appId: string,
    accepted: { item: FeedbackItem; env: ApnsEnvironment; providerMessageId: string | null }[],
  ): Promise<number> {
    return this.db.transaction(async (tx) => {
      const changed = await tx.query<{ message_id: string; device_id: string }[]>(
        `WITH input AS (
           SELECT * FROM unnest($2::bigint[], $3::bigint[], $4::text[], $5::text[], $6::text[])
             AS i(device_id, message_id, reason, env, provider_message_id)
         ), changed AS (
           UPDATE deliveries dl
              SET state = 'sent', reason = NULL, provider_status = 200, provider_message_id = i.provider_message_id,
                  sent_at = COALESCE(dl.sent_at, now()), updated_at = now()
             FROM input i
            WHERE dl.message_id = i.message_id AND dl.device_id = i.device_id AND dl.app_id = $1
              AND dl.state = 'invalid_token' AND dl.reason = i.reason
           RETURNING dl.message_id, dl.device_id, i.reason, i.env
         ), counters AS (
           UPDATE message_counters mc SET sent = mc.sent + c.n, failed = mc.failed - c.n
             FROM (SELECT message_id, count(*) AS n FROM changed GROUP BY message_id) c
            WHERE mc.message_id = c.message_id AND mc.channel = 'apns'
         ), failures AS (
           UPDATE message_failures mf SET count = mf.count - c.n
             FROM (SELECT message_id, reason, count(*) AS n FROM changed GROUP BY message_id, reason) c
            WHERE mf.message_id = c.message_id AND mf.channel = 'apns' AND mf.reason = c.reason
         ), corrected AS (
           UPDATE devices d SET apns_environment = c.env, updated_at = now()
             FROM (SELECT DISTINCT device_id, env FROM changed) c
            WHERE d.id = c.device_id AND d.app_id = $1 AND d.apns_environment IS DISTINCT FROM c.env
           RETURNING d.registration_id, c.env
         ), audit AS (
           INSERT INTO audit_log (tenant_id, app_id, actor_type, actor_id, action, target_type, target_id, details)
           SELECT a.tenant_id, $1, 'system', 'feedback', 'device.apns_environment_corrected', 'device',
                  c.registration_id, jsonb_build_object('reason', 'BadDeviceToken', 'apns_environment', c.env)
             FROM corrected c JOIN apps a ON a.id = $1
         )
         SELECT message_id::text, device_id::text FROM changed`,
        [
          appId,
          accepted.map((a) => a.item.deviceId),
          accepted.map((a) => a.item.messageId),
          accepted.map((a) => a.item.reason),
          accepted.map((a) => a.env),
          accepted.map((a) => a.providerMessageId),
        ],
      );
      await enqueueCallbackEvents(
        tx,
        'sent',
        changed.map((c) => ({ messageId: c.message_id, deviceId: c.device_id })),
      );
      return changed.length;
    });
  }
}
