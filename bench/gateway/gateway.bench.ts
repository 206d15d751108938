/**
 * Gateway benchmark (`npm run bench:gateway`): connections and memory per gateway process, broadcast
 * throughput through the whole path (delivery adapter → inbox → node → frame → ack → ledger) and
 * inbox-write → client-receipt latency at a steady rate. Loopback only; every phase is bounded in
 * count and time. Figures go to docs/benchmarks.md.
 *
 * Environment (all optional): BENCH_CONNECTIONS per gateway (19000), BENCH_RUNS (3),
 * BENCH_RATE msgs/s (1000), BENCH_LATENCY_SECONDS (5), BENCH_TWO_NODES (1), BENCH_CPU_PROF (a
 * directory: the gateway and client processes write `--cpu-prof` profiles there),
 * BENCH_GATEWAY_NODE_ARGS (node flags for the gateway processes, space-separated, e.g.
 * `--max-semi-space-size=64`), BENCH_CLIENTS (`sdk`, the default: the reference SDK; `minimal`: bare
 * `ws` clients that only authenticate and ack each message at once, to tell the SDK's cost from the
 * server path's), BENCH_REDIS_STATS (1: Redis `INFO commandstats` of each broadcast, reset before it).
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { appendFileSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, tmpdir, totalmem } from 'node:os';
import { join } from 'node:path';
import { SecretHasher } from '@herald/crypto';
import { GatewayDeliveryAdapter } from '@herald/providers';
import { cpuUs, CpuGroup, log, median, postgresPids, sleep } from '../fanout/harness';
import { createTestContext, prepareTemplateDatabase, gatewayEnv, type TestContext } from '@herald/testing';

const ROOT = join(__dirname, '../..');
const PER_NODE = Number(process.env.BENCH_CONNECTIONS ?? 19_000);
const RUNS = Number(process.env.BENCH_RUNS ?? 3);
const RATE = Number(process.env.BENCH_RATE ?? 1000);
const LATENCY_SECONDS = Number(process.env.BENCH_LATENCY_SECONDS ?? 5);
const TWO_NODES = (process.env.BENCH_TWO_NODES ?? '1') === '1';
const CPU_PROF = process.env.BENCH_CPU_PROF;
const GATEWAY_NODE_ARGS = (process.env.BENCH_GATEWAY_NODE_ARGS ?? '').split(' ').filter(Boolean);
const MINIMAL_CLIENTS = process.env.BENCH_CLIENTS === 'minimal';
const REDIS_STATS = process.env.BENCH_REDIS_STATS === '1';
const profArgs = CPU_PROF ? ['--cpu-prof', `--cpu-prof-dir=${CPU_PROF}`] : [];
const PER_CLIENT_PROCESS = 9_500;
const NOFILE = 20_000;

const children: ChildProcess[] = [];
const percentile = (xs: number[], p: number) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))];
};
const rssKiB = (pid: number) =>
  Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))![1]);
/** CPU milliseconds (user + system) a process has used so far. */
const cpuMs = (pid: number) => (cpuUs(pid) ?? 0) / 1000;
/** Redis main-thread CPU milliseconds (`INFO cpu`). */
async function redisCpuMs(ctx: TestContext): Promise<number> {
  const info = await ctx.redis.info('cpu');
  const get = (k: string) => Number(new RegExp(`${k}:([0-9.]+)`).exec(info)?.[1] ?? 0);
  return (get('used_cpu_user') + get('used_cpu_sys')) * 1000;
}
/**
 * CPU used by the gateway, Redis, PostgreSQL (the benchmark database's backends and the server's
 * shared processes) and the client processes since the call; each call of the returned function
 * reads the totals so far.
 */
async function cpuMeter(ctx: TestContext, gatewayPid: number, clients: ClientProcess[]) {
  const pids = clients.map((c) => c.child.pid!);
  const g0 = cpuMs(gatewayPid);
  const r0 = await redisCpuMs(ctx);
  const c0 = pids.reduce((n, p) => n + cpuMs(p), 0);
  const b0 = process.cpuUsage();
  const pg = new CpuGroup(postgresPids(new URL(ctx.config.database.url).pathname.slice(1)));
  pg.start();
  return async () => {
    const b = process.cpuUsage(b0);
    return {
      gatewayMs: cpuMs(gatewayPid) - g0,
      redisMs: Math.round((await redisCpuMs(ctx)) - r0),
      postgresMs: Math.round(pg.stop() / 1000),
      clientsMs: pids.reduce((n, p) => n + cpuMs(p), 0) - c0,
      benchMs: Math.round((b.user + b.system) / 1000),
    };
  };
}

/** `ulimit -n` cannot be raised from inside Node, so each child starts through a shell that raises it. */
function spawnLimited(args: string[], env: NodeJS.ProcessEnv, ipc = false): ChildProcess {
  const cmd = `ulimit -n ${NOFILE} && exec ${args.map((a) => `'${a.replace(/'/g, `'\\''`)}'`).join(' ')}`;
  const child = spawn('bash', ['-c', cmd], {
    cwd: ROOT,
    env,
    stdio: ipc ? ['ignore', 'inherit', 'inherit', 'ipc'] : ['ignore', 'pipe', 'pipe'],
  });
  children.push(child);
  return child;
}

async function withTimeout<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([
      p,
      new Promise<never>(
        (_, reject) => (timer = setTimeout(() => reject(new Error(`${what}: timed out`)), ms)),
      ),
    ]);
  } finally {
    clearTimeout(timer);
  }
}

interface Node {
  child: ChildProcess;
  url: string;
  port: number;
}

async function startGateway(ctx: TestContext, nodeId: string, port: number): Promise<Node> {
  const child = spawnLimited(
    [process.execPath, ...profArgs, ...GATEWAY_NODE_ARGS, join(ROOT, 'dist/apps/gateway/main.js')],
    {
      ...process.env,
      NODE_ENV: 'production',
      ...gatewayEnv(ctx, nodeId, port),
    },
  );
  let out = '';
  const logFile = join(tmpdir(), `herald-gw-bench-${nodeId}.log`);
  writeFileSync(logFile, '');
  const keep = (d: Buffer) => {
    out += d.toString();
    appendFileSync(logFile, d);
  };
  child.stdout!.on('data', keep);
  child.stderr!.on('data', keep);
  for (let i = 0; i < 200; i++) {
    const res = await fetch(`http://127.0.0.1:${port}/readyz`).catch(() => undefined);
    if (res?.status === 200) return { child, url: `ws://127.0.0.1:${port}/v1/connect`, port };
    await sleep(100);
  }
  throw new Error(`gateway did not start:\n${out}`);
}

class ClientProcess {
  private waiters = new Map<string, (m: Record<string, unknown>) => void>();
  constructor(readonly child: ChildProcess) {
    child.on('message', (m: Record<string, unknown>) => {
      const w = this.waiters.get(m.ev as string);
      this.waiters.delete(m.ev as string);
      w?.(m);
    });
  }
  static async start(file: string, start: number, count: number, url: string): Promise<ClientProcess> {
    const child = spawnLimited(
      [
        process.execPath,
        ...profArgs,
        '-r',
        '@swc-node/register',
        join(__dirname, 'gateway-clients.worker.ts'),
        JSON.stringify({ file, start, count, url, concurrency: 100, minimal: MINIMAL_CLIENTS }),
      ],
      { ...process.env, NODE_OPTIONS: '--max-old-space-size=2048' },
      true,
    );
    const cp = new ClientProcess(child);
    await withTimeout(cp.wait('ready'), 60_000, 'client process start');
    return cp;
  }
  wait(ev: string): Promise<Record<string, unknown>> {
    return new Promise((resolve) => this.waiters.set(ev, resolve));
  }
  async request(cmd: Record<string, unknown>, ev: string, timeoutMs: number) {
    const reply = this.wait(ev);
    this.child.send(cmd);
    return withTimeout(reply, timeoutMs, `${String(cmd.cmd)}`);
  }
}

async function createDevices(ctx: TestContext, appId: string, n: number): Promise<[string, string][]> {
  const hasher = new SecretHasher(ctx.config.crypto);
  const out: [string, string][] = [];
  for (let i = 0; i < n; i += 5000) {
    const rids: string[] = [];
    const hashes: string[] = [];
    for (let j = i; j < Math.min(n, i + 5000); j++) {
      const rid = `bench${randomBytes(8).toString('hex')}`;
      const secret = randomBytes(24).toString('base64url');
      rids.push(rid);
      hashes.push(hasher.hash(secret));
      out.push([rid, secret]);
    }
    await ctx.db.query(
      `INSERT INTO devices (app_id, registration_id, device_secret_hash, platform, channel)
       SELECT $1, r, h, 'android', 'gateway' FROM unnest($2::text[], $3::text[]) AS t(r, h)`,
      [appId, rids, hashes],
    );
  }
  return out;
}

async function messageIds(ctx: TestContext, appId: string, n: number): Promise<string[]> {
  const rows = await ctx.db.query<{ id: string }[]>(
    `INSERT INTO messages (app_id, request, audience, platforms, time_to_live)
     SELECT $1, '{}', '"all"', '{android}', 600 FROM generate_series(1, $2) RETURNING id`,
    [appId, n],
  );
  return rows.map((r) => String(r.id));
}

async function deliveredCount(ctx: TestContext, id: string): Promise<number> {
  const rows = await ctx.db.query<{ delivered: string }[]>(
    `SELECT delivered FROM message_counters WHERE message_id = $1 AND channel = 'gateway'`,
    [id],
  );
  return Number(rows[0]?.delivered ?? 0);
}

/** `INFO commandstats` as one line per command: calls, µs in all, µs per call. */
async function commandStats(ctx: TestContext): Promise<string> {
  return (await ctx.redis.info('commandstats'))
    .split('\n')
    .filter((l) => l.startsWith('cmdstat_'))
    .map((l) => l.trim().replace(/,rejected_calls.*$/, ''))
    .join('\n');
}

async function stats(clients: ClientProcess[], reset = false) {
  const all = await Promise.all(clients.map((c) => c.request({ cmd: 'stats', reset }, 'stats', 30_000)));
  return {
    connected: all.reduce((n, s) => n + (s.connected as number), 0),
    received: all.reduce((n, s) => n + (s.received as number), 0),
    latencies: all.flatMap((s) => s.latencies as number[]),
    closeCodes: all.map((s) => s.closeCodes),
  };
}

async function connectClients(
  file: string,
  offset: number,
  count: number,
  url: string,
): Promise<ClientProcess[]> {
  const procs: ClientProcess[] = [];
  for (let s = 0; s < count; s += PER_CLIENT_PROCESS) {
    procs.push(await ClientProcess.start(file, offset + s, Math.min(PER_CLIENT_PROCESS, count - s), url));
  }
  const started = Date.now();
  const results = await Promise.all(procs.map((p) => p.request({ cmd: 'connect' }, 'connected', 300_000)));
  const connected = results.reduce((n, r) => n + (r.connected as number), 0);
  log(
    `connected ${connected}/${count} to ${url} in ${((Date.now() - started) / 1000).toFixed(1)} s`,
    results.map((r) => r.closeCodes),
  );
  return procs;
}

/** One message to every device: adapter → inbox → ring → node → frame → SDK → ack → ledger. */
async function broadcast(
  ctx: TestContext,
  adapter: GatewayDeliveryAdapter,
  gatewayPid: number,
  clients: ClientProcess[],
  rids: string[],
  id: string,
) {
  await stats(clients, true);
  // Each client process reports the moment its last frame arrived (no polling in the measurement).
  const counts = (await Promise.all(clients.map((c) => c.request({ cmd: 'stats' }, 'stats', 30_000)))).map(
    (s) => s.connected as number,
  );
  await Promise.all(clients.map((c, i) => c.request({ cmd: 'arm', expect: counts[i] }, 'armed', 30_000)));
  // A process that never gets all of its frames reports at the deadline (the count says how many).
  const lastFrames = clients.map((c) =>
    withTimeout(c.wait('received'), 120_000, 'broadcast receipt').catch(() => ({ at: Date.now() })),
  );
  const meter = await cpuMeter(ctx, gatewayPid, clients);
  const started = Date.now();
  const slices = 4;
  const per = Math.ceil(rids.length / slices);
  const results = await Promise.all(
    Array.from({ length: slices }, (_, i) =>
      adapter.send(
        { id, kind: 'notification', body: { alert: 'broadcast' }, sentAt: started, timeToLive: 600 },
        rids.slice(i * per, (i + 1) * per),
      ),
    ),
  );
  const written = Date.now() - started;
  const sent = results.flatMap((r) => r.outcomes).filter((o) => o.kind === 'sent').length;
  const receivedMs = Math.max(...(await Promise.all(lastFrames)).map((m) => m.at as number)) - started;
  const cpuReceived = await meter();
  const received = (await stats(clients)).received;
  const deadline = started + 120_000;
  let acked = 0;
  while (Date.now() < deadline) {
    acked = await deliveredCount(ctx, id);
    if (acked >= rids.length) break;
    await sleep(20);
  }
  const ackedMs = Date.now() - started;
  const cpuAcked = await meter();
  const perDelivery = (ms: number) => +((ms * 1000) / rids.length).toFixed(1);
  return {
    sent,
    written,
    received,
    receivedMs,
    acked,
    ackedMs,
    /** CPU µs per delivery until every frame was received, and until every ack was in the ledger. */
    cpuUsPerDelivery: {
      gateway: perDelivery(cpuReceived.gatewayMs),
      redis: perDelivery(cpuReceived.redisMs),
      clients: perDelivery(cpuReceived.clientsMs),
      adapter: perDelivery(cpuReceived.benchMs),
      postgres: perDelivery(cpuReceived.postgresMs),
      gatewayToLedger: perDelivery(cpuAcked.gatewayMs),
      redisToLedger: perDelivery(cpuAcked.redisMs),
      postgresToLedger: perDelivery(cpuAcked.postgresMs),
    },
    load: +loadavg()[0].toFixed(2),
  };
}

async function latency(
  ctx: TestContext,
  adapter: GatewayDeliveryAdapter,
  gatewayPid: number,
  clients: ClientProcess[],
  rids: string[],
  ids: string[],
) {
  await stats(clients, true);
  const meter = await cpuMeter(ctx, gatewayPid, clients);
  const total = RATE * LATENCY_SECONDS;
  let n = 0;
  const tickMs = 10;
  const perTick = Math.max(1, Math.round((RATE * tickMs) / 1000));
  const started = Date.now();
  while (n < total) {
    const due = Math.min(total, Math.floor(((Date.now() - started) / 1000) * RATE) + perTick);
    while (n < due) {
      const id = ids[n];
      const rid = rids[Math.floor(Math.random() * rids.length)];
      n++;
      const t0 = Date.now();
      void adapter.deliver(
        { id, kind: 'message', body: { msg_content: 'x', t0 }, sentAt: t0, timeToLive: 600 },
        [rid],
      );
    }
    await sleep(tickMs);
  }
  const elapsed = (Date.now() - started) / 1000;
  await sleep(1_000);
  const cpu = await meter();
  const s = await stats(clients, true);
  return {
    rate: total / elapsed,
    cpuUsPerMsg: {
      gateway: Math.round((cpu.gatewayMs * 1000) / total),
      redis: Math.round((cpu.redisMs * 1000) / total),
    },
    load: +loadavg()[0].toFixed(2),
    samples: s.latencies.length,
    p50: percentile(s.latencies, 50),
    p99: percentile(s.latencies, 99),
    max: Math.max(...s.latencies),
  };
}

async function main() {
  log(
    `machine: ${cpus().length} × ${cpus()[0]?.model}, ${(totalmem() / 2 ** 30).toFixed(1)} GiB, Node ${process.version}; load ${loadavg()
      .map((l) => l.toFixed(2))
      .join(' ')}`,
  );
  // dist/ is shared with whoever else builds on this machine: build under the same lock as they do.
  execFileSync(
    'flock',
    [
      '/tmp/herald-build.lock',
      process.execPath,
      join(ROOT, 'node_modules/@nestjs/cli/bin/nest.js'),
      'build',
      'gateway',
    ],
    { cwd: ROOT, stdio: 'pipe' },
  );
  await prepareTemplateDatabase();
  const ctx = await createTestContext({ HERALD_LOG_LEVEL: 'warn' });
  const file = join(tmpdir(), `herald-gw-bench-${process.pid}.json`);
  try {
    const [{ id: tenantId }] = await ctx.db.query<{ id: string }[]>(
      `INSERT INTO tenants (name) VALUES ('bench') RETURNING id`,
    );
    const [{ id: appId }] = await ctx.db.query<{ id: string }[]>(
      `INSERT INTO apps (tenant_id, name, app_key, master_secret_hash) VALUES ($1, 'bench', $2, 'x') RETURNING id`,
      [tenantId, randomBytes(12).toString('hex')],
    );
    const nodes = TWO_NODES ? 2 : 1;
    const devices = await createDevices(ctx, appId, PER_NODE * nodes);
    writeFileSync(file, JSON.stringify(devices));
    const ridsA = devices.slice(0, PER_NODE).map((d) => d[0]);
    log(`created ${devices.length} devices`);

    const a = await startGateway(ctx, 'bench-a', 21_101);
    await sleep(3_000);
    const baseA = rssKiB(a.child.pid!);
    const clientsA = await connectClients(file, 0, PER_NODE, a.url);
    await sleep(5_000);
    const heldA = (await stats(clientsA)).connected;
    const rssA = rssKiB(a.child.pid!);
    const perConn = ((rssA - baseA) * 1024) / heldA;
    log(
      `node A: ${heldA} connections; RSS ${baseA} KiB idle → ${rssA} KiB; ${(perConn / 1024).toFixed(2)} KiB per connection`,
    );

    const adapter = new GatewayDeliveryAdapter(ctx.redis, { prefix: ctx.namespace, inboxMax: 100 });
    const bcast: Awaited<ReturnType<typeof broadcast>>[] = [];
    const lat: Awaited<ReturnType<typeof latency>>[] = [];
    const rssPerRun: number[] = [];
    for (let run = 0; run < RUNS; run++) {
      const [id] = await messageIds(ctx, appId, 1);
      if (REDIS_STATS) await ctx.redis.config('RESETSTAT');
      const b = await broadcast(ctx, adapter, a.child.pid!, clientsA, ridsA, id);
      if (REDIS_STATS) log(`Redis commands of broadcast ${run + 1}:\n${await commandStats(ctx)}`);
      bcast.push(b);
      log(
        `broadcast ${run + 1}: ${b.sent} written in ${b.written} ms; ${b.received} received in ${b.receivedMs} ms (${Math.round(b.received / (b.receivedMs / 1000))}/s); ${b.acked} acked in ledger after ${b.ackedMs} ms (${Math.round(b.acked / (b.ackedMs / 1000))}/s); CPU µs/delivery ${JSON.stringify(b.cpuUsPerDelivery)}; load ${b.load}`,
      );
      await sleep(2_000);
      const ids = await messageIds(ctx, appId, RATE * LATENCY_SECONDS);
      const l = await latency(ctx, adapter, a.child.pid!, clientsA, ridsA, ids);
      lat.push(l);
      log(
        `latency ${run + 1}: ${l.rate.toFixed(0)} msgs/s, ${l.samples} samples, p50 ${l.p50} ms, p99 ${l.p99} ms, max ${l.max} ms; CPU µs/msg ${JSON.stringify(l.cpuUsPerMsg)}; load ${l.load}`,
      );
      rssPerRun.push(rssKiB(a.child.pid!));
      log(`node A RSS after run ${run + 1}: ${rssPerRun.at(-1)} KiB`);
      await sleep(2_000);
    }
    const rssAfter = rssKiB(a.child.pid!);

    let heldTotal = heldA;
    let rssB = 0;
    let perConnB = 0;
    if (TWO_NODES) {
      const b = await startGateway(ctx, 'bench-b', 21_102);
      await sleep(3_000);
      const baseB = rssKiB(b.child.pid!);
      const clientsB = await connectClients(file, PER_NODE, PER_NODE, b.url);
      await sleep(5_000);
      const heldB = (await stats(clientsB)).connected;
      heldTotal = (await stats(clientsA)).connected + heldB;
      rssB = rssKiB(b.child.pid!);
      perConnB = ((rssB - baseB) * 1024) / heldB;
      log(
        `node B: ${heldB} connections (${(perConnB / 1024).toFixed(2)} KiB each); both nodes hold ${heldTotal}`,
      );
      for (const c of clientsB) c.child.send({ cmd: 'stop' });
    }
    for (const c of clientsA) c.child.send({ cmd: 'stop' });
    if (CPU_PROF) {
      // A profile is written on a clean exit: stop the gateway gracefully and give it time.
      a.child.kill('SIGTERM');
      await withTimeout(new Promise((r) => a.child.once('exit', r)), 30_000, 'gateway exit').catch(
        () => undefined,
      );
    }

    const summary = {
      date: new Date().toISOString().slice(0, 10),
      perNode: PER_NODE,
      heldA,
      kibPerConnection: +(perConn / 1024).toFixed(2),
      kibPerConnectionB: +(perConnB / 1024).toFixed(2),
      rssKiB: { idle: baseA, connected: rssA, afterRuns: rssAfter, perRun: rssPerRun, nodeB: rssB },
      twoNodesHeld: heldTotal,
      broadcastReceivedPerSecond: median(bcast.map((b) => Math.round(b.received / (b.receivedMs / 1000)))),
      broadcastAckedPerSecond: median(bcast.map((b) => Math.round(b.acked / (b.ackedMs / 1000)))),
      // What one gateway process could do with a core to itself: 1 s of CPU over its CPU per delivery
      // (frame out, ack in, inbox and ledger writes), the part of the path the bar is per process for.
      broadcastGatewayCpuUsPerDelivery: median(bcast.map((b) => b.cpuUsPerDelivery.gatewayToLedger)),
      broadcastGatewayCorePerSecond: median(
        bcast.map((b) => Math.round(1e6 / b.cpuUsPerDelivery.gatewayToLedger)),
      ),
      broadcastRuns: bcast,
      latencyP99Ms: median(lat.map((l) => l.p99)),
      latencyP50Ms: median(lat.map((l) => l.p50)),
      latencyRuns: lat,
      loadAfter: loadavg().map((l) => +l.toFixed(2)),
    };
    log('summary', JSON.stringify(summary));
    await sleep(1_000);
  } finally {
    for (const c of children) if (c.exitCode === null) c.kill('SIGKILL');
    rmSync(file, { force: true });
    await ctx.close();
  }
}

const guard = setTimeout(() => {
  console.error('benchmark exceeded 15 minutes: stopping');
  for (const c of children) if (c.exitCode === null) c.kill('SIGKILL');
  process.exit(2);
}, 15 * 60_000);
guard.unref();

for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.on(signal, () => {
    for (const c of children) if (c.exitCode === null) c.kill('SIGKILL');
    process.exit(130);
  });
}

main().then(
  () => process.exit(0),
  (err: unknown) => {
    console.error(err);
    for (const c of children) if (c.exitCode === null) c.kill('SIGKILL');
    process.exit(1);
  },
);
