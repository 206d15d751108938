import { Injectable } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import type { DataSource } from 'typeorm';
import type { JobPayload } from '@herald/queue';
import type { JobHandler } from '../jobs/job-handler';

/** Deletes expired cid and Idempotency-Key records in small batches, so no long lock is ever held. */
@Injectable()
export class PurgeIdempotencyHandler implements JobHandler<'maintenance.purge-idempotency'> {
  readonly jobName = 'maintenance.purge-idempotency' as const;

  constructor(@InjectDataSource() private readonly db: DataSource) {}

  async handle(payload: JobPayload<'maintenance.purge-idempotency'>): Promise<{ deleted: number }> {
    let deleted = 0;
    for (;;) {
      const [, count]: [unknown, number] = await this.db.query(
        `DELETE FROM idempotency_records WHERE ctid IN (
           SELECT ctid FROM idempotency_records WHERE expires_at < now() LIMIT $1)`,
        [payload.batchSize],
      );
      deleted += count;
      if (count < payload.batchSize) return { deleted };
    }
  }
}
