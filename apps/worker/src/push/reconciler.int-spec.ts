import type { Queue } from 'bullmq';
import { QueueService } from '@herald/platform';
import { insertMessage, insertMessages, planJob, planJobId, type PushSpec } from '@herald/push';
import { createTenantFixture, createTestContext, type TestContext } from '@herald/testing';
import type { PushRuntime } from './push.runtime';
import { ReconcilerService } from './reconciler.service';

/**
 * The reconciler against real PostgreSQL and Redis, with no worker consuming the push queue: the jobs
 * it re-adds stay where it put them, to be inspected.
 */
describe('push reconciler (real PostgreSQL and Redis)', () => {
  let ctx: TestContext;
  let queues: QueueService;
  let queue: Queue;
  let reconciler: ReconcilerService;
  let appId: string;

  const spec = (options: Partial<PushSpec['options']> = {}): PushSpec => ({
    platform: 'all',
    audience: { all: true },
    notification: { alert: 'hi' },
    options: { sendno: '0', time_to_live: 86_400, ...options },
  });

  beforeAll(async () => {
    ctx = await createTestContext();
    queues = new QueueService(ctx.redis, ctx.config);
    queue = queues.queue('push');
    reconciler = new ReconcilerService(ctx.config, { db: ctx.db } as PushRuntime, queues);
    appId = (await createTenantFixture(ctx.db, ctx.config)).app.app.id;
  });
  afterEach(async () => {
    await ctx.db.query(
      `UPDATE messages SET status = 'completed' WHERE status IN ('accepted', 'planning', 'sending')`,
    );
    await queue.obliterate({ force: true });
  });
  afterAll(async () => {
    await queue?.close();
    await ctx?.close();
  });

  it('examines every unfinished message each pass, not only the oldest page', async () => {
    // 501 long-running messages older than the one whose enqueue was lost, all with their plan job
    // in place, all created at the same instant (pages must break ties on id).
    const old = (await insertMessages(
      ctx.db,
      Array.from({ length: 501 }, () => ({ message: { appId, spec: spec(), singleShard: false } })),
    )) as string[];
    await ctx.db.query(`UPDATE messages SET created_at = now() - interval '2 hours' WHERE id = ANY($1)`, [
      old,
    ]);
    await queue.addBulk(old.map(planJob));
    const lost = (await insertMessage(ctx.db, { appId, spec: spec(), singleShard: false }))!;
    await ctx.db.query(`UPDATE messages SET created_at = now() - interval '1 hour' WHERE id = $1`, [lost]);

    expect(await reconciler.run()).toEqual({ requeued: 1 });
    expect(await queue.getJobState(planJobId(lost))).toBe('waiting');
    expect(await reconciler.run()).toEqual({ requeued: 0 });

    // Small pages, boundaries inside the tie: each message is seen once, none skipped.
    const gone = [old[0], old[6], old[7], old[250], old[500], lost];
    for (const id of gone) await queue.remove(planJobId(id));
    expect(await reconciler.run({ pageSize: 7 })).toEqual({ requeued: gone.length });
    for (const id of gone) expect(await queue.getJobState(planJobId(id))).toBe('waiting');
  });

  it('marks a sending message whose shards all finished as completed', async () => {
    const id = (await insertMessage(ctx.db, { appId, spec: spec(), singleShard: true }))!;
    await ctx.db.query(`UPDATE messages SET created_at = now() - interval '1 hour' WHERE id = $1`, [id]);
    await ctx.db.query(`UPDATE message_shards SET status = 'done' WHERE message_id = $1`, [id]);
    expect(await reconciler.run()).toEqual({ requeued: 0 });
    const [row] = await ctx.db.query<{ status: string }[]>(`SELECT status FROM messages WHERE id = $1`, [id]);
    expect(row.status).toBe('completed');
  });
});
