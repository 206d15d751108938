import { InboxStore } from '@herald/providers';
import { recordDropped } from '@herald/push';
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
let inbox: InboxStore;

beforeAll(async () => {
  ctx = await createTestContext();
  fx = await createTenantFixture(ctx.db, ctx.config, {
    devices: [{ channel: 'gateway' }, { channel: 'gateway' }, { channel: 'gateway' }],
  });
  writer = new ReceiptWriter(ctx.db, ctx.redis, ctx.config);
  inbox = new InboxStore(ctx.redis, ctx.config.redis.queuePrefix);
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

/** The message written to the devices' inboxes, as the worker does before any ack can come. */
async function sendTo(id: string, ...devices: number[]): Promise<void> {
  const now = Date.now();
  const frame = JSON.stringify({ t: 'msg', id });
  for (const i of devices)
    await inbox.insert(dev(i).rid, { id, sentAt: now, expiresAt: now + 60_000, frame }, 10);
}

const counters = async (messageId: string) =>
  (
    await ctx.db.query<Record<string, string>[]>(
      `SELECT targets, sent, failed, delivered, clicked, dismissed FROM message_counters
        WHERE message_id = $1 AND channel = 'gateway'`,
      [messageId],
    )
  )[0];

const events = async (messageId: string) =>
  ctx.db.query<{ registration_id: string; event: string }[]>(
    `SELECT registration_id, event FROM callback_events WHERE message_id = $1 ORDER BY id`,
    [messageId],
  );

it('queues one delivered event per device that acked a message with a callback, and only once', async () => {
  const withCallback = await message({ callback: { url: 'https://tenant.example/cb' } });
  const without = await message({});
  await sendTo(withCallback, 0, 1);
  await sendTo(without, 0);
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
  // Device 2 dismisses it while it is still in its inbox (unacknowledged).
  await sendTo(m, 0, 2);
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
    // In flight on the device's connection (the node says so), not yet acknowledged.
    await writer.event(dev(1), id, 'dismissed', true);
    await writer.event(dev(1), id, 'opened', true);
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
  await sendTo(m, 2);
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
      // All in flight on the device's connection, as the node tells the writer.
      return [
        writer.ack(d, [m], [m]),
        writer.event(d, m, 'opened', true),
        writer.event(d, m, 'dismissed', true),
      ];
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

it('acks and events of a message never sent to the device count nothing, and keep nothing from it', async () => {
  // Message ids are sequential: device 1 acks and opens one sent to device 0 only.
  const m = await message({ callback: { url: 'https://tenant.example/cb', type: 19 } });
  await sendTo(m, 0);
  await writer.ack(dev(1), [m]);
  await writer.ack(dev(1), [m]);
  await writer.event(dev(1), m, 'opened');
  await writer.event(dev(1), m, 'dismissed');
  await writer.flush();
  expect(await ctx.db.query(`SELECT device_id FROM deliveries WHERE message_id = $1`, [m])).toEqual([]);
  expect(await counters(m)).toBeUndefined();
  expect(await events(m)).toEqual([]);
  // Device 0's own ack and click count; device 1 gets the message if it is sent to it later.
  await writer.ack(dev(0), [m]);
  await writer.flush();
  await writer.event(dev(0), m, 'opened');
  expect(await counters(m)).toEqual({
    targets: '0',
    sent: '0',
    failed: '0',
    delivered: '1',
    clicked: '1',
    dismissed: '0',
  });
  expect(await events(m)).toEqual([
    { registration_id: dev(0).rid, event: 'delivered' },
    { registration_id: dev(0).rid, event: 'clicked' },
  ]);
  const now = Date.now();
  const again = { id: m, sentAt: now, expiresAt: now + 60_000, frame: '{}' };
  expect((await inbox.insert(dev(1).rid, again, 10))[0]).toBe('ok');
});

it('a copy dropped as inbox_full while in flight, then acked or opened, moves from failed back to sent', async () => {
  const acked = await message({});
  const opened = await message({});
  const late = await message({});
  for (const id of [acked, opened, late]) {
    await ctx.db.query(
      `INSERT INTO deliveries (message_id, device_id, app_id, channel, state, sent_at)
       VALUES ($1, $2, $3, 'gateway', 'sent', now())`,
      [id, dev(0).deviceId, dev(0).appId],
    );
    await ctx.db.query(
      `INSERT INTO message_counters (message_id, channel, targets, sent) VALUES ($1, 'gateway', 1, 1)`,
      [id],
    );
  }
  // Pushed out of the inbox by newer entries while the device's connection had them in flight.
  await recordDropped(
    ctx.db,
    [acked, opened, late].map((id) => ({
      messageId: id,
      deviceId: dev(0).deviceId,
      reason: 'inbox_full' as const,
    })),
  );
  expect(await counters(acked)).toMatchObject({ targets: '1', sent: '0', failed: '1' });
  // The node passes what the connection had in flight; repeats change nothing.
  await writer.ack(dev(0), [acked], [acked]);
  await writer.event(dev(0), opened, 'opened', true);
  await writer.flush();
  await writer.ack(dev(0), [acked, opened], [acked, opened]);
  await writer.event(dev(0), acked, 'opened');
  await writer.event(dev(0), opened, 'opened');
  // Not in flight here (acked on a later connection): nothing says it reached the device.
  await writer.ack(dev(0), [late]);
  await writer.flush();
  const delivered = { targets: '1', sent: '1', failed: '0', delivered: '1', dismissed: '0' };
  expect(await counters(acked)).toEqual({ ...delivered, clicked: '1' });
  expect(await counters(opened)).toEqual({ ...delivered, clicked: '1' });
  expect(await counters(late)).toEqual({
    targets: '1',
    sent: '0',
    failed: '1',
    delivered: '0',
    clicked: '0',
    dismissed: '0',
  });
  const failures = await ctx.db.query<{ message_id: string; count: string }[]>(
    `SELECT message_id::text, count FROM message_failures WHERE message_id = ANY($1::bigint[]) AND reason = 'inbox_full'
      ORDER BY message_id`,
    [[acked, opened, late]],
  );
  expect(failures).toEqual([
    { message_id: acked, count: '0' },
    { message_id: opened, count: '0' },
    { message_id: late, count: '1' },
  ]);
  // The ledger keeps the drop it was counted under.
  const rows = await ctx.db.query<{ state: string; reason: string }[]>(
    `SELECT state, reason FROM deliveries WHERE message_id = ANY($1::bigint[]) ORDER BY message_id`,
    [[acked, opened]],
  );
  expect(rows).toEqual([
    { state: 'delivered', reason: 'inbox_full' },
    { state: 'delivered', reason: 'inbox_full' },
  ]);
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
