import type { Queue } from 'bullmq';
import { QueueService } from '@herald/platform';
import { insertMessage, insertMessages, planJob, planJobId, shardJobId, type PushSpec } from '@herald/push';
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

  it('puts a lost shard back at its place in the big_push_duration window; overdue ones go now', async () => {
    // Six shards over 60 minutes (shard n due at minute 10n), planned 15 minutes ago; shard 0 is done
    // and Redis lost every job.
    const id = (await insertMessage(ctx.db, {
      appId,
      spec: spec({ big_push_duration: 60 }),
      singleShard: false,
    }))!;
    await ctx.db.query(
      `UPDATE messages SET status = 'sending', shards_total = 6, created_at = now() - interval '16 minutes',
              started_at = now() - interval '15 minutes'
        WHERE id = $1`,
      [id],
    );
    await ctx.db.query(
      `INSERT INTO message_shards (message_id, shard_no, from_device_id, to_device_id, status)
       SELECT $1, n, n * 100, n * 100 + 100, CASE WHEN n = 0 THEN 'done' ELSE 'pending' END
         FROM generate_series(0, 5) AS n`,
      [id],
    );
    const before = Date.now();
    expect(await reconciler.run()).toEqual({ requeued: 5 });
    const minute = 60_000;
    const due = async (no: number) => {
      const job = (await queue.getJob(shardJobId(id, no)))!;
      return { state: await job.getState(), at: job.timestamp + (job.opts.delay ?? 0) };
    };
    // Shard 1 was due 5 minutes ago: now, not delayed.
    const overdue = await due(1);
    expect(overdue.state).toBe('waiting');
    expect(overdue.at - before).toBeLessThan(5_000);
    // Shards 2..5 keep their minute: 5, 15, 25, 35 minutes from now.
    for (const [no, inMinutes] of [
      [2, 5],
      [3, 15],
      [4, 25],
      [5, 35],
    ]) {
      const { state, at } = await due(no);
      expect(state).toBe('delayed');
      expect(Math.abs(at - before - inMinutes * minute)).toBeLessThan(5_000);
    }
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
