import type { INestApplicationContext } from '@nestjs/common';
import { QueueService } from '@herald/platform';
import { JOBS, RECURRING_JOBS } from '@herald/queue';
import { createTenantFixture, createTestContext, drainQueues, type TestContext } from '@herald/testing';
import { startWorker } from './worker.bootstrap';

describe('worker (real PostgreSQL and Redis)', () => {
  let ctx: TestContext;
  let worker: INestApplicationContext;

  beforeAll(async () => {
    ctx = await createTestContext();
    worker = await startWorker(ctx.config);
  });
  afterAll(async () => {
    await worker.close();
    await ctx.close();
  });

  it('registers the recurring maintenance jobs as BullMQ job schedulers', async () => {
    const queue = worker.get(QueueService).queue('maintenance');
    const schedulers = await queue.getJobSchedulers();
    const expected = RECURRING_JOBS.filter((r) => JOBS[r.name].queue === 'maintenance').map((r) => r.id);
    expect(schedulers.map((s) => s.key).sort()).toEqual([...expected].sort());
    expect(expected).toContain('purge-idempotency');
  });

  it('purges expired idempotency records, and only those, when the job runs', async () => {
    const { app } = await createTenantFixture(ctx.db, ctx.config);
    await ctx.db.query(
      `INSERT INTO idempotency_records (app_id, kind, key, expires_at)
       SELECT $1::uuid, 'key', 'old-' || i, now() - interval '1 minute' FROM generate_series(1, 25) i
       UNION ALL SELECT $1::uuid, 'cid', 'fresh-' || i, now() + interval '1 day' FROM generate_series(1, 5) i`,
      [app.app.id],
    );
    const queues = worker.get(QueueService);
    const job = await queues.add('maintenance.purge-idempotency', { batchSize: 10 });
    await drainQueues([queues.queue('maintenance')]);
    const done = await queues.queue('maintenance').getJob(job.id!);
    expect(done?.returnvalue).toEqual({ deleted: 25 });
    const left = await ctx.db.query<{ key: string }[]>(`SELECT key FROM idempotency_records ORDER BY key`);
    expect(left.map((r) => r.key)).toEqual(['fresh-1', 'fresh-2', 'fresh-3', 'fresh-4', 'fresh-5']);
  });

  it('fails a job with an invalid payload at once instead of retrying it', async () => {
    const queue = worker.get(QueueService).queue('maintenance');
    const job = await queue.add('maintenance.purge-idempotency', { batchSize: -1 }, { attempts: 5 });
    await drainQueues([queue], { allowFailed: true });
    const failed = await queue.getJob(job.id!);
    expect(failed?.failedReason).toMatch(/invalid payload for maintenance.purge-idempotency/);
    expect(failed?.attemptsMade).toBe(1);
  });
});
