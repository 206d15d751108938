import type { ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { join } from 'node:path';
import { WebSocket } from 'ws';
import { EnvelopeCipher } from '@herald/crypto';
import { CredentialStore } from '@herald/push';
import {
  APNS_SCRIPTS,
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
 * Operations across real processes (the production bundles of api, worker and gateway): liveness and
 * readiness on every app, `/metrics` counting what a push did on each of them, the request's
 * correlation id in the worker's log, no key material or whole token anywhere in the logs, and
 * graceful shutdown — a worker drains its job, a gateway says `bye shutdown` and closes with 1001.
 */
const ROOT = join(__dirname, '../..');
const CA_FILE = join(ROOT, 'libs/testing/src/fakes/certs/ca.pem');
const apnsKey = createFakeApnsKey('com.herald.ops');
const account = createFakeServiceAccount('herald-ops');
let ctx: TestContext;
let apns: FakeApnsServer;
let fcm: FakeFcmServer;
let t: TenantFixture;
const ports = { api: 0, gateway: 0, worker: 0 };
const children: Record<string, { child: ChildProcess; output: () => string }> = {};
let gatewayDevices: CreatedDevice[] = [];

function start(name: string, app: string, env: Record<string, string>) {
  children[name] = spawnApp(app, {
    // The most verbose level: the log scan below must hold for everything Herald can print.
    HERALD_LOG_LEVEL: 'debug',
    HERALD_MASTER_KEY: TEST_MASTER_KEY,
    DATABASE_URL: ctx.config.database.url,
    HERALD_QUEUE_PREFIX: ctx.namespace,
    HERALD_BIND_HOST: '127.0.0.1',
    HERALD_APNS_ENDPOINT: apns.url,
    HERALD_FCM_ENDPOINT: fcm.url,
    NODE_EXTRA_CA_CERTS: CA_FILE,
    HERALD_PUSH_RETRY_ATTEMPTS: '2',
    ...env,
  });
}

const until = waitUntil;

const get = (port: number, path: string) => fetch(`http://127.0.0.1:${port}${path}`);
const ok = async (port: number, path: string) =>
  (await get(port, path).catch(() => undefined))?.status === 200;

/** One sample of a metric, by name and exact labels; undefined when the series is absent. */
function sample(text: string, name: string, labels: Record<string, string> = {}): number | undefined {
  for (const line of text.split('\n')) {
    const m = /^([a-zA-Z_:][\w:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (!m || m[1] !== name) continue;
    const got: Record<string, string> = {};
    for (const [, k, v] of (m[2] ?? '').matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)) got[k] = v;
    if (
      Object.keys(got).length === Object.keys(labels).length &&
      Object.entries(labels).every(([k, v]) => got[k] === v)
    )
      return Number(m[3]);
  }
  return undefined;
}

const scrape = async (port: number) => {
  const res = await get(port, '/metrics');
  expect(res.status).toBe(200);
  expect(res.headers.get('content-type')).toMatch(/^text\/plain; version=0\.0\.4/);
  return res.text();
};

class Device {
  readonly frames: { t: string; id?: string; reason?: string }[] = [];
  closeCode?: number;
  ws!: WebSocket;
  constructor(readonly d: CreatedDevice) {}
  async connect(ack = true) {
    this.ws = new WebSocket(`ws://127.0.0.1:${ports.gateway}/v1/connect`, {
      headers: { Authorization: this.d.bearer },
    });
    this.ws.on('message', (data: Buffer) => {
      const f = JSON.parse(data.toString()) as { t: string; id?: string };
      this.frames.push(f);
      if (ack && f.t === 'msg' && f.id) this.ws.send(JSON.stringify({ t: 'ack', ids: [f.id] }));
    });
    this.ws.on('close', (code: number) => (this.closeCode = code));
    this.ws.on('error', () => undefined);
    await once(this.ws, 'open');
    await until(() => this.frames.some((f) => f.t === 'welcome'), 'welcome');
  }
}

const devices: Device[] = [];

beforeAll(async () => {
  await buildAppsOnce();
  [apns, fcm] = await Promise.all([FakeApnsServer.start(), FakeFcmServer.start()]);
  apns.registerKey(apnsKey);
  fcm.registerServiceAccount(account);
  ctx = await createTestContext();
  t = await createTenantFixture(ctx.db, ctx.config, {
    devices: [
      { channel: 'apns', tags: ['ops'] },
      { channel: 'apns', tags: ['ops'] },
      { channel: 'apns', tags: ['ops'] },
      { channel: 'fcm', tags: ['ops'] },
      { channel: 'fcm', tags: ['ops'] },
    ],
  });
  const store = new CredentialStore(ctx.db, new EnvelopeCipher(ctx.config.crypto));
  await store.saveApns(t.app.app.id, 'both', { kind: 'token', ...apnsKey }, apnsKey.bundleId);
  await store.saveFcm(t.app.app.id, account);
  gatewayDevices = [];
  for (let i = 0; i < 3; i++) {
    gatewayDevices.push(
      await createDevice(ctx.db, ctx.config, t.app.app, { channel: 'gateway', tags: ['ops'] }),
    );
  }
  // One token Apple no longer knows (token hygiene), one that fails once (a retry).
  apns.script(t.devices[0].device.token!, APNS_SCRIPTS.unregistered());
  apns.script(t.devices[1].device.token!, { ...APNS_SCRIPTS.unavailable(), times: 1 });

  [ports.api, ports.gateway, ports.worker] = await Promise.all([freePort(), freePort(), freePort()]);
  start('api', 'api', { HERALD_API_PORT: String(ports.api) });
  start('gateway', 'gateway', {
    HERALD_GATEWAY_PORT: String(ports.gateway),
    HERALD_GATEWAY_NODE_ID: 'ops-a',
  });
  start('worker', 'worker', { HERALD_WORKER_METRICS_PORT: String(ports.worker) });
  for (const [name, port] of Object.entries(ports)) {
    await until(() => ok(port, '/readyz'), `${name} ready\n${children[name].output()}`, 60_000);
  }
  await until(() => children.worker.output().includes('workers running'), 'workers running');
  for (const d of gatewayDevices.slice(0, 2)) {
    const dev = new Device(d);
    await dev.connect();
    devices.push(dev);
  }
}, 180_000);

afterAll(async () => {
  for (const d of devices) d.ws?.terminate();
  for (const c of Object.values(children)) if (c.child.exitCode === null) c.child.kill('SIGKILL');
  await ctx?.close();
  await Promise.all([apns?.close(), fcm?.close()]);
});

const settled = (id: string) =>
  until(async () => {
    const [row] = await ctx.db.query<{ status: string }[]>(`SELECT status FROM messages WHERE id = $1`, [id]);
    return row?.status === 'completed';
  }, `message ${id} to complete`);

it('every app answers liveness and readiness, the worker on its metrics port', async () => {
  for (const port of Object.values(ports)) {
    const live = await get(port, '/healthz');
    expect({ status: live.status, body: await live.json() }).toEqual({ status: 200, body: { status: 'ok' } });
    const ready = await get(port, '/readyz');
    expect({ status: ready.status, body: await ready.json() }).toEqual({
      status: 200,
      body: { status: 'ok', checks: { postgres: { status: 'up' }, redis: { status: 'up' } } },
    });
  }
  expect((await get(ports.worker, '/nope')).status).toBe(404);
});

let pushId = '';
const REQUEST_ID = 'ops-e2e-correlation-0001';

it('a push is counted on every app: accepted, deliveries by channel and outcome, latency, retries, frames, feedback, queues, HTTP routes', async () => {
  const res = await fetch(`http://127.0.0.1:${ports.api}/v3/push`, {
    method: 'POST',
    headers: {
      Authorization: t.app.basicAuth,
      'Content-Type': 'application/json',
      'X-Request-Id': REQUEST_ID,
    },
    body: JSON.stringify({ platform: 'all', audience: { tag: ['ops'] }, notification: { alert: 'ops' } }),
  });
  expect(res.status).toBe(200);
  expect(res.headers.get('x-request-id')).toBe(REQUEST_ID);
  pushId = ((await res.json()) as { msg_id: string }).msg_id;
  await settled(pushId);
  await until(
    () => devices.every((d) => d.frames.some((f) => f.t === 'msg' && f.id === pushId)),
    'gateway devices',
  );
  await until(
    async () =>
      (
        await ctx.db.query(`SELECT 1 FROM devices WHERE id = $1 AND status = 'invalid'`, [
          t.devices[0].device.id,
        ])
      ).length === 1,
    'the unregistered token invalidated',
  );

  const api = await scrape(ports.api);
  expect(sample(api, 'herald_pushes_accepted_total', { source: 'push' })).toBe(1);
  expect(
    sample(api, 'herald_http_request_duration_seconds_count', {
      app: 'api',
      method: 'POST',
      route: '/v3/push',
      status: '2xx',
    }),
  ).toBe(1);
  // Route patterns, never ids: the readiness probes count under their route.
  expect(
    sample(api, 'herald_http_request_duration_seconds_count', {
      app: 'api',
      method: 'GET',
      route: '/readyz',
      status: '2xx',
    }),
  ).toBeGreaterThanOrEqual(1);
  expect(api).toMatch(/^herald_process_cpu_seconds_total /m);

  // The shard's job completes just after the message row does: sample until the queue is idle.
  let worker = '';
  await until(async () => {
    worker = await scrape(ports.worker);
    return sample(worker, 'herald_queue_jobs', { queue: 'push', state: 'active' }) === 0;
  }, 'the push queue idle');
  expect(sample(worker, 'herald_deliveries_total', { channel: 'apns', outcome: 'sent' })).toBe(2); // 1 + 1 retried
  expect(sample(worker, 'herald_deliveries_total', { channel: 'apns', outcome: 'invalid_token' })).toBe(1);
  expect(sample(worker, 'herald_deliveries_total', { channel: 'apns', outcome: 'retryable' })).toBe(1);
  expect(sample(worker, 'herald_deliveries_total', { channel: 'fcm', outcome: 'sent' })).toBe(2);
  expect(sample(worker, 'herald_deliveries_total', { channel: 'gateway', outcome: 'sent' })).toBe(3);
  expect(sample(worker, 'herald_delivery_retries_total', { channel: 'apns' })).toBe(1);
  expect(sample(worker, 'herald_provider_send_seconds_count', { channel: 'apns' })).toBe(2);
  expect(sample(worker, 'herald_provider_send_seconds_count', { channel: 'fcm' })).toBe(1);
  expect(sample(worker, 'herald_provider_send_seconds_count', { channel: 'gateway' })).toBe(1);
  expect(
    sample(worker, 'herald_feedback_total', {
      channel: 'apns',
      reason: 'Unregistered',
      action: 'invalidated',
    }),
  ).toBe(1);
  expect(sample(worker, 'herald_queue_jobs', { queue: 'push', state: 'active' })).toBe(0);
  expect(sample(worker, 'herald_queue_jobs', { queue: 'push', state: 'waiting' })).toBe(0);
  expect(sample(worker, 'herald_queue_oldest_waiting_seconds', { queue: 'push' })).toBe(0);
  expect(worker).toMatch(/^# TYPE herald_schedule_fires_total counter$/m);

  const gateway = await scrape(ports.gateway);
  expect(sample(gateway, 'herald_gateway_connections')).toBe(2);
  expect(sample(gateway, 'herald_gateway_connections_opened_total')).toBe(2);
  expect(sample(gateway, 'herald_gateway_frames_total', { direction: 'out', type: 'msg' })).toBe(2);
  expect(sample(gateway, 'herald_gateway_frames_total', { direction: 'out', type: 'welcome' })).toBe(2);
  expect(sample(gateway, 'herald_gateway_frames_total', { direction: 'in', type: 'ack' })).toBe(2);
}, 60_000);

it('the request’s correlation id reaches the worker’s log lines of the message', async () => {
  await until(() => children.worker.output().includes(REQUEST_ID), 'the correlation id in the worker log');
  const lines = children.worker
    .output()
    .split('\n')
    .filter((l) => l.includes(REQUEST_ID))
    .map((l) => JSON.parse(l) as Record<string, unknown>);
  expect(lines).toContainEqual(
    expect.objectContaining({ correlationId: REQUEST_ID, messageId: pushId, shardNo: 0, msg: 'shard done' }),
  );
  // And the api's access line of the request carries the same id.
  expect(children.api.output()).toContain(`"id":"${REQUEST_ID}"`);
});

it('a worker told to stop finishes the job it holds (none lost), answering liveness until it exits 0', async () => {
  apns.setLatency(1_500);
  try {
    const res = await fetch(`http://127.0.0.1:${ports.api}/v3/push`, {
      method: 'POST',
      headers: { Authorization: t.app.basicAuth, 'Content-Type': 'application/json' },
      body: JSON.stringify({
        platform: ['ios'],
        audience: {
          registration_id: [t.devices[1].device.registrationId, t.devices[2].device.registrationId],
        },
        notification: { alert: 'drain' },
      }),
    });
    const { msg_id: id } = (await res.json()) as { msg_id: string };
    await until(async () => {
      const [row] = await ctx.db.query<{ n: number }[]>(
        `SELECT count(*)::int AS n FROM message_shards WHERE message_id = $1 AND status = 'running'`,
        [id],
      );
      return row.n === 1;
    }, 'the shard running');
    const worker = children.worker.child;
    const exited = once(worker, 'exit');
    worker.kill('SIGTERM');
    await new Promise((r) => setTimeout(r, 300));
    expect(await ok(ports.worker, '/healthz')).toBe(true);
    const [code] = (await exited) as [number];
    expect(code).toBe(0);
    // No other worker runs: the message completed only because the stopping one finished its job.
    const [m] = await ctx.db.query<{ status: string }[]>(`SELECT status FROM messages WHERE id = $1`, [id]);
    expect(m.status).toBe('completed');
    const rows = await ctx.db.query<{ state: string }[]>(
      `SELECT state FROM deliveries WHERE message_id = $1`,
      [id],
    );
    expect(rows.map((r) => r.state)).toEqual(['sent', 'sent']);
  } finally {
    apns.setLatency(0);
  }
}, 60_000);

it('a gateway told to stop says bye shutdown and closes every connection with 1001, then exits 0', async () => {
  const gateway = children.gateway.child;
  const exited = once(gateway, 'exit');
  gateway.kill('SIGTERM');
  const [code] = (await exited) as [number];
  expect(code).toBe(0);
  await until(() => devices.every((d) => d.closeCode !== undefined), 'clients closed');
  for (const d of devices) {
    expect(d.frames.at(-1)).toEqual({ t: 'bye', reason: 'shutdown' });
    expect(d.closeCode).toBe(1001);
  }
}, 30_000);

it('no log line of any process holds key material, a secret or a whole token', async () => {
  for (const c of Object.values(children)) if (c.child.exitCode === null) c.child.kill('SIGTERM');
  await Promise.all(
    Object.values(children).map((c) =>
      c.child.exitCode === null ? once(c.child, 'exit') : Promise.resolve(),
    ),
  );
  const logs = Object.values(children)
    .map((c) => c.output())
    .join('\n');
  expect(logs.length).toBeGreaterThan(10_000);
  const pemLine = (pem: string) => pem.split('\n').filter((l) => /^[A-Za-z0-9+/]{40,}$/.test(l))[1];
  const secrets: Record<string, string> = {
    'master key': TEST_MASTER_KEY,
    'app master secret': t.app.masterSecret,
    'APNs key PEM': pemLine(apnsKey.key),
    'FCM private key': pemLine(account.private_key),
    ...Object.fromEntries(
      [...t.devices, ...gatewayDevices].flatMap((d, i) => [
        [`device secret ${i}`, d.deviceSecret],
        ...(d.device.token ? [[`token ${i}`, d.device.token]] : []),
      ]),
    ),
  };
  for (const [what, value] of Object.entries(secrets)) {
    expect(value?.length).toBeGreaterThan(16);
    expect({ what, found: logs.includes(value) }).toEqual({ what, found: false });
  }
}, 30_000);

it('the all-in-one serves one registry: api and gateway /metrics both show the worker’s queues and the gateway', async () => {
  const [apiPort, gatewayPort] = [await freePort(), await freePort()];
  start('herald', 'herald', {
    HERALD_API_PORT: String(apiPort),
    HERALD_GATEWAY_PORT: String(gatewayPort),
    HERALD_LOG_LEVEL: 'warn',
  });
  const herald = children.herald.child;
  try {
    await until(() => ok(apiPort, '/readyz'), `all-in-one ready\n${children.herald.output()}`, 60_000);
    await until(() => ok(gatewayPort, '/readyz'), 'all-in-one gateway ready');
    for (const port of [apiPort, gatewayPort]) {
      const text = await scrape(port);
      expect(sample(text, 'herald_queue_jobs', { queue: 'push', state: 'waiting' })).toBe(0);
      expect(sample(text, 'herald_gateway_connections')).toBe(0);
      expect(sample(text, 'herald_pushes_accepted_total', { source: 'push' })).toBeUndefined();
    }
  } finally {
    const exited = once(herald, 'exit');
    herald.kill('SIGTERM');
    const [code] = (await exited) as [number];
    expect(code).toBe(0);
  }
}, 90_000);
