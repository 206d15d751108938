import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { INestApplication, INestApplicationContext } from '@nestjs/common';
import { Redis } from 'ioredis';
import { InboxStore, PresenceStore } from '@herald/providers';
import { bullPrefix, closeRedis, createRedis, keySlot } from '@herald/queue';
import {
  createDevice,
  createTenantFixture,
  createTestContext,
  freePort,
  testConfig,
  type CreatedDevice,
  type TenantFixture,
  type TestContext,
} from '@herald/testing';
import { createApiApp } from '../../apps/api/src/api.bootstrap';
import { RawClient } from '../../apps/gateway/src/gateway.test-kit';
import { startGateway } from '../../apps/gateway/src/gateway.bootstrap';
import { startWorker } from '../../apps/worker/src/worker.bootstrap';

/**
 * Herald on a real three-master Redis Cluster, started here from the installed `redis-server`: the
 * api, a worker and two gateway nodes (in-process) with `REDIS_CLUSTER_NODES` set, so BullMQ, the
 * gateway inboxes, presence routing and node rings all run on the cluster. The devices' keys land on
 * every master (per-device hash tags), the queues on one slot (`{prefix}`), and the fan-out still
 * delivers every message exactly once with exact counts.
 */
const REDIS_SERVER = '/usr/bin/redis-server';
const REDIS_CLI = '/usr/bin/redis-cli';
const servers: ChildProcess[] = [];
let dir: string;
const ports: number[] = [];
let ctx: TestContext;
let api: INestApplication;
let worker: INestApplicationContext;
const gateways: INestApplication[] = [];
const gatewayUrls: string[] = [];
let apiUrl: string;
let t: TenantFixture;
let devices: CreatedDevice[] = [];
const clients: RawClient[] = [];
const byRid = new Map<string, RawClient>();

/** Port p for clients and p + 10000 for the cluster bus must both be free. */
async function clusterPort(taken: Set<number>): Promise<number> {
  for (;;) {
    const p = await freePort();
    if (p + 10_000 > 65_535 || taken.has(p)) continue;
    const busFree = await new Promise<boolean>((resolve) => {
      const s = createServer()
        .once('error', () => resolve(false))
        .listen(p + 10_000, '127.0.0.1', () => s.close(() => resolve(true)));
    });
    if (busFree) return p;
  }
}

async function until(check: () => Promise<boolean> | boolean, what: string, timeoutMs = 20_000) {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

async function startCluster(): Promise<void> {
  dir = mkdtempSync(join(tmpdir(), 'herald-cluster-'));
  const taken = new Set<number>();
  for (let i = 0; i < 3; i++) {
    const p = await clusterPort(taken);
    taken.add(p);
    ports.push(p);
  }
  for (const p of ports) {
    const child = spawn(
      REDIS_SERVER,
      [
        '--port',
        String(p),
        '--bind',
        '127.0.0.1',
        '--cluster-enabled',
        'yes',
        '--cluster-config-file',
        join(dir, `nodes-${p}.conf`),
        '--cluster-node-timeout',
        '5000',
        '--dir',
        dir,
        '--save',
        '',
        '--appendonly',
        'no',
        '--maxmemory-policy',
        'noeviction',
      ],
      { stdio: 'ignore' },
    );
    servers.push(child);
  }
  for (const p of ports) {
    await until(
      () => spawnSync(REDIS_CLI, ['-p', String(p), 'ping'], { encoding: 'utf8' }).stdout.trim() === 'PONG',
      `redis-server on ${p}`,
    );
  }
  const create = spawnSync(
    REDIS_CLI,
    [
      '--cluster',
      'create',
      ...ports.map((p) => `127.0.0.1:${p}`),
      '--cluster-replicas',
      '0',
      '--cluster-yes',
    ],
    { encoding: 'utf8' },
  );
  if (create.status !== 0) throw new Error(`cluster create failed: ${create.stdout}${create.stderr}`);
  for (const p of ports) {
    await until(
      () =>
        spawnSync(REDIS_CLI, ['-p', String(p), 'cluster', 'info'], { encoding: 'utf8' }).stdout.includes(
          'cluster_state:ok',
        ),
      `cluster state ok on ${p}`,
    );
  }
}

/** Keys of this test's namespace on one master (SCAN is per node). */
async function keysOn(port: number, pattern: string): Promise<string[]> {
  const node = new Redis({ port, host: '127.0.0.1', lazyConnect: true });
  await node.connect();
  try {
    const out: string[] = [];
    let cursor = '0';
    do {
      const [next, keys] = await node.scan(cursor, 'MATCH', pattern, 'COUNT', 1000);
      cursor = next;
      out.push(...keys);
    } while (cursor !== '0');
    return out;
  } finally {
    node.disconnect();
  }
}

beforeAll(async () => {
  await startCluster();
  const clusterNodes = ports.map((p) => `127.0.0.1:${p}`).join(',');
  ctx = await createTestContext({
    REDIS_CLUSTER_NODES: clusterNodes,
    HERALD_SHARD_SIZE: '100',
    HERALD_RECONCILE_INTERVAL_MS: '3600000',
    HERALD_BIND_HOST: '127.0.0.1',
  });
  t = await createTenantFixture(ctx.db, ctx.config);
  // 120 devices over 3 shards of ~40, each shard's inbox writes spread over all three masters.
  devices = [];
  for (let i = 0; i < 120; i++) {
    devices.push(await createDevice(ctx.db, ctx.config, t.app.app, { channel: 'gateway', tags: ['all'] }));
  }
  api = await createApiApp(ctx.config);
  const apiPort = await freePort();
  await api.listen(apiPort, '127.0.0.1');
  apiUrl = `http://127.0.0.1:${apiPort}`;
  worker = await startWorker(ctx.config);
  for (const node of ['cl-a', 'cl-b']) {
    const port = await freePort();
    const config = testConfig({
      DATABASE_URL: ctx.config.database.url,
      HERALD_QUEUE_PREFIX: ctx.namespace,
      REDIS_CLUSTER_NODES: clusterNodes,
      HERALD_GATEWAY_NODE_ID: node,
      HERALD_GATEWAY_PORT: String(port),
      HERALD_BIND_HOST: '127.0.0.1',
      HERALD_LOG_LEVEL: 'error',
    });
    gateways.push(await startGateway(config, node));
    gatewayUrls.push(`ws://127.0.0.1:${port}/v1/connect`);
  }
}, 90_000);

afterAll(async () => {
  for (const c of clients) c.ws.close();
  for (const g of gateways) await g.close().catch(() => undefined);
  await worker?.close().catch(() => undefined);
  await api?.close().catch(() => undefined);
  await ctx?.close();
  for (const s of servers) if (s.exitCode === null) s.kill('SIGKILL');
  if (dir) rmSync(dir, { recursive: true, force: true });
}, 30_000);

async function connect(d: CreatedDevice, url: string): Promise<RawClient> {
  const c = await RawClient.open(url, { Authorization: d.bearer });
  clients.push(c);
  byRid.set(d.device.registrationId, c);
  await c.until((f) => f.some((x) => x.t === 'welcome'));
  return c;
}

/** Acknowledges every `msg` as it arrives, like a real device. */
function autoAck(c: RawClient): RawClient {
  c.ws.on('message', (data: Buffer) => {
    const f = JSON.parse(data.toString('utf8')) as { t: string; id?: string };
    if (f.t === 'msg' && f.id) c.send({ t: 'ack', ids: [f.id] });
  });
  return c;
}

async function counters(id: string) {
  const [row] = await ctx.db.query<{ targets: string; sent: string; failed: string; delivered: string }[]>(
    `SELECT targets::text, sent::text, failed::text, delivered::text FROM message_counters
      WHERE message_id = $1 AND channel = 'gateway'`,
    [id],
  );
  return row;
}

it('computes the same key slots as the cluster', async () => {
  const admin = createRedis(
    { url: 'redis://127.0.0.1', clusterNodes: [{ host: '127.0.0.1', port: ports[0] }] },
    'worker',
  );
  try {
    const keys = [
      'foo',
      '{user1000}.following',
      `${ctx.namespace}:gw:{${devices[0].device.registrationId}}:in`,
      'a{}b',
      '{}{x}',
      'ü{é}',
    ];
    for (const key of keys) {
      expect({ key, slot: keySlot(key) }).toEqual({ key, slot: await admin.cluster('KEYSLOT', key) });
    }
  } finally {
    await closeRedis(admin);
  }
});

it('a push fans out through the cluster: every device gets it exactly once, counts exact, keys on every master', async () => {
  // 40 devices online, alternating between the two gateway nodes; 80 offline.
  const online = await Promise.all(
    devices.slice(0, 40).map((d, i) => connect(d, gatewayUrls[i % 2]).then(autoAck)),
  );
  const res = await fetch(`${apiUrl}/v3/push`, {
    method: 'POST',
    headers: {
      Authorization: t.app.basicAuth,
      'Content-Type': 'application/json',
      'X-Request-Id': 'cluster-fanout-1',
    },
    body: JSON.stringify({
      platform: ['android'],
      audience: { tag: ['all'] },
      notification: { android: { alert: 'through the cluster' } },
      options: { time_to_live: 3600 },
    }),
  });
  const accepted = (await res.json()) as { msg_id: string };
  expect({ status: res.status, accepted }).toEqual({
    status: 200,
    accepted: expect.objectContaining({ msg_id: expect.any(String) }),
  });
  const id = accepted.msg_id;

  await until(async () => {
    const [m] = await ctx.db.query<{ status: string }[]>(`SELECT status FROM messages WHERE id = $1`, [id]);
    return m?.status === 'completed';
  }, 'the message to complete');
  const [{ shards }] = await ctx.db.query<{ shards: number }[]>(
    `SELECT count(*)::int AS shards FROM message_shards WHERE message_id = $1 AND status = 'done'`,
    [id],
  );
  expect(shards).toBeGreaterThan(1);
  await until(() => online.every((c) => c.msgIds().includes(id)), 'every online device');

  // The offline devices' inboxes hold it: they get it once when they connect, on either node.
  const late = await Promise.all(
    devices.slice(40).map((d, i) => connect(d, gatewayUrls[i % 2]).then(autoAck)),
  );
  await until(() => late.every((c) => c.msgIds().includes(id)), 'every late device');
  await until(async () => (await counters(id))?.delivered === '120', 'every ack in the ledger');
  await new Promise((r) => setTimeout(r, 300));
  for (const c of [...online, ...late]) expect(c.msgIds().filter((x) => x === id)).toEqual([id]);
  expect(await counters(id)).toEqual({ targets: '120', sent: '120', failed: '0', delivered: '120' });

  // Inboxes drained by the acks; the per-device keys are on all three masters, the queues on one.
  const inbox = new InboxStore(createRedis(ctx.config.redis, 'worker'), ctx.namespace);
  try {
    for (const d of devices.slice(0, 5)) expect(await inbox.size(d.device.registrationId)).toBe(0);
  } finally {
    await closeRedis(inbox.redis);
  }
  const deviceKeys = await Promise.all(ports.map((p) => keysOn(p, `${ctx.namespace}:gw:{*`)));
  for (const keys of deviceKeys) expect(keys.length).toBeGreaterThan(0);
  const queueKeys = await Promise.all(ports.map((p) => keysOn(p, `${bullPrefix(ctx.namespace)}:*`)));
  expect(queueKeys.filter((keys) => keys.length > 0)).toHaveLength(1);

  // Presence routing answers from the cluster too: all 120 are online now.
  const status = await fetch(`${apiUrl}/v3/devices/status`, {
    method: 'POST',
    headers: { Authorization: t.app.basicAuth, 'Content-Type': 'application/json' },
    body: JSON.stringify({ registration_ids: devices.slice(0, 100).map((d) => d.device.registrationId) }),
  });
  expect(status.status).toBe(200);
  const body = (await status.json()) as Record<string, { online: boolean }>;
  expect(Object.values(body).filter((s) => s.online)).toHaveLength(100);

  // The nodes' presence refresh on the cluster: claims on every master extended, a lapsed one reported.
  const presence = new PresenceStore(createRedis(ctx.config.redis, 'worker'), ctx.namespace);
  try {
    const claims = devices.slice(0, 30).map((d) => ({ rid: d.device.registrationId, value: 'unused' }));
    await presence.redis.del(presence.keys.device(claims[7].rid).presence);
    expect(await presence.refresh(claims, 600_000)).toEqual([claims[7]]);
    expect(await presence.redis.pttl(presence.keys.device(claims[0].rid).presence)).toBeGreaterThan(500_000);
  } finally {
    await closeRedis(presence.redis);
  }
}, 60_000);

it('a recall reaches unacknowledging devices on both nodes and empties offline inboxes', async () => {
  const fresh: CreatedDevice[] = [];
  for (let i = 0; i < 14; i++)
    fresh.push(await createDevice(ctx.db, ctx.config, t.app.app, { channel: 'gateway' }));
  // Ten connected devices that never acknowledge (their copies stay `sent`), four offline.
  const silent = await Promise.all(fresh.slice(0, 10).map((d, i) => connect(d, gatewayUrls[i % 2])));
  const res = await fetch(`${apiUrl}/v3/push`, {
    method: 'POST',
    headers: { Authorization: t.app.basicAuth, 'Content-Type': 'application/json' },
    body: JSON.stringify({
      platform: ['android'],
      audience: { registration_id: fresh.map((d) => d.device.registrationId) },
      message: { msg_content: 'to recall' },
      options: { time_to_live: 3600 },
    }),
  });
  const { msg_id: id } = (await res.json()) as { msg_id: string };
  await until(() => silent.every((c) => c.msgIds().includes(id)), 'the ten devices');
  await until(async () => (await counters(id))?.sent === '14', 'the sends in the ledger');
  const del = await fetch(`${apiUrl}/v3/push/${id}`, {
    method: 'DELETE',
    headers: { Authorization: t.app.basicAuth },
  });
  expect(del.status).toBe(200);
  await until(
    () => silent.every((c) => c.of('recall').some((f) => f.id === id)),
    'a recall frame on every device that had it',
  );
  // The offline devices' copies were removed: connecting, they get nothing.
  const late = await Promise.all(fresh.slice(10).map((d, i) => connect(d, gatewayUrls[i % 2])));
  await new Promise((r) => setTimeout(r, 500));
  for (const c of late) expect(c.msgIds()).toEqual([]);
});
