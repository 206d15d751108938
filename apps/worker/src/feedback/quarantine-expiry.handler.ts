import { Inject, Injectable } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import type { DataSource } from 'typeorm';
import { HERALD_CONFIG, type HeraldConfig } from '@herald/config';
import type { JobPayload } from '@herald/queue';
import type { JobHandler } from '../jobs/job-handler';
import { tokenHashSql } from './device-state.writer';
import { FeedbackMetrics } from './feedback.metrics';

/**
 * Quarantined devices that nobody re-registered within `HERALD_QUARANTINE_DAYS` become invalid, a
 * batch per statement (rows another transaction holds are skipped, not waited for), each with its
 * feedback event (reason `quarantine_expired`), audit entry and webhook.
 */
@Injectable()
export class QuarantineExpiryHandler implements JobHandler<'feedback.expire-quarantine'> {
  readonly jobName = 'feedback.expire-quarantine' as const;

  constructor(
    @InjectDataSource() private readonly db: DataSource,
    @Inject(HERALD_CONFIG) private readonly config: HeraldConfig,
    private readonly metrics: FeedbackMetrics,
  ) {}

  async handle(payload: JobPayload<'feedback.expire-quarantine'>): Promise<{ invalidated: number }> {
    let invalidated = 0;
    for (;;) {
      const rows = await this.db.query<{ channel: string; n: number }[]>(
        `WITH due AS (
           SELECT id FROM devices
            WHERE status = 'quarantined' AND status_changed_at < now() - make_interval(days => $1)
            ORDER BY status_changed_at, id
            LIMIT $2
              FOR UPDATE SKIP LOCKED
         ), changed AS (
           UPDATE devices d
              SET status = 'invalid', status_reason = 'quarantine_expired', status_changed_at = now(),
                  updated_at = now()
             FROM due WHERE d.id = due.id
           RETURNING d.id, d.app_id, d.registration_id, d.channel, d.token
         ), events AS (
           INSERT INTO feedback_events (app_id, device_id, registration_id, channel, token_hash, token_suffix,
                                        reason, action)
           SELECT app_id, id, registration_id, channel, ${tokenHashSql('token')}, right(token, 8),
                  'quarantine_expired', 'invalidated'
             FROM changed
           RETURNING id, app_id
         ), audit AS (
           INSERT INTO audit_log (tenant_id, app_id, actor_type, actor_id, action, target_type, target_id, details)
           SELECT a.tenant_id, c.app_id, 'system', 'feedback', 'device.invalidated', 'device', c.registration_id,
                  jsonb_build_object('reason', 'quarantine_expired', 'channel', c.channel, 'from', 'quarantined')
             FROM changed c JOIN apps a ON a.id = c.app_id
         ), hooks AS (
           INSERT INTO webhook_events (app_id, event, feedback_event_id)
           SELECT e.app_id, 'token.invalidated', e.id
             FROM events e JOIN apps a ON a.id = e.app_id AND a.webhook_url IS NOT NULL
         )
         SELECT channel, count(*)::int AS n FROM changed GROUP BY channel`,
        [this.config.feedback.quarantineDays, payload.batchSize],
      );
      let count = 0;
      for (const r of rows) {
        count += r.n;
        this.metrics.add(r.channel, 'quarantine_expired', 'invalidated', r.n);
      }
      invalidated += count;
      if (count < payload.batchSize) return { invalidated };
    }
  }
}
