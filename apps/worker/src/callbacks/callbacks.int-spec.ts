import { createHmac } from 'node:crypto';
import { createServer, type IncomingHttpHeaders, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { EnvelopeCipher } from '@herald/crypto';
import { enqueueCallbackEvents } from '@herald/push';
import {
  createApp,
  createTenantFixture,
  createTestContext,
  type CreatedApp,
  type TenantFixture,
  type TestContext,
} from '@herald/testing';
import {
  CallbackDispatchHandler,
  type CallbackBodyEvent,
  type CallbackDispatchOptions,
} from './callback-dispatch.handler';

/** The tenant's endpoint: a real HTTP server recording every POST, answering as `respond` says. */
interface Received {
  path: string;
  /** `Date.now()` when the request was read. */
  at: number;
  headers: IncomingHttpHeaders;
  raw: string;
  events: CallbackBodyEvent[];
}
let server: Server;
let base: string;
/** Black holes: endpoints that accept the connection and the request but never answer. */
const deadServers: Server[] = [];
const dead: string[] = [];
let deadHits = 0;
let received: Received[] = [];
let respond: (req: Received, res: ServerResponse) => void = (_req, res) => res.writeHead(200).end('ok');

let ctx: TestContext;
let fx: TenantFixture;
let other: CreatedApp;
let cipher: EnvelopeCipher;
let clock = new Date('2026-01-01T00:00:00Z');

beforeAll(async () => {
  ctx = await createTestContext();
  cipher = new EnvelopeCipher(ctx.config.crypto);
  fx = await createTenantFixture(ctx.db, ctx.config, {
    devices: [{ channel: 'gateway' }, { channel: 'apns' }, { channel: 'fcm' }],
  });
  other = await createApp(ctx.db, ctx.config, fx.tenant);
  server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const raw = Buffer.concat(chunks).toString('utf8');
      const r = {
        path: req.url ?? '',
        at: Date.now(),
        headers: req.headers,
        raw,
        events: JSON.parse(raw) as CallbackBodyEvent[],
      };
      received.push(r);
      respond(r, res);
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  for (let i = 0; i < 5; i++) {
    const s = createServer(() => void deadHits++);
    await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
    deadServers.push(s);
    dead.push(`http://127.0.0.1:${(s.address() as AddressInfo).port}`);
  }
});

afterAll(async () => {
  for (const s of [server, ...deadServers]) {
    s.closeAllConnections();
    await new Promise((r) => s.close(r));
  }
  await ctx.close();
});

beforeEach(async () => {
  received = [];
  deadHits = 0;
  respond = (_req, res) => res.writeHead(200).end('ok');
  clock = new Date(Date.now() + 60_000);
  await ctx.db.query(`DELETE FROM callback_events`);
});

const handler = (options: Partial<CallbackDispatchOptions> = {}) =>
  new CallbackDispatchHandler(ctx.db, ctx.config, { now: () => clock, random: () => 0.5, ...options });

const deviceIds = () => fx.devices.map((d) => d.device.id);
const rid = (i: number) => fx.devices[i].device.registrationId;

/** A message row whose request carries a callback signed with the app's master secret, as the API stores it. */
async function message(callback: Record<string, unknown> | null, appId = fx.app.app.id): Promise<string> {
  const request =
    callback === null
      ? {}
      : { callback: { signing_key: cipher.encrypt(fx.app.masterSecret, `callback:${appId}`), ...callback } };
  const [row] = await ctx.db.query<{ id: string }[]>(
    `INSERT INTO messages (app_id, request, audience, platforms) VALUES ($1, $2, '"all"', '{android,ios}')
     RETURNING id::text`,
    [appId, JSON.stringify(request)],
  );
  return row.id;
}

/** Bypasses the producer's type filter, as if the row had been queued some other way. */
async function rawEvent(
  messageId: string,
  device: number,
  event: string,
  at = new Date('2026-01-01T00:00:00Z'),
) {
  await ctx.db.query(
    `INSERT INTO callback_events (app_id, message_id, device_id, registration_id, event, occurred_at)
     VALUES ($1, $2, $3, $4, $5, $6)`,
    [fx.app.app.id, messageId, fx.devices[device].device.id, rid(device), event, at],
  );
}

/** A `delivered` event for each message (in that order), as if from the first device. */
async function eventsFor(appId: string, messageIds: string[], at = new Date('2026-01-01T00:00:00Z')) {
  await ctx.db.query(
    `INSERT INTO callback_events (app_id, message_id, device_id, registration_id, event, occurred_at)
     SELECT $1, m, $3, $4, 'delivered', $5 FROM unnest($2::bigint[]) AS m`,
    [appId, messageIds, fx.devices[0].device.id, rid(0), at],
  );
}

const pending = async () =>
  (await ctx.db.query<{ count: string }[]>(`SELECT count(*) FROM callback_events`))[0].count;

const hmac = (body: string) =>
  `sha256=${createHmac('sha256', fx.app.masterSecret).update(body).digest('hex')}`;

describe('callbacks.dispatch', () => {
  it('POSTs one signed JSON array per message, echoing params, and deletes what was accepted', async () => {
    const a = await message({ url: `${base}/hook/a?k=1`, params: { campaign: 'spring', n: 1 }, type: 3 });
    const b = await message({ url: `${base}/hook/b` });
    const at = new Date('2026-01-01T00:00:01.250Z');
    await ctx.db.query(
      `INSERT INTO deliveries (message_id, device_id, app_id, channel, state) VALUES ($1, $2, $3, 'gateway', 'delivered')`,
      [a, fx.devices[0].device.id, fx.app.app.id],
    );
    await enqueueCallbackEvents(
      ctx.db,
      'delivered',
      [0, 1].map((i) => ({ messageId: a, deviceId: deviceIds()[i] })),
      at,
    );
    await enqueueCallbackEvents(ctx.db, 'clicked', [{ messageId: a, deviceId: deviceIds()[0] }], at);
    await enqueueCallbackEvents(ctx.db, 'delivered', [{ messageId: b, deviceId: deviceIds()[2] }], at);

    const stats = await handler().handle({ batchSize: 500 });

    expect(stats).toEqual({
      claimed: 4,
      posts: 2,
      delivered: 4,
      retrying: 0,
      dropped: 0,
      filtered: 0,
      deferred: 0,
    });
    expect(received.map((r) => r.path).sort()).toEqual(['/hook/a?k=1', '/hook/b']);
    const toA = received.find((r) => r.path.startsWith('/hook/a'))!;
    const toB = received.find((r) => r.path === '/hook/b')!;
    const ts = at.getTime();
    const params = { campaign: 'spring', n: 1 };
    expect(toA.events).toEqual([
      { msg_id: a, registration_id: rid(0), event: 'delivered', channel: 'gateway', timestamp: ts, params },
      { msg_id: a, registration_id: rid(1), event: 'delivered', timestamp: ts, params },
      { msg_id: a, registration_id: rid(0), event: 'clicked', channel: 'gateway', timestamp: ts, params },
    ]);
    expect(toB.events).toEqual([{ msg_id: b, registration_id: rid(2), event: 'delivered', timestamp: ts }]);
    for (const r of received) {
      expect(r.headers['content-type']).toBe('application/json');
      expect(r.headers['x-herald-signature']).toBe(hmac(r.raw));
    }
    expect(await pending()).toBe('0');
    await handler().handle({ batchSize: 500 });
    expect(received).toHaveLength(2);
  });

  it('honours the callback type: unwanted events are never queued, or deleted without a POST', async () => {
    const clicksOnly = await message({ url: `${base}/clicks`, type: 2 });
    const nothing = await message({ url: `${base}/nothing`, type: 0 });
    const withSent = await message({ url: `${base}/sent`, type: 11 });
    const dismissals = await message({ url: `${base}/dismissed`, type: 16 });
    const plain = await message(null);
    const pair = (m: string) => [{ messageId: m, deviceId: deviceIds()[0] }];
    for (const m of [clicksOnly, nothing, withSent, dismissals, plain]) {
      for (const ev of ['sent', 'delivered', 'clicked', 'dismissed'] as const) {
        await enqueueCallbackEvents(ctx.db, ev, pair(m));
      }
    }
    const queued = await ctx.db.query<{ message_id: string; event: string }[]>(
      `SELECT message_id::text, event FROM callback_events ORDER BY id`,
    );
    expect(queued).toEqual([
      { message_id: clicksOnly, event: 'clicked' },
      { message_id: withSent, event: 'sent' },
      { message_id: withSent, event: 'delivered' },
      { message_id: withSent, event: 'clicked' },
      { message_id: dismissals, event: 'dismissed' },
    ]);

    // Rows the producer would have filtered (queued by other means) are dropped by the dispatcher.
    await rawEvent(clicksOnly, 1, 'delivered');
    await rawEvent(nothing, 1, 'clicked');
    const stats = await handler().handle({ batchSize: 500 });
    expect(stats).toMatchObject({ claimed: 7, posts: 3, delivered: 5, filtered: 2 });
    const byPath = Object.fromEntries(received.map((r) => [r.path, r.events.map((e) => e.event)]));
    expect(byPath).toEqual({
      '/clicks': ['clicked'],
      '/sent': ['sent', 'delivered', 'clicked'],
      '/dismissed': ['dismissed'],
    });
    expect(await pending()).toBe('0');
  });

  it('retries a failed POST later with backoff, then delivers it once', async () => {
    const m = await message({ url: `${base}/flaky` });
    await enqueueCallbackEvents(ctx.db, 'delivered', [{ messageId: m, deviceId: deviceIds()[0] }]);
    respond = (_req, res) => res.writeHead(500).end('down');
    const t0 = clock;

    expect(await handler().handle({ batchSize: 500 })).toMatchObject({ posts: 1, delivered: 0, retrying: 1 });
    const [row] = await ctx.db.query<{ attempts: number; next_attempt_at: Date; last_error: string }[]>(
      `SELECT attempts, next_attempt_at, last_error FROM callback_events`,
    );
    expect(row).toEqual({
      attempts: 1,
      next_attempt_at: new Date(t0.getTime() + 30_000),
      last_error: 'HTTP 500',
    });

    // Not due yet: nothing is sent, whatever the endpoint would say.
    respond = (_req, res) => res.writeHead(204).end();
    clock = new Date(t0.getTime() + 29_000);
    expect(await handler().handle({ batchSize: 500 })).toMatchObject({ claimed: 0, posts: 0 });
    expect(received).toHaveLength(1);

    clock = new Date(t0.getTime() + 31_000);
    expect(await handler().handle({ batchSize: 500 })).toMatchObject({ posts: 1, delivered: 1 });
    expect(received).toHaveLength(2);
    expect(received[1].raw).toBe(received[0].raw);
    expect(await pending()).toBe('0');
    clock = new Date(t0.getTime() + 3600_000);
    await handler().handle({ batchSize: 500 });
    expect(received).toHaveLength(2);
  });

  it('counts a redirect or a timeout as a failure, and gives up after the last attempt', async () => {
    const m = await message({ url: `${base}/moved` });
    await enqueueCallbackEvents(ctx.db, 'delivered', [{ messageId: m, deviceId: deviceIds()[0] }]);
    respond = (_req, res) => res.writeHead(302, { Location: `${base}/elsewhere` }).end();
    const h = handler({ maxAttempts: 3, timeoutMs: 300 });
    await h.handle({ batchSize: 500 });
    expect(received.map((r) => r.path)).toEqual(['/moved']);
    const errors = async () =>
      (await ctx.db.query<{ last_error: string }[]>(`SELECT last_error FROM callback_events`)).map(
        (r) => r.last_error,
      );
    expect(await errors()).toEqual(['HTTP 302']);

    respond = () => undefined; // never answers
    clock = new Date(clock.getTime() + 3600_000);
    await h.handle({ batchSize: 500 });
    expect(await errors()).toEqual([expect.stringMatching(/^TimeoutError/)]);

    clock = new Date(clock.getTime() + 3600_000);
    expect(await h.handle({ batchSize: 500 })).toMatchObject({ posts: 1, dropped: 1, retrying: 0 });
    expect(received).toHaveLength(3);
    expect(await pending()).toBe('0');
  });

  it('drops events whose callback can never be sent, without a POST', async () => {
    const badUrl = await message({ url: 'ftp://example.com/x' });
    const [noKey] = await ctx.db.query<{ id: string }[]>(
      `INSERT INTO messages (app_id, request, audience, platforms)
       VALUES ($1, $2, '"all"', '{android}') RETURNING id::text`,
      [fx.app.app.id, JSON.stringify({ callback: { url: `${base}/nokey` } })],
    );
    for (const m of [badUrl, noKey.id]) {
      await enqueueCallbackEvents(ctx.db, 'delivered', [{ messageId: m, deviceId: deviceIds()[0] }]);
    }
    expect(await handler().handle({ batchSize: 500 })).toMatchObject({ claimed: 2, posts: 0, dropped: 2 });
    expect(received).toHaveLength(0);
    expect(await pending()).toBe('0');
  });

  it('never POSTs to a private or reserved address unless the operator allows it, and drops those events', async () => {
    // The test server is on loopback, which the test configuration allows; a deployment does not.
    const strict = new CallbackDispatchHandler(
      ctx.db,
      { ...ctx.config, outboundAllow: [] },
      { now: () => clock, random: () => 0.5 },
    );
    const port = new URL(base).port;
    const urls = [
      `${base}/loopback`,
      `http://localhost:${port}/by-name`,
      `http://0x7f000001:${port}/hex`,
      `http://[::ffff:127.0.0.1]:${port}/mapped`,
      'http://169.254.169.254/latest/meta-data/',
      'http://10.0.0.5/admin',
    ];
    for (const url of urls) {
      await enqueueCallbackEvents(ctx.db, 'delivered', [
        { messageId: await message({ url }), deviceId: deviceIds()[0] },
      ]);
    }
    try {
      expect(await strict.handle({ batchSize: 500 })).toMatchObject({
        claimed: urls.length,
        dropped: urls.length,
        retrying: 0,
      });
    } finally {
      await strict.onModuleDestroy();
    }
    expect(received).toHaveLength(0);
    expect(await pending()).toBe('0');
  });

  it('holds no transaction open while a tenant is slow, and leases what it is sending', async () => {
    const m = await message({ url: `${base}/slow` });
    await enqueueCallbackEvents(ctx.db, 'delivered', [{ messageId: m, deviceId: deviceIds()[0] }]);
    let answer!: () => void;
    const answered = new Promise<void>((r) => (answer = r));
    respond = (_req, res) => void answered.then(() => res.writeHead(200).end());

    const run = handler().handle({ batchSize: 500 });
    while (received.length === 0) await new Promise((r) => setTimeout(r, 10));
    const [open] = await ctx.db.query<{ count: string }[]>(
      `SELECT count(*) FROM pg_stat_activity
        WHERE datname = current_database() AND state LIKE 'idle in transaction%'`,
    );
    expect(open.count).toBe('0');
    // Another dispatcher finds nothing due meanwhile.
    expect(await handler().handle({ batchSize: 500 })).toMatchObject({ claimed: 0 });
    answer();
    expect(await run).toMatchObject({ delivered: 1 });
    expect(received).toHaveLength(1);
  });

  it('never POSTs an event twice when two dispatchers run at once', async () => {
    const messages: string[] = [];
    for (let i = 0; i < 12; i++) messages.push(await message({ url: `${base}/many/${i}` }));
    for (const m of messages) {
      for (const ev of ['delivered', 'clicked'] as const) {
        await enqueueCallbackEvents(
          ctx.db,
          ev,
          deviceIds().map((deviceId) => ({ messageId: m, deviceId })),
        );
      }
    }
    expect(await pending()).toBe(String(12 * 3 * 2));
    respond = (_req, res) => void setTimeout(() => res.writeHead(200).end(), 15);

    const [one, two] = await Promise.all([
      handler({ concurrency: 2 }).handle({ batchSize: 7 }),
      handler({ concurrency: 2 }).handle({ batchSize: 7 }),
    ]);

    const keys = received.flatMap((r) => r.events.map((e) => `${e.msg_id}/${e.registration_id}/${e.event}`));
    expect(keys).toHaveLength(72);
    expect(new Set(keys).size).toBe(72);
    expect(one.delivered + two.delivered).toBe(72);
    expect(one.claimed).toBeGreaterThan(0);
    expect(two.claimed).toBeGreaterThan(0);
    for (const r of received) expect(new Set(r.events.map((e) => e.msg_id)).size).toBe(1);
    expect(await pending()).toBe('0');
  });
  it("claims fairly across apps: one app's backlog keeps no other app's events out of a batch", async () => {
    const flood: string[] = [];
    for (let i = 0; i < 30; i++) flood.push(await message({ url: `${base}/flood/${i}` }));
    await eventsFor(fx.app.app.id, flood);
    const quiet = await message({ url: `${base}/quiet` }, other.app.id);
    await eventsFor(other.app.id, [quiet]); // queued last, behind all 30 of the other app's

    expect(await handler().dispatchBatch(10)).toMatchObject({ claimed: 10, posts: 10, delivered: 10 });
    expect(received.map((r) => r.path)).toContain('/quiet');
    expect(received.filter((r) => r.path.startsWith('/flood/'))).toHaveLength(9);
    expect(await pending()).toBe('21');
  });

  it('a dead endpoint costs a batch one timeout and holds up no other app', async () => {
    const timeoutMs = 800;
    const doomed: string[] = [];
    for (let i = 0; i < 64; i++) doomed.push(await message({ url: `${dead[0]}/hook/${i}` }));
    await eventsFor(fx.app.app.id, doomed);
    const fine = await message({ url: `${base}/fine` }, other.app.id);
    await eventsFor(other.app.id, [fine]);

    const started = Date.now();
    const stats = await handler({ timeoutMs, hostConcurrency: 4 }).dispatchBatch(500);
    const took = Date.now() - started;

    // The other app's POST went out at once, not after the dead endpoint's timeouts…
    expect(received.map((r) => r.path)).toEqual(['/fine']);
    expect(received[0].at - started).toBeLessThan(timeoutMs);
    // …and the batch waited for one round of timeouts, not 64 / 16 of them.
    expect(took).toBeLessThan(2 * timeoutMs);
    expect(deadHits).toBe(4);
    expect(stats).toEqual({
      claimed: 65,
      posts: 5,
      delivered: 1,
      retrying: 4,
      dropped: 0,
      filtered: 0,
      deferred: 60,
    });

    // The four sent are failed attempts; the rest were not sent and lost no attempt, waiting as long.
    const rows = await ctx.db.query<{ attempts: number; next_attempt_at: Date; last_error: string }[]>(
      `SELECT attempts, next_attempt_at, last_error FROM callback_events ORDER BY attempts DESC, id`,
    );
    expect(rows).toHaveLength(64);
    const retryAt = new Date(clock.getTime() + 30_000);
    for (const r of rows.slice(0, 4)) {
      expect(r).toEqual({
        attempts: 1,
        next_attempt_at: retryAt,
        last_error: expect.stringMatching(/^TimeoutError/),
      });
    }
    for (const r of rows.slice(4)) {
      expect(r).toEqual({
        attempts: 0,
        next_attempt_at: retryAt,
        last_error: expect.stringMatching(/^not sent: .* timed out/),
      });
    }
  });

  it('an app with many slow endpoints gets its share of lanes, and the batch ends on time', async () => {
    const timeoutMs = 600;
    const doomed: string[] = [];
    for (let i = 0; i < 20; i++) doomed.push(await message({ url: `${dead[i % dead.length]}/hook/${i}` }));
    await eventsFor(fx.app.app.id, doomed);
    const fine: string[] = [];
    for (let i = 0; i < 3; i++) fine.push(await message({ url: `${base}/fine/${i}` }, other.app.id));
    await eventsFor(other.app.id, fine);

    const started = Date.now();
    const stats = await handler({ timeoutMs, concurrency: 4, budgetMs: 200 }).dispatchBatch(500);
    const took = Date.now() - started;

    expect(received.map((r) => r.path).sort()).toEqual(['/fine/0', '/fine/1', '/fine/2']);
    for (const r of received) expect(r.at - started).toBeLessThan(timeoutMs);
    // Four lanes, one round of timeouts; what had not started by the deadline waits for the next run.
    expect(took).toBeLessThan(2 * timeoutMs);
    expect(stats).toMatchObject({ claimed: 23, delivered: 3, retrying: deadHits, dropped: 0 });
    expect(deadHits).toBeLessThanOrEqual(4);
    expect(stats.deferred).toBe(20 - deadHits);
    const [due] = await ctx.db.query<{ count: string }[]>(
      `SELECT count(*) FROM callback_events WHERE attempts = 0 AND next_attempt_at <= $1`,
      [clock],
    );
    expect(due.count).toBe(String(20 - deadHits));
  });
});
