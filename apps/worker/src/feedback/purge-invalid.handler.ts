import { Inject, Injectable } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import type { DataSource } from 'typeorm';
import { HERALD_CONFIG, type HeraldConfig } from '@herald/config';
import type { JobPayload } from '@herald/queue';
import type { JobHandler } from '../jobs/job-handler';
import { FeedbackMetrics } from './feedback.metrics';

/**
 * Deletes devices invalid for longer than `HERALD_INVALID_RETENTION_DAYS`, a batch per statement
 * (each its own short transaction; rows another transaction holds are skipped), so the device table
 * is never locked for long. One audit entry per app and batch records how many went. Their feedback
 * events stay: `GET /v3/feedback` still lists what was pruned.
 */
@Injectable()
export class PurgeInvalidHandler implements JobHandler<'feedback.purge-invalid'> {
  readonly jobName = 'feedback.purge-invalid' as const;

  constructor(
    @InjectDataSource() private readonly db: DataSource,
    @Inject(HERALD_CONFIG) private readonly config: HeraldConfig,
    private readonly metrics: FeedbackMetrics,
  ) {}

  async handle(payload: JobPayload<'feedback.purge-invalid'>): Promise<{ deleted: number; batches: number }> {
    let deleted = 0;
    let batches = 0;
    for (;;) {
      const rows = await this.db.query<{ channel: string; n: number }[]>(
        `WITH doomed AS (
           SELECT id FROM devices
            WHERE status = 'invalid' AND status_changed_at < now() - make_interval(days => $1)
            LIMIT $2
              FOR UPDATE SKIP LOCKED
         ), gone AS (
           DELETE FROM devices d USING doomed WHERE d.id = doomed.id
           RETURNING d.app_id, d.channel
         ), audit AS (
           INSERT INTO audit_log (tenant_id, app_id, actor_type, actor_id, action, target_type, details)
           SELECT a.tenant_id, g.app_id, 'system', 'feedback', 'devices.purged', 'device',
                  jsonb_build_object('count', count(*), 'retention_days', $1::int)
             FROM gone g JOIN apps a ON a.id = g.app_id
            GROUP BY a.tenant_id, g.app_id
         )
         SELECT channel, count(*)::int AS n FROM gone GROUP BY channel`,
        [this.config.feedback.invalidRetentionDays, payload.batchSize],
      );
      batches += 1;
      let count = 0;
      for (const r of rows) {
        count += r.n;
        this.metrics.add(r.channel, 'retention', 'purged', r.n);
      }
      deleted += count;
      if (count < payload.batchSize) return { deleted, batches };
    }
  }
}
