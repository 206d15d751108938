import {
  createTenantFixture,
  createTestContext,
  type TenantFixture,
  type TestContext,
} from '@herald/testing';
import { DELIVERED_SQL, ReceiptWriter, type ReceiptDevice } from './receipt.writer';

/** The gateway's receipt writer as a producer of JPush callback events (real PostgreSQL and Redis). */
let ctx: TestContext;
let fx: TenantFixture;
let writer: ReceiptWriter;

beforeAll(async () => {
  ctx = await createTestContext();
  fx = await createTenantFixture(ctx.db, ctx.config, {
    devices: [{ channel: 'gateway' }, { channel: 'gateway' }, { channel: 'gateway' }],
  });
  writer = new ReceiptWriter(ctx.db, ctx.redis, ctx.config);
});

afterAll(async () => {
  await writer.flush();
  await ctx.close();
});

const dev = (i: number): ReceiptDevice => ({
  rid: fx.devices[i].device.registrationId,
  deviceId: fx.devices[i].device.id,
  appId: fx.app.app.id,
});

async function message(request: Record<string, unknown>): Promise<string> {
  const [row] = await ctx.db.query<{ id: string }[]>(
    `INSERT INTO messages (app_id, request, audience, platforms) VALUES ($1, $2, '"all"', '{android}')
     RETURNING id::text`,
    [fx.app.app.id, JSON.stringify(request)],
  );
  return row.id;
}

const events = async (messageId: string) =>
  ctx.db.query<{ registration_id: string; event: string }[]>(
    `SELECT registration_id, event FROM callback_events WHERE message_id = $1 ORDER BY id`,
    [messageId],
  );

it('queues one delivered event per device that acked a message with a callback, and only once', async () => {
  const withCallback = await message({ callback: { url: 'https://tenant.example/cb' } });
  const without = await message({});
  await Promise.all([
    writer.ack(dev(0), [withCallback, without]),
    writer.ack(dev(1), [withCallback]),
    writer.ack(dev(0), [withCallback]),
  ]);
  await writer.flush();
  expect(await events(withCallback)).toEqual([
    { registration_id: dev(0).rid, event: 'delivered' },
    { registration_id: dev(1).rid, event: 'delivered' },
  ]);
  expect(await events(without)).toEqual([]);

  // Dispatched (deleted), then acked again: the ledger did not change, so nothing is queued.
  await ctx.db.query(`DELETE FROM callback_events`);
  await writer.ack(dev(0), [withCallback]);
  await writer.ack(dev(1), [withCallback]);
  await writer.flush();
  expect(await events(withCallback)).toEqual([]);
  const [counters] = await ctx.db.query<{ delivered: string }[]>(
    `SELECT delivered FROM message_counters WHERE message_id = $1`,
    [withCallback],
  );
  expect(counters.delivered).toBe('2');
});

it('queues clicks and dismissals once each, with a delivery when no ack came first', async () => {
  const m = await message({ callback: { url: 'https://tenant.example/cb', type: 19 } });
  await writer.ack(dev(0), [m]);
  await writer.flush();
  await writer.event(dev(0), m, 'opened');
  await writer.event(dev(0), m, 'opened');
  await writer.event(dev(2), m, 'dismissed');
  await writer.event(dev(2), m, 'dismissed');
  expect(await events(m)).toEqual([
    { registration_id: dev(0).rid, event: 'delivered' },
    { registration_id: dev(0).rid, event: 'clicked' },
    { registration_id: dev(2).rid, event: 'delivered' },
    { registration_id: dev(2).rid, event: 'dismissed' },
  ]);

  // The default type (delivered + clicked) leaves dismissals out; a message without callback, all.
  const byDefault = await message({ callback: { url: 'https://tenant.example/cb' } });
  const none = await message({});
  for (const id of [byDefault, none]) {
    await writer.event(dev(1), id, 'dismissed');
    await writer.event(dev(1), id, 'opened');
  }
  expect(await events(byDefault)).toEqual([
    { registration_id: dev(1).rid, event: 'delivered' },
    { registration_id: dev(1).rid, event: 'clicked' },
  ]);
  expect(await events(none)).toEqual([]);
});

it('an open on a sent but unacknowledged copy counts the delivery once, and a later ack adds nothing', async () => {
  const m = await message({});
  await ctx.db.query(
    `INSERT INTO deliveries (message_id, device_id, app_id, channel, state, sent_at)
     VALUES ($1, $2, $3, 'gateway', 'sent', now())`,
    [m, dev(2).deviceId, dev(2).appId],
  );
  await writer.event(dev(2), m, 'opened');
  await writer.ack(dev(2), [m]);
  await writer.flush();
  const [counters] = await ctx.db.query<{ delivered: string; clicked: string }[]>(
    `SELECT delivered, clicked FROM message_counters WHERE message_id = $1 AND channel = 'gateway'`,
    [m],
  );
  expect(counters).toEqual({ delivered: '1', clicked: '1' });
});

it('an ack, an open and a dismissal racing for the same copy count one delivery, one click, one dismissal', async () => {
  const ids: string[] = [];
  for (let i = 0; i < 30; i++) ids.push(await message({}));
  await Promise.all(
    ids.flatMap((m, i) => {
      const d = dev(i % 3);
      return [writer.ack(d, [m]), writer.event(d, m, 'opened'), writer.event(d, m, 'dismissed')];
    }),
  );
  await writer.flush();
  const rows = await ctx.db.query<{ delivered: string; clicked: string; dismissed: string }[]>(
    `SELECT delivered, clicked, dismissed FROM message_counters
      WHERE message_id = ANY($1::bigint[]) AND channel = 'gateway'`,
    [ids],
  );
  expect(rows).toHaveLength(30);
  expect(rows.filter((r) => r.delivered !== '1' || r.clicked !== '1' || r.dismissed !== '1')).toEqual([]);
});

interface PlanNode {
  'Node Type': string;
  'CTE Name'?: string;
  'Actual Loops': number;
  Plans?: PlanNode[];
}

it('the ack statement reads its batch a bounded number of times, however many acks it carries', async () => {
  // The plan expects ~10 rows per array (they are hidden from it), so a join of the batch with itself
  // becomes a nested loop that rereads it once per changed row: quadratic, 130 µs per ack at 2,000.
  const m = await message({ callback: { url: 'https://tenant.example/cb' } });
  // One connection, rolled back: the devices and ledger rows made here do not stay.
  const tx = ctx.db.createQueryRunner();
  await tx.connect();
  await tx.startTransaction();
  try {
    const devices: { id: string }[] = await tx.query(
      `INSERT INTO devices (app_id, registration_id, device_secret_hash, platform, channel)
       SELECT $1, 'plan' || g, 'h', 'android', 'gateway' FROM generate_series(1, 500) g RETURNING id::text`,
      [fx.app.app.id],
    );
    const ids = devices.map((d) => d.id);
    const [{ 'QUERY PLAN': plan }]: { 'QUERY PLAN': [{ Plan: PlanNode }] }[] = await tx.query(
      `EXPLAIN (ANALYZE, FORMAT JSON) ${DELIVERED_SQL}`,
      [ids.map(() => m), ids, ids.map(() => fx.app.app.id), new Date()],
    );
    const scans: PlanNode[] = [];
    const walk = (n: PlanNode) => {
      if (n['Node Type'] === 'CTE Scan' && ['input', 'changed'].includes(n['CTE Name'] ?? '')) scans.push(n);
      n.Plans?.forEach(walk);
    };
    walk(plan[0].Plan);
    expect(scans.length).toBeGreaterThan(0);
    expect(scans.filter((s) => s['Actual Loops'] > 1)).toEqual([]);
  } finally {
    await tx.rollbackTransaction();
    await tx.release();
  }
});
