import {
  createDevice,
  createTenantFixture,
  createTestContext,
  type CreatedDevice,
  type TenantFixture,
  type TestContext,
} from '@herald/testing';
import { FoldReceiptsHandler } from './fold-receipts.handler';

type Event = 'delivered' | 'opened' | 'dismissed';

describe('reports.fold-receipts (real PostgreSQL)', () => {
  let ctx: TestContext;
  let t: TenantFixture;
  let other: TenantFixture;
  let handler: FoldReceiptsHandler;

  const message = async (app: TenantFixture, status = 'completed', request = '{}'): Promise<string> => {
    const [row]: { id: string }[] = await ctx.db.query(
      `INSERT INTO messages (app_id, request, audience, platforms, status)
       VALUES ($1, $2::jsonb, '"all"', '{ios,android}', $3) RETURNING id`,
      [app.app.app.id, request, status],
    );
    return row.id;
  };
  /** What the fan-out writes: a sent ledger row and its counters. */
  const sent = async (msg: string, devices: CreatedDevice[]) => {
    await ctx.db.query(
      `INSERT INTO deliveries (message_id, device_id, app_id, channel, state, attempts, sent_at)
       SELECT $1, d.id, d.app_id, d.channel, 'sent', 1, now() - interval '1 minute'
         FROM devices d WHERE d.id = ANY($2::bigint[])`,
      [msg, devices.map((d) => d.device.id)],
    );
    await ctx.db.query(
      `INSERT INTO message_counters (message_id, channel, targets, sent)
       SELECT $1, d.channel, count(*), count(*) FROM devices d WHERE d.id = ANY($2::bigint[]) GROUP BY d.channel
       ON CONFLICT (message_id, channel) DO UPDATE
         SET targets = message_counters.targets + excluded.targets, sent = message_counters.sent + excluded.sent`,
      [msg, devices.map((d) => d.device.id)],
    );
  };
  /** What `POST /sdk/v1/receipts` writes. */
  const receipt = (msg: string, d: CreatedDevice, event: Event, at: Date = new Date(), createdAgo = '0 s') =>
    ctx.db.query(
      `INSERT INTO device_receipts (message_id, device_id, app_id, event, occurred_at, created_at)
       VALUES ($1, $2, $3, $4, $5, now() - $6::interval)`,
      [msg, d.device.id, d.device.appId, event, at, createdAgo],
    );
  const counters = async (msg: string) => {
    const rows: {
      channel: string;
      targets: string;
      sent: string;
      delivered: string;
      clicked: string;
      dismissed: string;
    }[] = await ctx.db.query(
      `SELECT channel, targets, sent, delivered, clicked, dismissed FROM message_counters
          WHERE message_id = $1 ORDER BY channel`,
      [msg],
    );
    return Object.fromEntries(
      rows.map((r) => [
        r.channel,
        {
          targets: Number(r.targets),
          sent: Number(r.sent),
          delivered: Number(r.delivered),
          clicked: Number(r.clicked),
          dismissed: Number(r.dismissed),
        },
      ]),
    );
  };
  const ledger = async (msg: string, d: CreatedDevice) => {
    const [row]: {
      state: string;
      delivered_at: Date | null;
      clicked_at: Date | null;
      dismissed_at: Date | null;
    }[] = await ctx.db.query(
      `SELECT state, delivered_at, clicked_at, dismissed_at FROM deliveries WHERE message_id = $1 AND device_id = $2`,
      [msg, d.device.id],
    );
    return row;
  };
  const unprocessed = async () => {
    const [{ n }]: { n: string }[] = await ctx.db.query(
      `SELECT count(*) AS n FROM device_receipts WHERE processed_at IS NULL`,
    );
    return Number(n);
  };

  beforeAll(async () => {
    ctx = await createTestContext();
    handler = new FoldReceiptsHandler(ctx.db);
    t = await createTenantFixture(ctx.db, ctx.config, {
      devices: [{ channel: 'apns' }, { channel: 'fcm' }, { channel: 'fcm' }, { channel: 'fcm' }],
    });
    other = await createTenantFixture(ctx.db, ctx.config, { devices: [{ channel: 'fcm' }] });
  });
  afterEach(async () => {
    await ctx.db.query(`DELETE FROM device_receipts`);
    await ctx.db.query(`DELETE FROM messages`);
  });
  afterAll(async () => {
    await ctx.close();
  });

  it('folds delivered, opened and dismissed into the ledger and counters once, on the device’s channel', async () => {
    const [ios, a1, a2, notTargeted] = t.devices;
    const msg = await message(t);
    await sent(msg, [ios, a1, a2]);
    const t1 = new Date(Date.now() - 30_000);
    const t2 = new Date(Date.now() - 20_000);
    const t3 = new Date(Date.now() - 10_000);
    await receipt(msg, ios, 'delivered', t1);
    await receipt(msg, ios, 'opened', t2);
    await receipt(msg, a1, 'opened', t2); // no delivered receipt: the open implies it
    await receipt(msg, a2, 'delivered', t1);
    await receipt(msg, a2, 'dismissed', t3);
    // ignored: a device the message never targeted, another app's device, a message that does not exist
    await receipt(msg, notTargeted, 'delivered');
    await receipt(msg, other.devices[0], 'opened');
    await receipt('999999999', a1, 'delivered');

    expect(await handler.handle({ batchSize: 100 })).toEqual({
      processed: 8,
      delivered: 3,
      clicked: 2,
      dismissed: 1,
    });
    expect(await counters(msg)).toEqual({
      apns: { targets: 1, sent: 1, delivered: 1, clicked: 1, dismissed: 0 },
      fcm: { targets: 2, sent: 2, delivered: 2, clicked: 1, dismissed: 1 },
    });
    expect(await ledger(msg, ios)).toEqual({
      state: 'delivered',
      delivered_at: t1,
      clicked_at: t2,
      dismissed_at: null,
    });
    expect(await ledger(msg, a1)).toEqual({
      state: 'delivered',
      delivered_at: t2,
      clicked_at: t2,
      dismissed_at: null,
    });
    expect(await ledger(msg, a2)).toEqual({
      state: 'delivered',
      delivered_at: t1,
      clicked_at: null,
      dismissed_at: t3,
    });
    expect(await ledger(msg, notTargeted)).toBeUndefined();
    const [{ n }]: { n: string }[] = await ctx.db.query(
      `SELECT count(*) AS n FROM deliveries WHERE device_id = $1`,
      [other.devices[0].device.id],
    );
    expect(n).toBe('0');
    expect(await unprocessed()).toBe(0);

    // A second run finds nothing; a later open of a delivered message counts a click and no delivery.
    expect(await handler.handle({ batchSize: 100 })).toEqual({
      processed: 0,
      delivered: 0,
      clicked: 0,
      dismissed: 0,
    });
    await receipt(msg, a2, 'opened');
    expect(await handler.handle({ batchSize: 100 })).toEqual({
      processed: 1,
      delivered: 0,
      clicked: 1,
      dismissed: 0,
    });
    expect((await counters(msg)).fcm).toEqual({
      targets: 2,
      sent: 2,
      delivered: 2,
      clicked: 2,
      dismissed: 1,
    });
  });

  it('counts exactly once when several workers fold concurrently in small batches', async () => {
    const devices: CreatedDevice[] = [];
    for (let i = 0; i < 60; i++)
      devices.push(await createDevice(ctx.db, ctx.config, t.app.app, { channel: 'fcm' }));
    const msg = await message(t);
    await sent(msg, devices);
    for (const d of devices) {
      await receipt(msg, d, 'delivered');
      await receipt(msg, d, 'opened');
    }
    const runs = await Promise.all([1, 2, 3].map(() => handler.handle({ batchSize: 7 })));
    const total = runs.reduce(
      (a, r) => ({
        processed: a.processed + r.processed,
        delivered: a.delivered + r.delivered,
        clicked: a.clicked + r.clicked,
      }),
      { processed: 0, delivered: 0, clicked: 0 },
    );
    expect(total).toEqual({ processed: 120, delivered: 60, clicked: 60 });
    expect(await counters(msg)).toEqual({
      fcm: { targets: 60, sent: 60, delivered: 60, clicked: 60, dismissed: 0 },
    });
    expect(await unprocessed()).toBe(0);
    expect(await handler.handle({ batchSize: 7 })).toEqual({
      processed: 0,
      delivered: 0,
      clicked: 0,
      dismissed: 0,
    });
  });

  it('keeps a receipt that beat its ledger row while the message is sending, and drops it after the grace', async () => {
    const [, a1, a2] = t.devices;
    const msg = await message(t, 'sending');
    await receipt(msg, a1, 'delivered');
    await receipt(msg, a2, 'delivered', new Date(), '2 hours');
    expect(await handler.handle({ batchSize: 100 })).toEqual({
      processed: 1,
      delivered: 0,
      clicked: 0,
      dismissed: 0,
    });
    expect(await unprocessed()).toBe(1);

    await sent(msg, [a1, a2]); // the shard records its sends
    expect(await handler.handle({ batchSize: 100 })).toEqual({
      processed: 1,
      delivered: 1,
      clicked: 0,
      dismissed: 0,
    });
    expect(await counters(msg)).toEqual({
      fcm: { targets: 2, sent: 2, delivered: 1, clicked: 0, dismissed: 0 },
    });
    expect((await ledger(msg, a2)).delivered_at).toBeNull();
  });

  it('deletes the receipts it folds or drops, and those earlier versions marked processed, keeping the waiting ones', async () => {
    const [ios, a1, a2] = t.devices;
    const done = await message(t);
    const sending = await message(t, 'sending');
    await sent(done, [ios, a1]);
    await receipt(done, ios, 'delivered');
    await receipt(done, a1, 'opened');
    await receipt('999999999', a1, 'delivered'); // an unknown message: dropped
    await receipt(sending, a2, 'delivered'); // its ledger row is not written yet: it waits
    // What an earlier version left behind: folded, marked, kept.
    await ctx.db.query(
      `INSERT INTO device_receipts (message_id, device_id, app_id, event, occurred_at, processed_at, created_at)
       VALUES ($1, $2, $3, 'dismissed', now() - interval '2 days', now() - interval '2 days', now() - interval '2 days')`,
      [done, ios.device.id, ios.device.appId],
    );
    const fresh = new FoldReceiptsHandler(ctx.db); // a process that has not looked for marked receipts yet
    expect(await fresh.handle({ batchSize: 100 })).toEqual({
      processed: 3,
      delivered: 2,
      clicked: 1,
      dismissed: 0,
    });
    const left: { message_id: string; device_id: string }[] = await ctx.db.query(
      `SELECT message_id::text, device_id::text FROM device_receipts`,
    );
    expect(left).toEqual([{ message_id: sending, device_id: a2.device.id }]);

    // A repeat of a folded receipt is stored again; folding it again changes nothing.
    await receipt(done, a1, 'opened');
    expect(await fresh.handle({ batchSize: 100 })).toEqual({
      processed: 1,
      delivered: 0,
      clicked: 0,
      dismissed: 0,
    });
    expect(await counters(done)).toEqual({
      apns: { targets: 1, sent: 1, delivered: 1, clicked: 0, dismissed: 0 },
      fcm: { targets: 1, sent: 1, delivered: 1, clicked: 1, dismissed: 0 },
    });
  });

  it('clamps a receipt’s time to between the recorded send and now', async () => {
    const [ios, a1, a2] = t.devices;
    const msg = await message(t);
    await sent(msg, [ios, a1]); // sent_at: a minute ago
    // A send still being retried has no sent_at yet: its ledger row's creation bounds it instead.
    await ctx.db.query(
      `INSERT INTO deliveries (message_id, device_id, app_id, channel, state, attempts, created_at)
       VALUES ($1, $2, $3, $4, 'retrying', 1, now() - interval '5 minutes')`,
      [msg, a2.device.id, a2.device.appId, a2.device.channel],
    );
    const [{ sent_at: sentAt, created_at: retryingSince }]: { sent_at: Date; created_at: Date }[] =
      await ctx.db.query(
        `SELECT (SELECT sent_at FROM deliveries WHERE message_id = $1 AND device_id = $2) AS sent_at,
                (SELECT created_at FROM deliveries WHERE message_id = $1 AND device_id = $3) AS created_at`,
        [msg, ios.device.id, a2.device.id],
      );
    const epoch = new Date('1970-01-01T00:00:00Z');
    const future = new Date('2999-01-01T00:00:00Z');
    await receipt(msg, ios, 'delivered', epoch);
    await receipt(msg, ios, 'opened', future);
    await receipt(msg, a1, 'dismissed', epoch);
    await receipt(msg, a2, 'delivered', epoch);
    const before = Date.now();
    await handler.handle({ batchSize: 100 });
    const after = Date.now();

    const opened = await ledger(msg, ios);
    expect(opened.delivered_at).toEqual(sentAt);
    expect(opened.clicked_at!.getTime()).toBeGreaterThanOrEqual(before - 1000);
    expect(opened.clicked_at!.getTime()).toBeLessThanOrEqual(after);
    expect(await ledger(msg, a1)).toMatchObject({ delivered_at: sentAt, dismissed_at: sentAt });
    expect((await ledger(msg, a2)).delivered_at).toEqual(retryingSince);
  });

  it('queues callback events for the rows it changed, only for messages that asked for a callback', async () => {
    // type 19: delivered (1), clicked (2) and Herald's dismissed (16)
    const [ios, a1] = t.devices;
    const withCallback = await message(
      t,
      'completed',
      '{"callback": {"url": "https://example.test/cb", "type": 19}}',
    );
    const without = await message(t);
    await sent(withCallback, [ios, a1]);
    await sent(without, [ios]);
    await receipt(withCallback, ios, 'opened');
    await receipt(withCallback, a1, 'dismissed');
    await receipt(without, ios, 'delivered');
    await handler.handle({ batchSize: 100 });
    await receipt(withCallback, a1, 'delivered'); // a repeat of nothing new: no second event
    await handler.handle({ batchSize: 100 });
    const events: { message_id: string; registration_id: string; event: string }[] = await ctx.db.query(
      `SELECT message_id::text, registration_id, event FROM callback_events ORDER BY event, registration_id`,
    );
    expect(events).toEqual(
      [
        { message_id: withCallback, registration_id: ios.device.registrationId, event: 'clicked' },
        { message_id: withCallback, registration_id: ios.device.registrationId, event: 'delivered' },
        { message_id: withCallback, registration_id: a1.device.registrationId, event: 'delivered' },
        { message_id: withCallback, registration_id: a1.device.registrationId, event: 'dismissed' },
      ].sort((x, y) => x.event.localeCompare(y.event) || x.registration_id.localeCompare(y.registration_id)),
    );
  });
});
