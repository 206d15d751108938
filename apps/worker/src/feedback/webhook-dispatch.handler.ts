import { Injectable, Logger } from '@nestjs/common';
import type { JobPayload } from '@herald/queue';
import { MAX_CALLBACK_ATTEMPTS, parseCallbackUrl, retryDelayMs } from '../callbacks/callback-policy';
import { describeOutboundError } from '../callbacks/callback-policy';
import { SIGNATURE_HEADER, signCallbackBody } from '../callbacks/callback-signer';
import type { JobHandler } from '../jobs/job-handler';
import { PushRuntime } from '../push/push.runtime';
import { FeedbackMetrics } from './feedback.metrics';

/** The AAD of an app's webhook signing secret (written by the api's `WebhookSettingsService`). */
export const webhookSecretAad = (appId: string): string => `app_webhook:${appId}`;

/** A claimed event comes back after this long if its worker died before recording the answer. */
const LEASE_MS = 5 * 60_000;
const TIMEOUT_MS = 10_000;

interface Claimed {
  id: string;
  app_id: string;
  attempts: number;
  app_key: string;
  webhook_url: string | null;
  webhook_secret: string | null;
  registration_id: string;
  channel: string;
  token_hash: string | null;
  token_suffix: string | null;
  reason: string;
  action: string;
  provider_timestamp: Date | null;
  at: Date;
}

/**
 * POSTs `token.invalidated` webhooks from the `webhook_events` outbox: one POST per app per run with
 * every due event of that app, `{event, app_key, items: [...]}` (items shaped as `GET /v3/feedback`
 * lists them), signed like message callbacks (`X-Herald-Signature: sha256=<hex HMAC-SHA256 of the
 * body>`, keyed with the app's webhook secret). A 2xx deletes the events; anything else retries them
 * with the callbacks' back-off, up to the callbacks' attempt limit, then marks them failed.
 */
@Injectable()
export class WebhookDispatchHandler implements JobHandler<'feedback.webhooks'> {
  readonly jobName = 'feedback.webhooks' as const;
  private readonly logger = new Logger('feedback-webhooks');

  constructor(
    private readonly runtime: PushRuntime,
    private readonly metrics: FeedbackMetrics,
  ) {}

  async handle(payload: JobPayload<'feedback.webhooks'>): Promise<{ sent: number; failed: number }> {
    const db = this.runtime.db;
    const claimed = await db.query<Claimed[]>(
      `WITH due AS (
         SELECT id FROM webhook_events
          WHERE failed_at IS NULL AND next_attempt_at <= now()
          ORDER BY next_attempt_at, id
          LIMIT $1
            FOR UPDATE SKIP LOCKED
       ), claimed AS (
         UPDATE webhook_events w
            SET attempts = w.attempts + 1, next_attempt_at = now() + make_interval(secs => $2::double precision / 1000)
           FROM due WHERE w.id = due.id
         RETURNING w.id, w.app_id, w.attempts, w.feedback_event_id
       )
       SELECT c.id::text, c.app_id, c.attempts, a.app_key, a.webhook_url, a.webhook_secret,
              f.registration_id, f.channel, f.token_hash, f.token_suffix, f.reason, f.action,
              f.provider_timestamp, f.created_at AS at
         FROM claimed c
         JOIN apps a ON a.id = c.app_id
         JOIN feedback_events f ON f.id = c.feedback_event_id
        ORDER BY c.id`,
      [payload.batchSize, LEASE_MS],
    );
    const byApp = new Map<string, Claimed[]>();
    for (const row of claimed) byApp.set(row.app_id, [...(byApp.get(row.app_id) ?? []), row]);
    let sent = 0;
    let failed = 0;
    for (const [appId, rows] of byApp) {
      const ids = rows.map((r) => r.id);
      const url = parseCallbackUrl(rows[0].webhook_url);
      if (!url || rows[0].webhook_secret === null) {
        // The app removed its webhook: nobody to tell any more.
        await db.query(`DELETE FROM webhook_events WHERE id = ANY($1::bigint[])`, [ids]);
        continue;
      }
      const error = await this.post(appId, url, rows[0].webhook_secret, rows);
      if (error === undefined) {
        await db.query(`DELETE FROM webhook_events WHERE id = ANY($1::bigint[])`, [ids]);
        sent += rows.length;
        this.metrics.add('webhook', 'token.invalidated', 'webhook_sent', rows.length);
        continue;
      }
      failed += rows.length;
      this.metrics.add('webhook', 'token.invalidated', 'webhook_failed', rows.length);
      this.logger.warn({ appId, events: rows.length, err: error }, 'token.invalidated webhook failed');
      await db.query(
        `UPDATE webhook_events w
            SET last_error = $2,
                failed_at = CASE WHEN w.attempts >= $3 THEN now() END,
                next_attempt_at = now() + make_interval(secs => u.delay_ms / 1000)
           FROM unnest($1::bigint[], $4::double precision[]) AS u(id, delay_ms)
          WHERE w.id = u.id`,
        [ids, error.slice(0, 500), MAX_CALLBACK_ATTEMPTS, rows.map((r) => retryDelayMs(r.attempts))],
      );
    }
    return { sent, failed };
  }

  /** `undefined` when the tenant's server accepted the POST, else why not. */
  private async post(
    appId: string,
    url: URL,
    sealedSecret: string,
    rows: Claimed[],
  ): Promise<string | undefined> {
    let secret: string;
    try {
      secret = this.runtime.cipher.decrypt(sealedSecret, webhookSecretAad(appId)).toString('utf8');
    } catch (err) {
      return `secret: ${err instanceof Error ? err.message : String(err)}`;
    }
    const body = JSON.stringify({
      event: 'token.invalidated',
      app_key: rows[0].app_key,
      items: rows.map((r) => ({
        registration_id: r.registration_id,
        channel: r.channel,
        token_hash: r.token_hash,
        token_suffix: r.token_suffix,
        reason: r.reason,
        action: r.action,
        provider_timestamp: r.provider_timestamp ? new Date(r.provider_timestamp).toISOString() : null,
        at: new Date(r.at).toISOString(),
      })),
    });
    try {
      // Public addresses only (HERALD_OUTBOUND_ALLOW names private ones that may be reached); no redirects.
      const res = await this.runtime.outbound.fetch(url, {
        method: 'POST',
        headers: {
          'Content-Type': 'application/json',
          'User-Agent': 'Herald-Webhooks/1',
          'X-Herald-Event': 'token.invalidated',
          [SIGNATURE_HEADER]: signCallbackBody(secret, body),
        },
        body,
        signal: AbortSignal.timeout(TIMEOUT_MS),
      });
      // The answer's body is of no interest (and could be endless): cancelling it frees the connection.
      await res.body?.cancel().catch(() => undefined);
      return res.ok ? undefined : `http ${res.status}`;
    } catch (err) {
      return `transport: ${describeOutboundError(err)}`;
    }
  }
}
