import type { ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import type { RequestOptions } from 'node:http';
import https from 'node:https';
import type { Duplex } from 'node:stream';
import { connect as netConnect } from 'node:net';
import { join } from 'node:path';
import { WebSocket } from 'ws';
import { EnvelopeCipher } from '@herald/crypto';
import { CredentialStore } from '@herald/push';
import {
  buildAppsOnce,
  createDevice,
  createFakeApnsKey,
  createFakeServiceAccount,
  createTenantFixture,
  createTestContext,
  FakeApnsServer,
  FakeFcmServer,
  freePort,
  spawnApp,
  TEST_MASTER_KEY,
  waitUntil,
  type CreatedDevice,
  type TenantFixture,
  type TestContext,
} from '@herald/testing';

/**
 * The unified push across real processes: the production bundles of the api, two workers and two
 * gateway nodes, the fake APNs and FCM servers speaking the real protocols, raw WebSocket devices,
 * and JPush's own Node server SDK (`jpush-async`, unchanged) with only its host names redirected.
 */
// jpush-async is plain JavaScript without types.
// eslint-disable-next-line @typescript-eslint/no-require-imports
const { JPushAsync: JPush } = require('jpush-async') as {
  JPushAsync: {
    buildClient(appKey: string, secret: string, retry: null, debug: boolean): JPushClient;
    ALL: string;
    alias(...a: string[]): unknown;
    android(alert: string, title: string | null, builderId: number | null): unknown;
    ios(alert: string, sound?: string, badge?: string | number): unknown;
  };
};
interface PushPayload {
  setPlatform(p: unknown): PushPayload;
  setAudience(...a: unknown[]): PushPayload;
  setNotification(...n: unknown[]): PushPayload;
  setMessage(content: string): PushPayload;
  setOptions(sendno: number | null, ttl: number | null, ...rest: unknown[]): PushPayload;
  send(): Promise<{ sendno: string; msg_id: string }>;
  sendValidate(): Promise<Record<string, unknown>>;
}
interface JPushClient {
  push(): PushPayload;
  getDeviceTagAlias(rid: string): Promise<Record<string, unknown>>;
  getReportReceiveds(ids: string): Promise<unknown>;
}

const ROOT = join(__dirname, '../..');
const CA_FILE = join(ROOT, 'libs/testing/src/fakes/certs/ca.pem');
const apnsKey = createFakeApnsKey('com.herald.e2e');
const account = createFakeServiceAccount('herald-e2e');
let ctx: TestContext;
let apns: FakeApnsServer;
let fcm: FakeFcmServer;
let apiPort: number;
const gatewayUrls: string[] = [];
const children: { name: string; child: ChildProcess; output: () => string }[] = [];
const originalAgent = https.globalAgent;

/**
 * JPush's SDK calls `https://{api,device,report}.jpush.cn` through Node's global HTTPS agent: this agent
 * sends those host names to the local api instead (plain HTTP: TLS is the load balancer's job in front
 * of Herald), and everything else where it was going.
 */
class JPushHostsToHerald extends https.Agent {
  override createConnection(
    options: RequestOptions,
    cb?: (err: Error | null, stream: Duplex) => void,
  ): Duplex | null | undefined {
    if (options.host && /(^|\.)jpush\.cn$/.test(options.host)) return netConnect(apiPort, '127.0.0.1');
    return super.createConnection(options, cb);
  }
}

function start(name: string, app: string, env: Record<string, string>) {
  const proc = spawnApp(app, {
    HERALD_LOG_LEVEL: 'info',
    HERALD_MASTER_KEY: TEST_MASTER_KEY,
    DATABASE_URL: ctx.config.database.url,
    HERALD_QUEUE_PREFIX: ctx.namespace,
    HERALD_BIND_HOST: '127.0.0.1',
    HERALD_APNS_ENDPOINT: apns.url,
    HERALD_FCM_ENDPOINT: fcm.url,
    NODE_EXTRA_CA_CERTS: CA_FILE,
    HERALD_SHARD_SIZE: '100',
    HERALD_PUSH_CONCURRENCY: '1',
    HERALD_JOB_LOCK_MS: '2000',
    ...env,
  });
  const entry = { name, ...proc };
  children.push(entry);
  return entry;
}

async function ready(url: string, what: () => string) {
  for (let i = 0; i < 300; i++) {
    const res = await fetch(url).catch(() => undefined);
    if (res?.status === 200) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`never ready: ${url}\n${what()}`);
}

const until = waitUntil;

function startWorker(name: string) {
  const w = start(name, 'worker', {});
  return { ...w, running: () => w.output().includes('workers running') };
}

/** A device on the gateway, speaking the protocol directly, so every frame (duplicates too) is seen. */
class Device {
  readonly msgs: string[] = [];
  private ws?: WebSocket;
  constructor(readonly d: CreatedDevice) {}
  async connect(url: string) {
    this.ws = new WebSocket(url, { headers: { Authorization: this.d.bearer } });
    this.ws.on('message', (data: Buffer) => {
      const f = JSON.parse(data.toString()) as { t: string; id?: string };
      if (f.t === 'msg' && f.id) {
        this.msgs.push(f.id);
        this.ws!.send(JSON.stringify({ t: 'ack', ids: [f.id] }));
      }
    });
    this.ws.on('error', () => undefined);
    await once(this.ws, 'open');
  }
  close() {
    this.ws?.close(1000);
  }
}

let t: TenantFixture;
const online: Device[] = [];
let offline: CreatedDevice[] = [];
let client: JPushClient;

beforeAll(async () => {
  await buildAppsOnce();
  [apns, fcm] = await Promise.all([FakeApnsServer.start(), FakeFcmServer.start()]);
  apns.registerKey(apnsKey);
  fcm.registerServiceAccount(account);
  ctx = await createTestContext();
  t = await createTenantFixture(ctx.db, ctx.config, {
    devices: [
      { channel: 'apns', alias: 'ann', tags: ['news'] },
      { channel: 'apns', tags: ['news'] },
      { channel: 'fcm', alias: 'bob', tags: ['news'] },
      { channel: 'fcm' },
    ],
  });
  const store = new CredentialStore(ctx.db, new EnvelopeCipher(ctx.config.crypto));
  await store.saveApns(t.app.app.id, 'both', { kind: 'token', ...apnsKey }, apnsKey.bundleId);
  await store.saveFcm(t.app.app.id, account);
  const gateway = await Promise.all(
    Array.from({ length: 12 }, () =>
      createDevice(ctx.db, ctx.config, t.app.app, { channel: 'gateway', tags: ['news'] }),
    ),
  );
  offline = gateway.slice(6);

  apiPort = await freePort();
  const api = start('api', 'api', { HERALD_API_PORT: String(apiPort) });
  const nodes = await Promise.all(
    ['a', 'b'].map(async (n) => {
      const port = await freePort();
      const node = start(`gateway-${n}`, 'gateway', {
        HERALD_GATEWAY_PORT: String(port),
        HERALD_GATEWAY_NODE_ID: `e2e-${n}`,
      });
      await ready(`http://127.0.0.1:${port}/readyz`, node.output);
      return `ws://127.0.0.1:${port}/v1/connect`;
    }),
  );
  gatewayUrls.push(...nodes);
  const workers = [startWorker('worker-1'), startWorker('worker-2')];
  await ready(`http://127.0.0.1:${apiPort}/readyz`, api.output);
  await until(() => workers.every((w) => w.running()), 'workers');
  for (const [i, d] of gateway.slice(0, 6).entries()) {
    const dev = new Device(d);
    await dev.connect(gatewayUrls[i % 2]);
    online.push(dev);
  }
  https.globalAgent = new JPushHostsToHerald({ keepAlive: false });
  client = JPush.buildClient(t.app.appKey, t.app.masterSecret, null, false);
}, 180_000);

afterAll(async () => {
  https.globalAgent = originalAgent;
  for (const d of online) d.close();
  for (const c of children) if (c.child.exitCode === null) c.child.kill('SIGKILL');
  await ctx?.close();
  await Promise.all([apns?.close(), fcm?.close()]);
});

const settled = (id: string) =>
  until(async () => {
    const [row] = await ctx.db.query<{ status: string }[]>(`SELECT status FROM messages WHERE id = $1`, [id]);
    return row?.status === 'completed';
  }, `message ${id} to complete`);

async function counters(id: string) {
  const rows = await ctx.db.query<
    { channel: string; targets: string; sent: string; failed: string; delivered: string }[]
  >(
    `SELECT channel, targets::text, sent::text, failed::text, delivered::text FROM message_counters
      WHERE message_id = $1 ORDER BY channel`,
    [id],
  );
  return Object.fromEntries(rows.map(({ channel, ...c }) => [channel, c]));
}

const count = (list: string[], id: string) => list.filter((x) => x === id).length;

it('JPush’s Node SDK, unchanged, pushes to everyone: each device receives it exactly once and the counts are exact', async () => {
  const validated = await client
    .push()
    .setPlatform(JPush.ALL)
    .setAudience(JPush.ALL)
    .setNotification('hello')
    .sendValidate();
  expect(validated).toMatchObject({ audience_size: 16 });

  const res = await client
    .push()
    .setPlatform(JPush.ALL)
    .setAudience(JPush.ALL)
    .setNotification(
      'hello',
      JPush.android('hello android', 'Herald', 1),
      JPush.ios('hello ios', 'default', '+1'),
    )
    .setOptions(42, 3600)
    .send();
  expect(res).toEqual({ sendno: '42', msg_id: expect.stringMatching(/^\d+$/) });
  const id = res.msg_id;
  await settled(id);
  await until(() => online.every((d) => d.msgs.includes(id)), 'every online device');

  const apnsTokens = apns.requests.filter((r) => r.body.includes(`"_hmid":"${id}"`)).map((r) => r.token);
  expect(apnsTokens.sort()).toEqual([t.devices[0].device.token, t.devices[1].device.token].sort());
  const fcmTokens = fcm.requests
    .filter((r) => (r.message.data as Record<string, string>)?._hmid === id)
    .map((r) => r.token);
  expect(fcmTokens.sort()).toEqual([t.devices[2].device.token, t.devices[3].device.token].sort());
  for (const d of online) expect(count(d.msgs, id)).toBe(1);

  // The six offline devices find it waiting when they connect, once.
  const late = offline.slice(0, 2).map((d) => new Device(d));
  for (const [i, d] of late.entries()) await d.connect(gatewayUrls[i % 2]);
  await until(() => late.every((d) => d.msgs.includes(id)), 'offline devices after connecting');
  await until(async () => (await counters(id)).gateway?.delivered === '8', 'acks in the ledger');
  for (const d of late) {
    expect(count(d.msgs, id)).toBe(1);
    d.close();
  }
  expect(await counters(id)).toEqual({
    apns: { targets: '2', sent: '2', failed: '0', delivered: '0' },
    fcm: { targets: '2', sent: '2', failed: '0', delivered: '0' },
    gateway: { targets: '12', sent: '12', failed: '0', delivered: '8' },
  });

  // The SDK's other calls reach the same server: a device read, and its errors as JPush shapes.
  const tags = await client.getDeviceTagAlias(t.devices[0].device.registrationId);
  expect(tags).toMatchObject({ alias: 'ann', tags: ['news'] });
  await expect(
    client.push().setPlatform(JPush.ALL).setAudience(JPush.alias('nobody')).setNotification('x').send(),
  ).rejects.toThrow(/1011/);
  // This SDK drops the query string of report calls: a clean 1002, not a hang or a 500.
  await expect(client.getReportReceiveds(id)).rejects.toThrow(/1002/);
}, 60_000);

it('a worker killed mid-fan-out: its shard is redelivered, no gateway device gets it twice and none is lost', async () => {
  // 300 more gateway devices and 300 APNs devices, interleaved, in shards of 100; APNs answers slowly
  // so each shard takes a while and the kill lands inside one.
  const more: CreatedDevice[] = [];
  for (let i = 0; i < 300; i++) {
    more.push(await createDevice(ctx.db, ctx.config, t.app.app, { channel: 'gateway', tags: ['wave'] }));
    await createDevice(ctx.db, ctx.config, t.app.app, { channel: 'apns', tags: ['wave'] });
  }
  const watchers = more.slice(0, 10).map((d) => new Device(d));
  for (const [i, d] of watchers.entries()) await d.connect(gatewayUrls[i % 2]);
  apns.setLatency(400);
  try {
    const res = await fetch(`http://127.0.0.1:${apiPort}/v3/push`, {
      method: 'POST',
      headers: { Authorization: t.app.basicAuth, 'Content-Type': 'application/json' },
      body: JSON.stringify({ platform: 'all', audience: { tag: ['wave'] }, notification: { alert: 'wave' } }),
    });
    const { msg_id: id } = (await res.json()) as { msg_id: string };
    // Wait until both workers hold a running shard, then kill the first.
    await until(async () => {
      const [{ n }] = await ctx.db.query<{ n: number }[]>(
        `SELECT count(*)::int AS n FROM message_shards WHERE message_id = $1 AND status = 'running'`,
        [id],
      );
      return n >= 2;
    }, 'two running shards');
    const victim = children.find((c) => c.name === 'worker-1')!;
    victim.child.kill('SIGKILL');
    await once(victim.child, 'exit');
    await settled(id);
    const [{ attempts }] = await ctx.db.query<{ attempts: number }[]>(
      `SELECT max(attempts)::int AS attempts FROM message_shards WHERE message_id = $1`,
      [id],
    );
    expect(attempts).toBeGreaterThanOrEqual(2);
    expect(await counters(id)).toMatchObject({
      apns: { targets: '300', sent: '300', failed: '0' },
      gateway: { targets: '300', sent: '300', failed: '0' },
    });
    const [{ rows }] = await ctx.db.query<{ rows: number }[]>(
      `SELECT count(*)::int AS rows FROM deliveries WHERE message_id = $1`,
      [id],
    );
    expect(rows).toBe(600);
    await until(() => watchers.every((d) => d.msgs.includes(id)), 'watchers');
    await new Promise((r) => setTimeout(r, 300));
    for (const d of watchers) expect(count(d.msgs, id)).toBe(1);
    // Every offline device's inbox holds it exactly once.
    const late = more.slice(10, 20).map((d) => new Device(d));
    for (const [i, d] of late.entries()) await d.connect(gatewayUrls[i % 2]);
    await until(() => late.every((d) => d.msgs.includes(id)), 'late devices');
    await new Promise((r) => setTimeout(r, 300));
    for (const d of [...late, ...watchers]) {
      expect(count(d.msgs, id)).toBe(1);
      d.close();
    }
  } finally {
    apns.setLatency(0);
  }
}, 120_000);
