import type { INestApplication } from '@nestjs/common';
import { WebSocket } from 'ws';
import { HeraldGatewayClient, type WebSocketConstructor } from '@herald/gateway-client';
import type { MsgFrame } from '@herald/gateway-protocol';
import { GatewayDeliveryAdapter, InboxStore, PresenceReader, type GatewayMessage } from '@herald/providers';
import { recordDropped } from '@herald/push';
import {
  createDevice,
  createTenantFixture,
  createTestContext,
  testConfig,
  type CreatedDevice,
  type TenantFixture,
  type TestContext,
} from '@herald/testing';
import { startGateway } from './gateway.bootstrap';
import { DeviceAuthService } from './device-auth.service';
import { GatewayServer } from './gateway.server';
import { freePort, RawClient, sleep, type Frame } from './gateway.test-kit';

/**
 * Real `ws` clients against two in-process gateway nodes sharing one database and Redis namespace.
 * Timing knobs are shrunk through configuration (heartbeat floor 1 s, grace 1 s, slow grace 0.5 s).
 */
let ctx: TestContext;
let fixture: TenantFixture;
let nodeA: INestApplication;
let nodeB: INestApplication;
let urlA: string;
let urlB: string;
let adapter: GatewayDeliveryAdapter;
let inbox: InboxStore;
const INBOX_MAX = 5;

const env = (ns: string, db: string, node: string, port: number) => ({
  DATABASE_URL: db,
  HERALD_QUEUE_PREFIX: ns,
  HERALD_GATEWAY_NODE_ID: node,
  HERALD_GATEWAY_PORT: String(port),
  HERALD_BIND_HOST: '127.0.0.1',
  HERALD_GATEWAY_INBOX_MAX: String(INBOX_MAX),
  HERALD_GATEWAY_MIN_HEARTBEAT_SECONDS: '1',
  HERALD_GATEWAY_IDLE_GRACE_SECONDS: '1',
  HERALD_GATEWAY_HELLO_TIMEOUT_MS: '1500',
  HERALD_GATEWAY_SLOW_BYTES: '65536',
  HERALD_GATEWAY_SLOW_GRACE_MS: '500',
  HERALD_GATEWAY_PRESENCE_TTL_SECONDS: '30',
  HERALD_LOG_LEVEL: 'error',
});

async function startNode(node: string): Promise<[INestApplication, string]> {
  const port = await freePort();
  const app = await startGateway(testConfig(env(ctx.namespace, ctx.config.database.url, node, port)), node);
  return [app, `ws://127.0.0.1:${port}/v1/connect`];
}

beforeAll(async () => {
  ctx = await createTestContext();
  fixture = await createTenantFixture(ctx.db, ctx.config);
  [nodeA, urlA] = await startNode('node-a');
  [nodeB, urlB] = await startNode('node-b');
  adapter = new GatewayDeliveryAdapter(ctx.redis, { prefix: ctx.namespace, inboxMax: INBOX_MAX });
  inbox = new InboxStore(ctx.redis, ctx.namespace);
}, 30_000);

afterAll(async () => {
  await nodeA?.close();
  await nodeB?.close();
  await ctx?.close();
});

const device = (): Promise<CreatedDevice> =>
  createDevice(ctx.db, ctx.config, fixture.app.app, { channel: 'gateway' });

/** A message row, so acks and events can land in the ledger (deliveries references messages). */
async function message(ttl = 3600, extra: Partial<GatewayMessage> = {}): Promise<GatewayMessage> {
  const [row] = await ctx.db.query<{ id: string }[]>(
    `INSERT INTO messages (app_id, request, audience, platforms, time_to_live) VALUES ($1, '{}', '"all"', '{android}', $2) RETURNING id`,
    [fixture.app.app.id, ttl],
  );
  return {
    id: String(row.id),
    kind: 'notification',
    body: { alert: `hi ${row.id}` },
    sentAt: Date.now(),
    timeToLive: ttl,
    ...extra,
  };
}

async function connect(url: string, d: CreatedDevice, hb?: number): Promise<RawClient> {
  const c = await RawClient.open(hb ? `${url}?hb=${hb}` : url, { Authorization: d.bearer });
  await c.until((f) => f.some((x) => x.t === 'welcome'));
  return c;
}

async function closeClient(c: RawClient) {
  c.ws.close(1000);
  await c.closed;
}

const byeThenClose = async (c: RawClient, reason: string, code: number) => {
  await expect(c.closed).resolves.toEqual({ code });
  expect(c.frames.at(-1)).toEqual({ t: 'bye', reason });
};

describe('authentication', () => {
  it('welcomes a device authenticated by header, proposing 240 s when nothing is known', async () => {
    const d = await device();
    const c = await connect(urlA, d);
    expect(c.of('welcome')[0]).toMatchObject({ t: 'welcome', hb: 240, server_time: expect.any(Number) });
    await closeClient(c);
  });

  it('authenticates with a hello frame and takes its proposed heartbeat', async () => {
    const d = await device();
    const c = await RawClient.open(urlB);
    c.send({ t: 'hello', rid: d.device.registrationId, secret: d.deviceSecret, hb: 90, sdk: 'test/1' });
    await c.until((f) => f.some((x) => x.t === 'welcome'));
    expect(c.of('welcome')[0].hb).toBe(90);
    await closeClient(c);
  });

  it('holds what a client sends while its credentials are checked, and answers it after welcome', async () => {
    const d = await device();
    // Header auth: the client may talk as soon as the socket is open (the lookup is still running).
    const ws = new WebSocket(urlA, { headers: { Authorization: d.bearer } });
    const c = new RawClient(ws);
    ws.on('open', () => ws.send('{"t":"ping"}'));
    await c.until((f) => f.some((x) => x.t === 'pong'));
    expect(c.frames.map((f) => f.t)).toEqual(['welcome', 'pong']);
    // hello auth: an ack right behind the hello.
    const h = await RawClient.open(urlB);
    h.send({ t: 'hello', rid: d.device.registrationId, secret: d.deviceSecret });
    h.send({ t: 'ping' });
    await h.until((f) => f.some((x) => x.t === 'pong'));
    expect(h.frames.map((f) => f.t)).toEqual(['welcome', 'pong']);
    // The first connection was replaced by the second (on another node).
    await expect(c.closed).resolves.toEqual({ code: 4002 });
    await closeClient(h);
  });

  it('takes any hb a hello proposes, clamped as the query parameter is, and a bad frame is 4004 even before welcome', async () => {
    const d = await device();
    const c = await RawClient.open(urlA);
    c.send({ t: 'hello', rid: d.device.registrationId, secret: d.deviceSecret, hb: 45.5 });
    await c.until((f) => f.some((x) => x.t === 'welcome'));
    expect(c.of('welcome')[0].hb).toBe(46);
    await closeClient(c);
    const bad = await RawClient.open(urlA);
    bad.send('hello?');
    await byeThenClose(bad, 'protocol_error', 4004);
  });

  it('closes 1013 (try again later), not 4001, when the device cannot be looked up', async () => {
    const d = await device();
    const auth = nodeA.get(DeviceAuthService);
    const verify = auth.verify.bind(auth);
    auth.verify = () => Promise.reject(new Error('database unavailable'));
    try {
      const c = await RawClient.open(urlA, { Authorization: d.bearer });
      await expect(c.closed).resolves.toEqual({ code: 1013 });
      expect(c.of('bye')).toEqual([]);
    } finally {
      auth.verify = verify;
    }
  });

  it('closes 4001 with bye auth_failed on a wrong secret, an unknown device, or no hello in time', async () => {
    const d = await device();
    const wrong = await RawClient.open(urlA, { Authorization: `Bearer ${d.device.registrationId}:nope` });
    await byeThenClose(wrong, 'auth_failed', 4001);
    const unknown = await RawClient.open(urlA);
    unknown.send({ t: 'hello', rid: 'nobody', secret: 'x' });
    await byeThenClose(unknown, 'auth_failed', 4001);
    const silent = await RawClient.open(urlA);
    await byeThenClose(silent, 'auth_failed', 4001);
  });
});

describe('protocol errors', () => {
  it.each([
    ['unknown t', '{"t":"dance"}'],
    ['not JSON', 'hello?'],
    ['a frame over 64 KiB', JSON.stringify({ t: 'ping', pad: 'x'.repeat(70_000) })],
  ])('closes 4004 on %s', async (_name, text) => {
    const c = await connect(urlA, await device());
    c.send(text);
    await byeThenClose(c, 'protocol_error', 4004);
  });

  it('answers an application ping with pong', async () => {
    const c = await connect(urlA, await device());
    c.send({ t: 'ping' });
    await c.until((f) => f.some((x) => x.t === 'pong'));
    await closeClient(c);
  });

  it('closes 4003 after 2 × hb + grace with nothing from the client, not before', async () => {
    const c = await connect(urlA, await device(), 1);
    expect(c.of('welcome')[0].hb).toBe(1);
    const kept = await connect(urlA, await device(), 1);
    const pinger = setInterval(() => kept.ws.ping(), 500);
    await byeThenClose(c, 'idle', 4003);
    expect(kept.ws.readyState).toBe(WebSocket.OPEN);
    clearInterval(pinger);
    await closeClient(kept);
  }, 15_000);
});

describe('delivery', () => {
  it('keeps messages for an offline device and delivers them in order on connect; acks count once', async () => {
    const d = await device();
    const rid = d.device.registrationId;
    const msgs = [await message(), await message(), await message()];
    msgs.forEach((m, i) => (m.sentAt = Date.now() + i));
    for (const m of [msgs[2], msgs[0], msgs[1]]) {
      expect(await adapter.deliver(m, [rid])).toEqual([{ kind: 'sent' }]);
    }
    // Idempotent: a retried shard inserts nothing new.
    await adapter.deliver(msgs[0], [rid]);
    const c = await connect(urlB, d);
    await c.until((f) => f.filter((x) => x.t === 'msg').length === 3);
    expect(c.msgIds()).toEqual(msgs.map((m) => m.id));
    expect(c.of('msg')[0]).toMatchObject({
      kind: 'notification',
      body: { alert: `hi ${msgs[0].id}` },
      sent_at: msgs[0].sentAt,
      expires_at: msgs[0].sentAt + 3_600_000,
    });
    c.send({ t: 'ack', ids: msgs.map((m) => m.id) });
    c.send({ t: 'ack', ids: [msgs[0].id] });
    await waitFor(async () => (await delivered(msgs[0].id)) === '1' && (await inbox.size(rid)) === 0);
    const [row] = await ctx.db.query<{ state: string; delivered_at: Date }[]>(
      `SELECT state, delivered_at FROM deliveries WHERE message_id = $1 AND device_id = $2`,
      [msgs[0].id, d.device.id],
    );
    expect(row.state).toBe('delivered');
    expect(row.delivered_at).toBeInstanceOf(Date);
    // After an ack, the same message id is never stored again.
    await adapter.deliver(msgs[0], [rid]);
    expect(await inbox.size(rid)).toBe(0);
    await sleep(100);
    expect(await delivered(msgs[0].id)).toBe('1');
    await closeClient(c);
  });

  it('a message kept for several offline devices (its frame stored once) reaches each whole on connect', async () => {
    const devices = [await device(), await device(), await device()];
    const rids = devices.map((d) => d.device.registrationId);
    const m = await message();
    expect(await adapter.deliver(m, rids)).toEqual(rids.map(() => ({ kind: 'sent' })));
    expect(await ctx.redis.hget(inbox.keys.device(rids[0]).frames, m.id)).toMatch(/^@/);
    const clients = [
      await connect(urlA, devices[0]),
      await connect(urlB, devices[1]),
      await connect(urlA, devices[2]),
    ];
    for (const c of clients) {
      await c.until((f) => f.some((x) => x.t === 'msg'));
      expect(c.of('msg')).toEqual([
        {
          t: 'msg',
          id: m.id,
          kind: 'notification',
          body: { alert: `hi ${m.id}` },
          sent_at: m.sentAt,
          expires_at: m.sentAt + 3_600_000,
        },
      ]);
      await closeClient(c);
    }
  });

  it('an entry whose shared frame was lost leaves the inbox and does not hold back the ones after it', async () => {
    const d = await device();
    const rid = d.device.registrationId;
    const other = (await device()).device.registrationId;
    const big = new GatewayDeliveryAdapter(ctx.redis, { prefix: ctx.namespace, inboxMax: 100 });
    const ids: string[] = [];
    for (let i = 0; i < 34; i++) {
      const m = await message(3600, { sentAt: Date.now() + i });
      ids.push(m.id);
      await big.deliver(m, [rid, other]); // two devices: the frame is stored once
    }
    const ref = (await ctx.redis.hget(inbox.keys.device(rid).frames, ids[0]))!;
    await ctx.redis.del(inbox.keys.frame(ids[0], ref.slice(1)));
    // The ledger as the worker left it: the lost message sent to this device.
    await ctx.db.query(
      `INSERT INTO deliveries (message_id, device_id, app_id, channel, state, sent_at)
       VALUES ($1, $2, $3, 'gateway', 'sent', now())`,
      [ids[0], d.device.id, fixture.app.app.id],
    );
    await ctx.db.query(
      `INSERT INTO message_counters (message_id, channel, targets, sent) VALUES ($1, 'gateway', 2, 2)`,
      [ids[0]],
    );
    const c = await connect(urlA, d);
    await c.until((f) => f.filter((x) => x.t === 'msg').length === 32);
    c.send({ t: 'ack', ids: c.msgIds() });
    await c.until((f) => f.filter((x) => x.t === 'msg').length === 33);
    expect(c.msgIds()).toEqual(ids.slice(1));
    c.send({ t: 'ack', ids: ids.slice(33) });
    await waitFor(async () => (await inbox.size(rid)) === 0);
    // Honest about it: failed with its reason, counted failed instead of sent.
    const [row] = await ctx.db.query<{ state: string; reason: string }[]>(
      `SELECT state, reason FROM deliveries WHERE message_id = $1 AND device_id = $2`,
      [ids[0], d.device.id],
    );
    expect(row).toEqual({ state: 'failed', reason: 'frame_lost' });
    const [counts] = await ctx.db.query<{ sent: string; failed: string }[]>(
      `SELECT sent::text, failed::text FROM message_counters WHERE message_id = $1 AND channel = 'gateway'`,
      [ids[0]],
    );
    expect(counts).toEqual({ sent: '1', failed: '1' });
    const failures = await ctx.db.query<{ reason: string; count: string }[]>(
      `SELECT reason, count::text FROM message_failures WHERE message_id = $1`,
      [ids[0]],
    );
    expect(failures).toEqual([{ reason: 'frame_lost', count: '1' }]);
    await closeClient(c);
  });

  it('a fetch that failed (a shared frame Redis could not read) is retried by the node, not left for the next ring', async () => {
    const d = await device();
    const rid = d.device.registrationId;
    const other = (await device()).device.registrationId;
    const m = await message();
    await adapter.deliver(m, [rid, other]);
    const key = inbox.keys.frame(m.id, (await ctx.redis.hget(inbox.keys.device(rid).frames, m.id))!.slice(1));
    const frame = (await ctx.redis.get(key))!;
    // A key of the wrong type: GET fails (WRONGTYPE), as it would on a Redis error.
    await ctx.redis.del(key);
    await ctx.redis.hset(key, 'x', 'y');
    const c = await connect(urlA, d);
    // The node's first fetch marked the entry offered and then failed to read its frame.
    await waitFor(async () => (await ctx.redis.hexists(inbox.keys.device(rid).frames, `o:${m.id}`)) === 1);
    await sleep(100);
    expect(c.of('msg')).toEqual([]);
    await ctx.redis.del(key);
    await ctx.redis.set(key, frame, 'PX', 60_000);
    await c.until((f) => f.some((x) => x.t === 'msg' && x.id === m.id), 5_000);
    expect(c.msgIds()).toEqual([m.id]);
    await closeClient(c);
  });

  it('a broken shared frame of a message already in flight does not hold back newer ones', async () => {
    const d = await device();
    const rid = d.device.registrationId;
    const other = (await device()).device.registrationId;
    const c = await connect(urlA, d);
    const w = await message(3600, { sentAt: Date.now() });
    await adapter.deliver(w, [rid]);
    await c.until((f) => f.some((x) => x.id === w.id));
    c.send({ t: 'ack', ids: [w.id] });
    await waitFor(async () => (await inbox.size(rid)) === 0);
    // X goes out at once (the ring carries it) and stays unacknowledged; its shared frame then breaks.
    const x = await message(3600, { sentAt: Date.now() + 1 });
    await adapter.deliver(x, [rid, other]);
    await c.until((f) => f.some((m) => m.id === x.id));
    const key = inbox.keys.frame(x.id, (await ctx.redis.hget(inbox.keys.device(rid).frames, x.id))!.slice(1));
    await ctx.redis.del(key);
    await ctx.redis.hset(key, 'x', 'y');
    // Y replaces the acknowledged W, so the node fetches for it; the fetch returns X too, in flight,
    // whose frame it needs no more.
    const y = await message(3600, { sentAt: Date.now() + 2, overrideMsgId: w.id });
    await adapter.deliver(y, [rid]);
    await c.until((f) => f.some((m) => m.id === y.id));
    const z = await message(3600, { sentAt: Date.now() + 3 });
    await adapter.deliver(z, [rid]);
    await c.until((f) => f.filter((m) => m.t === 'msg').length === 4);
    expect(c.msgIds()).toEqual([w.id, x.id, y.id, z.id]);
    await ctx.redis.del(key);
    await closeClient(c);
  });

  it('a connection whose setup failed in Redis still gets its waiting messages, from the sweep', async () => {
    const d = await device();
    const rid = d.device.registrationId;
    const m = await message();
    await adapter.deliver(m, [rid]);
    // The presence key of the wrong type: the claim at connect fails (WRONGTYPE), before any fetch.
    const key = inbox.keys.device(rid).presence;
    await ctx.redis.hset(key, 'x', 'y');
    try {
      const c = await connect(urlA, d);
      await c.until((f) => f.some((x) => x.t === 'msg' && x.id === m.id), 5_000);
      await closeClient(c);
    } finally {
      await ctx.redis.del(key);
    }
  });

  /** A handle on node A's internals, to hold a fetch at the point where its race happens. */
  interface ServerInternals {
    byRid: Map<
      string,
      { inflight: Set<string> | null; presenceDue: number; pumping: boolean; primed: boolean }
    >;
    inbox: { resolveFrames: (...a: unknown[]) => Promise<unknown> };
    presence: { restore: (...a: unknown[]) => Promise<unknown> };
    pump(conn: unknown): Promise<void>;
    sweep(): void;
  }
  const serverA = () => nodeA.get<GatewayServer, ServerInternals>(GatewayServer);

  /** A device connected to node A whose first fetch is done, with the node's handle on its connection. */
  async function settledOnA() {
    const server = serverA();
    const d = await device();
    const rid = d.device.registrationId;
    const c = await connect(urlA, d);
    const conn = server.byRid.get(rid)!;
    await waitFor(async () => conn.primed && !conn.pumping);
    return { server, rid, c, conn };
  }

  /**
   * Makes the node's next fetch stop after Redis answered it (before it sends anything) until the
   * returned `release` is called; `reached` resolves once it stopped there.
   */
  function holdNextFetch(server: ServerInternals) {
    const original = server.inbox.resolveFrames;
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    let reached!: () => void;
    const stopped = new Promise<void>((r) => (reached = r));
    server.inbox.resolveFrames = async (...args: unknown[]) => {
      server.inbox.resolveFrames = original;
      reached();
      await gate;
      return original.apply(server.inbox, args);
    };
    return { reached: stopped, release, restore: () => (server.inbox.resolveFrames = original) };
  }

  it('a fetch that read the inbox before a lapsed claim was put back cannot let a newer message overtake the stranded one', async () => {
    const { server, rid, c, conn } = await settledOnA();
    const hold = holdNextFetch(server);
    const originalRestore = server.presence.restore;
    const newer = await message(3600, { sentAt: Date.now() + 10_000 });
    try {
      // A fetch reads the (empty) inbox and is held before it finishes.
      const fetch = server.pump(conn);
      await hold.reached;
      // Meanwhile the claim lapses and a message is stored: it rings no node.
      await ctx.redis.del(inbox.keys.device(rid).presence);
      const stranded = await message();
      await adapter.deliver(stranded, [rid]);
      // The refresh finds the claim gone and puts it back. Before its reply is handled here, the held
      // fetch finishes and a newer message rings this node (its push arrives first).
      server.presence.restore = async (...args: unknown[]) => {
        const result = await originalRestore.apply(server.presence, args);
        hold.release();
        await sleep(50);
        await adapter.deliver(newer, [rid]);
        await sleep(100);
        return result;
      };
      conn.presenceDue = 0;
      server.sweep();
      await fetch;
      await c.until((f) => f.filter((m) => m.t === 'msg').length === 2);
      expect(c.msgIds()).toEqual([stranded.id, newer.id]);
      await closeClient(c);
    } finally {
      hold.restore();
      server.presence.restore = originalRestore;
    }
  });

  it('an entry acknowledged while a fetch that read it was held is not sent again', async () => {
    const { server, rid, c, conn } = await settledOnA();
    const first = await message();
    await adapter.deliver(first, [rid]);
    await c.until((f) => f.some((m) => m.t === 'msg' && m.id === first.id));
    const hold = holdNextFetch(server);
    try {
      // In flight and still in the inbox when the fetch reads it.
      const fetch = server.pump(conn);
      await hold.reached;
      c.send({ t: 'ack', ids: [first.id] });
      await waitFor(async () => conn.inflight === null);
      hold.release();
      await fetch;
      const second = await message();
      await adapter.deliver(second, [rid]);
      await c.until((f) => f.some((m) => m.t === 'msg' && m.id === second.id));
      expect(c.msgIds()).toEqual([first.id, second.id]);
      await closeClient(c);
    } finally {
      hold.restore();
    }
  });

  it('rings the node holding an online device', async () => {
    const d = await device();
    const c = await connect(urlA, d);
    const m = await message();
    await adapter.deliver(m, [d.device.registrationId]);
    await c.until((f) => f.some((x) => x.t === 'msg' && x.id === m.id));
    await closeClient(c);
  });

  it('redelivers unacknowledged messages on the next connection, at most 32 in flight', async () => {
    const d = await device();
    const rid = d.device.registrationId;
    const big = new GatewayDeliveryAdapter(ctx.redis, { prefix: ctx.namespace, inboxMax: 100 });
    const ids: string[] = [];
    for (let i = 0; i < 40; i++) {
      const m = await message(3600, { sentAt: Date.now() + i });
      ids.push(m.id);
      await big.deliver(m, [rid]);
    }
    const first = await connect(urlA, d);
    await first.until((f) => f.filter((x) => x.t === 'msg').length === 32);
    await sleep(200);
    expect(first.msgIds()).toEqual(ids.slice(0, 32));
    await closeClient(first);
    const second = await connect(urlB, d);
    await second.until((f) => f.filter((x) => x.t === 'msg').length === 32);
    expect(second.msgIds()).toEqual(ids.slice(0, 32));
    second.send({ t: 'ack', ids: ids.slice(0, 5) });
    await second.until((f) => f.filter((x) => x.t === 'msg').length === 37);
    expect(second.msgIds().slice(32)).toEqual(ids.slice(32, 37));
    await closeClient(second);
  });

  it('sends rung frames to an online device in order, at most 32 in flight, the rest after acks', async () => {
    const d = await device();
    const rid = d.device.registrationId;
    const big = new GatewayDeliveryAdapter(ctx.redis, { prefix: ctx.namespace, inboxMax: 100 });
    const c = await connect(urlA, d);
    const ids: string[] = [];
    for (let i = 0; i < 40; i++) {
      const m = await message(3600, { sentAt: Date.now() + i });
      ids.push(m.id);
      await big.deliver(m, [rid]);
    }
    await c.until((f) => f.filter((x) => x.t === 'msg').length === 32);
    await sleep(200);
    expect(c.msgIds()).toEqual(ids.slice(0, 32));
    expect(c.of('msg')[0]).toMatchObject({
      id: ids[0],
      kind: 'notification',
      body: { alert: `hi ${ids[0]}` },
    });
    c.send({ t: 'ack', ids: ids.slice(0, 10) });
    await c.until((f) => f.filter((x) => x.t === 'msg').length === 40);
    expect(c.msgIds()).toEqual(ids);
    await closeClient(c);
  });

  it('never delivers expired messages, and drops them from the inbox', async () => {
    const d = await device();
    const rid = d.device.registrationId;
    const m = await message(1);
    await adapter.deliver(m, [rid]);
    const live = await message(3600);
    await adapter.deliver(live, [rid]);
    await sleep(1_100);
    const c = await connect(urlA, d);
    await c.until((f) => f.some((x) => x.t === 'msg'));
    await sleep(100);
    expect(c.msgIds()).toEqual([live.id]);
    expect(await inbox.size(rid)).toBe(1);
    await closeClient(c);
  });

  it('offers TTL 0 only to connected devices and never stores it', async () => {
    const online = await device();
    const offline = await device();
    const c = await connect(urlB, online);
    const m = await message(0);
    expect(await adapter.deliver(m, [online.device.registrationId, offline.device.registrationId])).toEqual([
      { kind: 'sent' },
      { kind: 'permanent', reason: 'offline' },
    ]);
    await c.until((f) => f.some((x) => x.t === 'msg' && x.id === m.id));
    expect(await inbox.size(online.device.registrationId)).toBe(0);
    const later = await connect(urlA, offline);
    await sleep(200);
    expect(later.msgIds()).toEqual([]);
    await closeClient(c);
    await closeClient(later);
  });

  it('caps the inbox, dropping the oldest as inbox_full', async () => {
    const d = await device();
    const rid = d.device.registrationId;
    const msgs: GatewayMessage[] = [];
    const dropped: string[] = [];
    for (let i = 0; i < INBOX_MAX + 2; i++) {
      const m = await message(3600, { sentAt: Date.now() + i });
      msgs.push(m);
      const r = await adapter.send(m, [rid]);
      dropped.push(...r.dropped.map((x) => `${x.messageId}:${x.reason}`));
    }
    expect(dropped).toEqual([`${msgs[0].id}:inbox_full`, `${msgs[1].id}:inbox_full`]);
    const c = await connect(urlA, d);
    await c.until((f) => f.filter((x) => x.t === 'msg').length === INBOX_MAX);
    expect(c.msgIds()).toEqual(msgs.slice(2).map((m) => m.id));
    await closeClient(c);
  });

  it('override replaces an undelivered message, or carries replaces when it was delivered', async () => {
    const d = await device();
    const rid = d.device.registrationId;
    const old = await message();
    await adapter.deliver(old, [rid]);
    const newer = await message(3600, { overrideMsgId: old.id });
    await adapter.deliver(newer, [rid]);
    const c = await connect(urlA, d);
    await c.until((f) => f.some((x) => x.t === 'msg'));
    await sleep(100);
    expect(c.of('msg')).toEqual([expect.objectContaining({ id: newer.id })]);
    expect(c.of('msg')[0].replaces).toBeUndefined();
    c.send({ t: 'ack', ids: [newer.id] });
    await waitFor(async () => (await inbox.size(rid)) === 0);
    const third = await message(3600, { overrideMsgId: newer.id });
    await adapter.deliver(third, [rid]);
    await c.until((f) => f.some((x) => x.id === third.id));
    expect(c.of('msg').at(-1)).toMatchObject({ id: third.id, replaces: newer.id });
    await closeClient(c);
  });

  it('recall removes undelivered copies and sends recall to devices that have it', async () => {
    const has = await device();
    const offlineHas = await device();
    const waiting = await device();
    const m = await message();
    const c = await connect(urlA, has);
    const o = await connect(urlB, offlineHas);
    await adapter.deliver(m, [
      has.device.registrationId,
      offlineHas.device.registrationId,
      waiting.device.registrationId,
    ]);
    await c.until((f) => f.some((x) => x.id === m.id));
    await o.until((f) => f.some((x) => x.id === m.id));
    o.send({ t: 'ack', ids: [m.id] });
    await sleep(100);
    await closeClient(o);
    expect(
      await adapter.recall(m.id, [
        has.device.registrationId,
        offlineHas.device.registrationId,
        waiting.device.registrationId,
      ]),
    ).toEqual(['had', 'had', 'removed']);
    await c.until((f) => f.some((x) => x.t === 'recall' && x.id === m.id));
    const back = await connect(urlA, offlineHas);
    await back.until((f) => f.some((x) => x.t === 'recall' && x.id === m.id));
    const w = await connect(urlB, waiting);
    await sleep(200);
    expect(w.frames.filter((f) => f.t !== 'welcome')).toEqual([]);
    for (const x of [c, back, w]) await closeClient(x);
  });
});

describe('receipts and presence', () => {
  it('counts an opened event once as a click', async () => {
    const d = await device();
    const m = await message();
    await adapter.deliver(m, [d.device.registrationId]);
    const c = await connect(urlA, d);
    await c.until((f) => f.some((x) => x.id === m.id));
    c.send({ t: 'ack', ids: [m.id] });
    c.send({ t: 'event', id: m.id, ev: 'opened' });
    c.send({ t: 'event', id: m.id, ev: 'opened' });
    c.send({ t: 'event', id: m.id, ev: 'dismissed' });
    await waitFor(async () => {
      const rows = await ctx.db.query<Record<string, string>[]>(
        `SELECT delivered, clicked, dismissed FROM message_counters WHERE message_id = $1 AND channel = 'gateway'`,
        [m.id],
      );
      return rows[0]?.clicked === '1' && rows[0]?.dismissed === '1' && rows[0]?.delivered === '1';
    });
    await sleep(150);
    const [counters] = await ctx.db.query<Record<string, string>[]>(
      `SELECT delivered, clicked FROM message_counters WHERE message_id = $1`,
      [m.id],
    );
    expect(counters).toEqual({ delivered: '1', clicked: '1' });
    await closeClient(c);
  });

  it('counts nothing for an ack or an open of a message sent to another device', async () => {
    const a = await device();
    const b = await device();
    const m = await message();
    await adapter.deliver(m, [a.device.registrationId]);
    const c = await connect(urlA, b);
    c.send({ t: 'ack', ids: [m.id] });
    c.send({ t: 'event', id: m.id, ev: 'opened' });
    c.send({ t: 'ping' });
    await c.until((f) => f.some((x) => x.t === 'pong'));
    await nodeA.get(GatewayServer)['receipts'].flush();
    await sleep(200); // the event's own write
    expect(await ctx.db.query(`SELECT device_id FROM deliveries WHERE message_id = $1`, [m.id])).toEqual([]);
    expect(await counters(m.id)).toBeUndefined();
    // The connection stays open, and A's copy is still waiting for A.
    expect(c.ws.readyState).toBe(WebSocket.OPEN);
    expect(await inbox.size(a.device.registrationId)).toBe(1);
    await closeClient(c);
  });

  it('an entry pushed out of the inbox (inbox_full) while in flight, then acked, is delivered, not failed', async () => {
    const d = await device();
    const rid = d.device.registrationId;
    const c = await connect(urlA, d);
    const msgs: GatewayMessage[] = [];
    for (let i = 0; i <= INBOX_MAX; i++) {
      const m = await message(3600, { sentAt: Date.now() + i });
      msgs.push(m);
      // The worker's ledger row and counts for a copy written to the inbox.
      await ctx.db.query(
        `INSERT INTO deliveries (message_id, device_id, app_id, channel, state, sent_at)
         VALUES ($1, $2, $3, 'gateway', 'sent', now())`,
        [m.id, d.device.id, fixture.app.app.id],
      );
      await ctx.db.query(
        `INSERT INTO message_counters (message_id, channel, targets, sent) VALUES ($1, 'gateway', 1, 1)`,
        [m.id],
      );
      const { dropped } = await adapter.send(m, [rid]);
      await recordDropped(
        ctx.db,
        dropped.map((x) => ({ messageId: x.messageId, deviceId: d.device.id, reason: x.reason })),
      );
      await c.until((f) => f.some((x) => x.id === m.id));
    }
    expect(await counters(msgs[0].id)).toMatchObject({ sent: '0', failed: '1', delivered: '0' });
    c.send({ t: 'ack', ids: c.msgIds() });
    c.send({ t: 'event', id: msgs[0].id, ev: 'opened' });
    await waitFor(async () => (await counters(msgs[0].id))?.clicked === '1');
    await nodeA.get(GatewayServer)['receipts'].flush();
    for (const m of msgs) {
      expect(await counters(m.id)).toEqual({
        targets: '1',
        sent: '1',
        failed: '0',
        delivered: '1',
        clicked: m === msgs[0] ? '1' : '0',
      });
    }
    await closeClient(c);
  });

  it('counts the ack of a TTL 0 message (sent straight to the connection, never stored) delivered', async () => {
    const d = await device();
    const c = await connect(urlB, d);
    const m = await message(0);
    await adapter.deliver(m, [d.device.registrationId]);
    await c.until((f) => f.some((x) => x.id === m.id));
    c.send({ t: 'ack', ids: [m.id] });
    await waitFor(async () => (await delivered(m.id)) === '1');
    await closeClient(c);
  });

  it('keeps the presence claim of a connected device alive past its TTL, refreshing it from the sweep', async () => {
    const port = await freePort();
    const short = await startGateway(
      testConfig({
        ...env(ctx.namespace, ctx.config.database.url, 'node-ttl', port),
        HERALD_GATEWAY_PRESENCE_TTL_SECONDS: '3',
      }),
      'node-ttl',
    );
    try {
      const d = await device();
      const c = await connect(`ws://127.0.0.1:${port}/v1/connect`, d);
      const key = inbox.keys.device(d.device.registrationId).presence;
      const claim = await ctx.redis.get(key);
      expect(claim).toMatch(/^node-ttl\|/);
      expect(await ctx.redis.pttl(key)).toBeLessThanOrEqual(3_000);
      await sleep(4_500);
      expect(await ctx.redis.get(key)).toBe(claim);
      expect(await ctx.redis.pttl(key)).toBeGreaterThan(0);
      // A claim that lapsed (here: deleted) is put back by the next refresh; what was stored while it
      // was gone rang no node, and reaches the device then, before anything newer.
      await ctx.redis.del(key);
      const stranded = await message(3600, { sentAt: Date.now() });
      await adapter.deliver(stranded, [d.device.registrationId]);
      await waitFor(async () => (await ctx.redis.get(key)) === claim, 3_000);
      const newer = await message(3600, { sentAt: Date.now() + 1 });
      await adapter.deliver(newer, [d.device.registrationId]);
      await c.until((f) => f.filter((m) => m.t === 'msg').length === 2);
      expect(c.msgIds()).toEqual([stranded.id, newer.id]);
      await closeClient(c);
    } finally {
      await short.close();
    }
  }, 15_000);

  it('reports presence for /v3/devices/status', async () => {
    const d = await device();
    const reader = new PresenceReader(ctx.redis, ctx.namespace);
    const rid = d.device.registrationId;
    expect((await reader.status([rid])).get(rid)).toEqual({ online: false, lastOnlineTime: null });
    const c = await connect(urlA, d);
    await waitFor(async () => (await reader.status([rid])).get(rid)!.online);
    await closeClient(c);
    await waitFor(async () => !(await reader.status([rid])).get(rid)!.online);
    expect((await reader.status([rid])).get(rid)!.lastOnlineTime).toBeInstanceOf(Date);
    await waitFor(async () => {
      const [row] = await ctx.db.query<{ last_seen_at: Date | null }[]>(
        `SELECT last_seen_at FROM devices WHERE id = $1`,
        [d.device.id],
      );
      return row.last_seen_at !== null;
    });
  });

  it('proposes the heartbeat remembered in the database when the client proposes none', async () => {
    const d = await device();
    await ctx.db.query(`UPDATE devices SET stable_heartbeat = 150 WHERE id = $1`, [d.device.id]);
    const c = await connect(urlB, d);
    expect(c.of('welcome')[0].hb).toBe(150);
    await closeClient(c);
  });

  it('remembers the heartbeat that held (within the contract bounds) and proposes it next time', async () => {
    const d = await device();
    const c = await connect(urlA, d, 2);
    // Idle for the whole interval, then the client's ping: the connection survived it.
    await sleep(2_000);
    c.ws.ping();
    await sleep(200);
    await closeClient(c);
    await waitFor(async () => {
      const [row] = await ctx.db.query<{ stable_heartbeat: number | null }[]>(
        `SELECT stable_heartbeat FROM devices WHERE id = $1`,
        [d.device.id],
      );
      return row.stable_heartbeat === 30;
    });
    // The cache of node A knows it too; node B reads it from the database.
    for (const url of [urlA, urlB]) {
      const again = await connect(url, d);
      expect(again.of('welcome')[0].hb).toBe(30);
      await closeClient(again);
    }
  });
});

describe('the heartbeat that held', () => {
  it('is not recorded for a connection that went silent and was closed idle (it never held)', async () => {
    const d = await device();
    const c = await connect(urlA, d, 2);
    await byeThenClose(c, 'idle', 4003);
    const [row] = await ctx.db.query<{ stable_heartbeat: number | null }[]>(
      `SELECT stable_heartbeat FROM devices WHERE id = $1`,
      [d.device.id],
    );
    expect(row.stable_heartbeat).toBeNull();
  }, 15_000);
});

describe('moving between nodes', () => {
  it('a second connection on another node replaces the first (4002) and gets the inbox', async () => {
    const d = await device();
    const first = await connect(urlA, d);
    const second = await connect(urlB, d);
    await byeThenClose(first, 'replaced', 4002);
    const m = await message();
    await adapter.deliver(m, [d.device.registrationId]);
    await second.until((f) => f.some((x) => x.id === m.id));
    const third = await connect(urlB, d);
    await byeThenClose(second, 'replaced', 4002);
    await closeClient(third);
  });

  it('closes 4005 a client that never reads', async () => {
    const d = await device();
    const c = await connect(urlA, d);
    (c.ws as unknown as { _socket: { pause(): void; resume(): void } })._socket.pause();
    const body = { alert: 'x'.repeat(60_000) };
    for (let i = 0; i < 150; i++)
      await adapter.deliver({ ...(await message(0)), body }, [d.device.registrationId]);
    await sleep(2_500);
    (c.ws as unknown as { _socket: { resume(): void } })._socket.resume();
    await expect(c.closed).resolves.toEqual({ code: 4005 });
    expect(c.frames.at(-1)).toEqual({ t: 'bye', reason: 'too_slow' });
  }, 20_000);
});

describe('the reference client', () => {
  it('receives, de-duplicates and acks; on shutdown (1001) it reconnects elsewhere and gets the rest', async () => {
    const d = await device();
    const rid = d.device.registrationId;
    const started = await startNode('node-c');
    let nodeC: INestApplication | undefined = started[0];
    const urlC = started[1];
    const urls = [urlC, urlB];
    const got: MsgFrame[] = [];
    const states: (number | undefined)[] = [];
    const client = new HeraldGatewayClient({
      url: () => urls[0],
      registrationId: rid,
      secret: d.deviceSecret,
      WebSocket: WebSocket as unknown as WebSocketConstructor,
      onMessage: (msg) => void got.push(msg),
      onState: (state, detail) => state === 'closed' && states.push(detail?.code),
      reconnect: { baseMs: 50 },
      heartbeat: { initialSeconds: 60 },
    });
    client.start();
    await waitFor(async () => client.connected);
    const m1 = await message();
    await adapter.deliver(m1, [rid]);
    await waitFor(async () => got.length === 1 && (await inbox.size(rid)) === 0);
    // A duplicate id (e.g. a redelivery) reaches the app once.
    await ctx.redis.publish(
      `${ctx.namespace}:gw:node:node-c`,
      `l\n${JSON.stringify({ rids: [rid], frame: JSON.stringify({ t: 'msg', id: m1.id, kind: 'notification', body: {}, sent_at: 1, expires_at: Date.now() + 9e5 }) })}`,
    );
    await sleep(200);
    expect(got.map((g) => g.id)).toEqual([m1.id]);
    urls.shift();
    await nodeC.close();
    nodeC = undefined;
    expect(states[0]).toBe(1001);
    const m2 = await message();
    await adapter.deliver(m2, [rid]);
    await waitFor(async () => got.length === 2);
    expect(got[1].id).toBe(m2.id);
    client.stop();
    expect(urlC).toBeDefined();
  }, 20_000);
});

async function delivered(id: string): Promise<string | undefined> {
  const rows = await ctx.db.query<{ delivered: string }[]>(
    `SELECT delivered FROM message_counters WHERE message_id = $1 AND channel = 'gateway'`,
    [id],
  );
  return rows[0]?.delivered;
}

async function counters(id: string): Promise<Record<string, string> | undefined> {
  const rows = await ctx.db.query<Record<string, string>[]>(
    `SELECT targets, sent, failed, delivered, clicked FROM message_counters WHERE message_id = $1 AND channel = 'gateway'`,
    [id],
  );
  return rows[0];
}

async function waitFor(check: () => Promise<boolean>, timeoutMs = 5_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error('condition not reached in time');
    await sleep(25);
  }
}

export type { Frame };
