import type { PushSpec } from '@herald/push';
import { insertMessage } from '@herald/push';
import { createDevice, createTenantFixture, createTestContext, type TestContext } from '@herald/testing';
import type { LedgerRow } from './ledger.writer';
import { CLAIM_SQL, FINISH_SQL, ShardStatements } from './shard.statements';

const spec = (rids: string[]): PushSpec => ({
  platform: 'all',
  audience: { all: false, registration_id: rids },
  notification: { alert: 'hi' },
  options: { sendno: '0', time_to_live: 86_400 },
});

const sent = (deviceId: string): LedgerRow => ({
  deviceId,
  channel: 'gateway',
  state: 'sent',
  reason: null,
  providerMessageId: null,
  providerStatus: null,
  attempts: 1,
});

describe('shard statements shared by concurrent jobs (real PostgreSQL)', () => {
  let ctx: TestContext;
  let statements: ShardStatements;
  let appId: string;
  const devices: { id: string; rid: string }[] = [];

  beforeAll(async () => {
    ctx = await createTestContext();
    statements = new ShardStatements(ctx.db);
    const fixture = await createTenantFixture(ctx.db, ctx.config);
    appId = fixture.app.app.id;
    for (let i = 0; i < 3; i++) {
      const d = await createDevice(ctx.db, ctx.config, fixture.app.app, { channel: 'gateway' });
      devices.push({ id: d.device.id, rid: d.device.registrationId });
    }
  });
  afterAll(() => ctx.close());

  const unicast = async (rid: string) =>
    (await insertMessage(ctx.db, { appId, spec: spec([rid]), singleShard: true }))!;
  const message = async (id: string) =>
    (
      await ctx.db.query<{ status: string; shards_done: number }[]>(
        `SELECT status, shards_done FROM messages WHERE id = $1`,
        [id],
      )
    )[0];
  const counters = async (id: string) =>
    (
      await ctx.db.query<{ targets: number; sent: number }[]>(
        `SELECT targets::int, sent::int FROM message_counters WHERE message_id = $1 AND channel = 'gateway'`,
        [id],
      )
    )[0];

  it('claims, records and finishes several unicasts in one statement each, every count exact', async () => {
    const ids = await Promise.all(devices.map((d) => unicast(d.rid)));
    const claims = await Promise.all(
      ids.map((messageId) => statements.claims.submit({ messageId, shardNo: 0 })),
    );
    claims.forEach((c) => {
      expect(c?.msg.app_id).toBe(appId);
      expect(c?.shard.attempts).toBe(1);
    });
    // Submitted in the same turn: one statement for the three pages, each page its own answer.
    const pages = await Promise.all(
      ids.map((messageId, i) =>
        statements.outcomes.submit({ messageId, appId, rows: [sent(devices[i].id)] }),
      ),
    );
    expect(pages).toEqual(devices.map((d) => [d.id]));
    // The same pages again (a redelivered job): nothing is counted twice, nothing is newly sent.
    const again = await Promise.all(
      ids.map((messageId, i) =>
        statements.outcomes.submit({ messageId, appId, rows: [sent(devices[i].id)] }),
      ),
    );
    expect(again).toEqual([[], [], []]);
    await Promise.all(
      ids.map((messageId) => statements.ends.submit({ messageId, shardNo: 0, status: 'done' })),
    );
    for (const id of ids) {
      expect(await message(id)).toEqual({ status: 'completed', shards_done: 1 });
      expect(await counters(id)).toEqual({ targets: 1, sent: 1 });
    }
    // A finished shard is not claimed again, and finishing it again changes nothing.
    expect(await statements.claims.submit({ messageId: ids[0], shardNo: 0 })).toBeUndefined();
    await statements.ends.submit({ messageId: ids[0], shardNo: 0, status: 'done' });
    expect(await message(ids[0])).toEqual({ status: 'completed', shards_done: 1 });
  });

  it("records a shard's end with its last page in one statement; pages without one leave theirs open", async () => {
    const [ending, open] = await Promise.all([unicast(devices[0].rid), unicast(devices[1].rid)]);
    await Promise.all([ending, open].map((messageId) => statements.claims.submit({ messageId, shardNo: 0 })));
    const pages = await Promise.all([
      statements.outcomes.submit({
        messageId: ending,
        appId,
        rows: [sent(devices[0].id)],
        end: { shardNo: 0, status: 'done' },
      }),
      statements.outcomes.submit({ messageId: open, appId, rows: [sent(devices[1].id)] }),
    ]);
    expect(pages).toEqual([[devices[0].id], [devices[1].id]]);
    expect(await message(ending)).toEqual({ status: 'completed', shards_done: 1 });
    expect(await counters(ending)).toEqual({ targets: 1, sent: 1 });
    expect(await message(open)).toEqual({ status: 'sending', shards_done: 0 });
    const shardStatus = async (id: string) =>
      (
        await ctx.db.query<{ status: string }[]>(`SELECT status FROM message_shards WHERE message_id = $1`, [
          id,
        ])
      )[0].status;
    expect(await shardStatus(ending)).toBe('done');
    expect(await shardStatus(open)).toBe('running');
    // The same page and end again (a redelivered job's statement): nothing moves twice.
    await statements.outcomes.submit({
      messageId: ending,
      appId,
      rows: [sent(devices[0].id)],
      end: { shardNo: 0, status: 'done' },
    });
    expect(await message(ending)).toEqual({ status: 'completed', shards_done: 1 });
    expect(await counters(ending)).toEqual({ targets: 1, sent: 1 });
    // An end with no rows left to record (every device of the page already in the ledger) still ends.
    await statements.outcomes.submit({
      messageId: open,
      appId,
      rows: [],
      end: { shardNo: 0, status: 'done' },
    });
    expect(await message(open)).toEqual({ status: 'completed', shards_done: 1 });
  });

  it('leaves a broadcast shard and a cancelled message to the general path', async () => {
    const broadcast = (await insertMessage(ctx.db, {
      appId,
      spec: { ...spec([]), audience: { all: true } },
      singleShard: false,
    }))!;
    const cancelled = await unicast(devices[0].rid);
    await ctx.db.query(`UPDATE messages SET status = 'cancelled' WHERE id = $1`, [cancelled]);
    const [a, b] = await Promise.all([
      statements.claims.submit({ messageId: broadcast, shardNo: 0 }),
      statements.claims.submit({ messageId: cancelled, shardNo: 0 }),
    ]);
    expect(a).toBeUndefined();
    expect(b).toBeUndefined();
    const [{ status }] = await ctx.db.query<{ status: string }[]>(
      `SELECT status FROM message_shards WHERE message_id = $1`,
      [cancelled],
    );
    expect(status).toBe('pending');
  });

  it('a page the database refuses fails only its own job', async () => {
    const good = await unicast(devices[1].rid);
    const results = await Promise.allSettled([
      statements.outcomes.submit({ messageId: good, appId, rows: [sent(devices[1].id)] }),
      // A message that does not exist breaks the ledger's foreign key.
      statements.outcomes.submit({ messageId: '999999999', appId, rows: [sent(devices[2].id)] }),
    ]);
    expect(results[0]).toEqual({ status: 'fulfilled', value: [devices[1].id] });
    expect(results[1].status).toBe('rejected');
    expect(await counters(good)).toEqual({ targets: 1, sent: 1 });
  });

  it('claims and finishes by key, however many shards are open and whatever the statistics last saw', async () => {
    // Statistics taken on an idle queue (every shard finished), then a backlog of 6,000 open unicast
    // shards they know nothing of: the state a worker that falls behind is in.
    const model = await unicast(devices[0].rid);
    const clone = (n: number, messageStatus: string, shardStatus: string) =>
      ctx.db.query(
        `WITH m AS (
           INSERT INTO messages (app_id, status, request, audience, platforms, time_to_live, shards_total, expires_at)
           SELECT app_id, $3, request, audience, platforms, time_to_live, 1, expires_at
             FROM messages, generate_series(1, $2) WHERE id = $1
           RETURNING id)
         INSERT INTO message_shards (message_id, shard_no, from_device_id, to_device_id, status)
         SELECT id, 0, 0, 9223372036854775807, $4 FROM m`,
        [model, n, messageStatus, shardStatus],
      );
    await ctx.db.query(`UPDATE messages SET status = 'completed' WHERE app_id = $1`, [appId]);
    await clone(3000, 'completed', 'done');
    await ctx.db.query('ANALYZE messages');
    await ctx.db.query('ANALYZE message_shards');
    await clone(6000, 'sending', 'pending');
    const [{ id }] = await ctx.db.query<{ id: string }[]>(
      `SELECT max(message_id)::text AS id FROM message_shards WHERE status = 'pending'`,
    );
    // The plan each statement keeps (its generic one), run for real on one key and rolled back: the
    // blocks it touches must not grow with the backlog: by key, ~12 and ~27 here; through a scan of the
    // open shards (the dropped `message_shards_open_idx`) or of the unfinished messages
    // (`messages_unfinished_idx`), 54 and 69 with half this backlog, and growing with it.
    const blocks = async (name: string, sql: string, types: string, args: string) => {
      const runner = ctx.db.createQueryRunner();
      await runner.connect();
      try {
        await runner.startTransaction();
        await runner.query(`SET LOCAL plan_cache_mode = force_generic_plan`);
        await runner.query(`PREPARE ${name}(${types}) AS ${sql}`);
        const [row] = (await runner.query(
          `EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) EXECUTE ${name}(${args})`,
        )) as {
          'QUERY PLAN': unknown;
        }[];
        await runner.rollbackTransaction();
        await runner.query(`DEALLOCATE ${name}`);
        const plan = (row['QUERY PLAN'] as { Plan: Record<string, number> }[])[0].Plan;
        return plan['Shared Hit Blocks'] + plan['Shared Read Blocks'];
      } finally {
        await runner.release();
      }
    };
    expect(await blocks('claim_t', CLAIM_SQL, 'bigint[], int[]', `'{${id}}', '{0}'`)).toBeLessThan(30);
    await ctx.db.query(`UPDATE message_shards SET status = 'running' WHERE message_id = $1`, [id]);
    expect(
      await blocks('finish_t', FINISH_SQL, 'bigint[], int[], text[]', `'{${id}}', '{0}', '{done}'`),
    ).toBeLessThan(45);
  });
});
