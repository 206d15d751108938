/**
 * Unicast benchmark (issue 6): `POST /v3/push` to one registration id at a time, through the built
 * api, worker and gateway processes with a Redis of its own.
 *  1. throughput: BENCH_CLIENTS (50) concurrent keep-alive clients for BENCH_SECONDS (10), each push to
 *     one of 1,000 gateway devices: accepted pushes per second (bar ≥ 2,000/s);
 *  2. latency: 200 pushes/s, open loop, to 200 devices connected with the reference SDK in another
 *     process: POST → receipt on the device (bar p50 ≤ 20 ms, p99 ≤ 100 ms).
 *
 * Each run also reports the api's CPU and write syscalls per accepted push (from /proc).
 *
 * Run: `npm run build && npm run bench:unicast`. BENCH_RUNS (3), BENCH_RATE (200), BENCH_WORKERS (1).
 * Uses `herald_bench_unicast` (BENCH_UNICAST_DB; created if missing); its app, `bench-unicast`, is
 * recreated each time.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { Agent, request } from 'node:http';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Client } from 'pg';
import { createDataSource } from '@herald/db';
import { createApp, createDevice, createTenant, testConfig } from '@herald/testing';
import {
  API_NODE_ARGS,
  CpuGroup,
  cpuUs,
  dbUrl,
  load,
  machine,
  median,
  peakRssMb,
  postgresPids,
  quietMachine,
  sleep,
  startHerald,
  startRedis,
  stop,
  type HeraldProcess,
} from './harness';
import { ensureDatabase } from './seed';

/**
 * Its own database: a database that also holds the fan-out's 1,000,000-device seed (and its ledger)
 * outgrows PostgreSQL's default 128 MB of shared buffers, and the figures would depend on which
 * benchmark ran before (docs/benchmarks.md has both).
 */
const BENCH_DB = process.env.BENCH_UNICAST_DB ?? 'herald_bench_unicast';

const CLIENTS = Number(process.env.BENCH_CLIENTS ?? 50);
const SECONDS = Number(process.env.BENCH_SECONDS ?? 10);
const RUNS = Number(process.env.BENCH_RUNS ?? 3);
const RATE = Number(process.env.BENCH_RATE ?? 200);
const WORKERS = Number(process.env.BENCH_WORKERS ?? 1);
const DEVICES = 1_000;
/** The tables every push writes, vacuumed and analyzed as autovacuum would (see createBenchApp). */
const CHURNED = ['devices', 'messages', 'message_shards', 'message_counters', 'deliveries'];

/** Write syscalls (write, writev, sendmsg) of a process so far: responses, queries and commands sent. */
function writeCalls(pid: number): number {
  const m = /^syscw: (\d+)$/m.exec(readFileSync(`/proc/${pid}/io`, 'utf8'));
  return m ? Number(m[1]) : NaN;
}
const ONLINE = 200;
/** What the failed POSTs of the latency phase got (status or network error), printed at the end. */
const errorKinds = new Map<string, number>();
const TENANT = 'bench-unicast';

interface App {
  appId: string;
  basicAuth: string;
  devices: [string, string][];
}

async function createBenchApp(): Promise<App> {
  await ensureDatabase(BENCH_DB);
  const config = testConfig({ DATABASE_URL: dbUrl(BENCH_DB) });
  const ds = createDataSource({ url: dbUrl(BENCH_DB), poolSize: 4 });
  await ds.initialize();
  try {
    await ds.query(`DELETE FROM tenants WHERE name = $1`, [TENANT]);
    const tenant = await createTenant(ds, TENANT);
    const app = await createApp(ds, config, tenant, { name: TENANT, rateLimitPerMinute: 1_000_000_000 });
    const devices: [string, string][] = [];
    for (let i = 0; i < DEVICES; i += 50) {
      const batch = await Promise.all(
        Array.from({ length: 50 }, () => createDevice(ds, config, app.app, { channel: 'gateway' })),
      );
      for (const d of batch) devices.push([d.device.registrationId, d.deviceSecret]);
    }
    // What autovacuum would have done by now in production: without it the planner takes the new app
    // for an empty one and reads a unicast's device by walking the app's whole id index. The tables
    // every push churns are vacuumed too: a PostgreSQL with autovacuum off (this machine's CI
    // configuration) otherwise carries every earlier run's dead rows into this one's figures.
    for (const table of CHURNED) await ds.query(`VACUUM ANALYZE ${table}`);
    return { appId: app.app.id, basicAuth: app.basicAuth, devices };
  } finally {
    await ds.destroy();
  }
}

function post(agent: Agent, port: number, auth: string, body: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = request(
      {
        agent,
        host: '127.0.0.1',
        port,
        method: 'POST',
        path: '/v3/push',
        headers: {
          'Content-Type': 'application/json',
          Authorization: auth,
          'Content-Length': Buffer.byteLength(body),
        },
      },
      (res) => {
        res.resume();
        res.on('end', () => resolve(res.statusCode ?? 0));
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}

const pushBody = (rid: string) =>
  JSON.stringify({
    platform: 'all',
    audience: { registration_id: [rid] },
    message: { msg_content: 'unicast', extras: { t0: Date.now() } },
  });

/** Waits until every message has completed (the worker has caught up); returns the seconds it took. */
async function drained(db: Client, appId: string, timeoutMs = 300_000): Promise<number> {
  const t0 = performance.now();
  while (performance.now() - t0 < timeoutMs) {
    const {
      rows: [r],
    } = await db.query<{ n: number }>(
      `SELECT count(*)::int AS n FROM messages WHERE app_id = $1 AND status IN ('accepted', 'planning', 'sending')`,
      [appId],
    );
    if (r.n === 0) return (performance.now() - t0) / 1000;
    await sleep(200);
  }
  throw new Error('messages did not drain');
}

class Devices {
  private waiters = new Map<string, (m: Record<string, unknown>) => void>();
  constructor(readonly child: ChildProcess) {
    child.on('message', (m: Record<string, unknown>) => {
      const w = this.waiters.get(m.ev as string);
      this.waiters.delete(m.ev as string);
      w?.(m);
    });
  }
  wait(ev: string): Promise<Record<string, unknown>> {
    return new Promise((resolve) => this.waiters.set(ev, resolve));
  }
  async stats(reset: boolean): Promise<{ connected: number; latencies: number[] }> {
    const p = this.wait('stats');
    this.child.send({ cmd: 'stats', reset });
    return (await p) as unknown as { connected: number; latencies: number[] };
  }
}

async function throughput(
  port: number,
  app: App,
): Promise<{ perSecond: number; accepted: number; p99: number; errors: number }> {
  const agent = new Agent({ keepAlive: true, maxSockets: CLIENTS });
  const latencies: number[] = [];
  let done = 0;
  let errors = 0;
  let seq = 0;
  const deadline = Date.now() + SECONDS * 1000;
  const start = performance.now();
  await Promise.all(
    Array.from({ length: CLIENTS }, async () => {
      while (Date.now() < deadline) {
        const rid = app.devices[seq++ % app.devices.length][0];
        const t0 = performance.now();
        const status = await post(agent, port, app.basicAuth, pushBody(rid)).catch(() => 0);
        latencies.push(performance.now() - t0);
        if (status === 200) done++;
        else errors++;
      }
    }),
  );
  const secs = (performance.now() - start) / 1000;
  agent.destroy();
  latencies.sort((a, b) => a - b);
  return {
    perSecond: done / secs,
    accepted: done,
    p99: latencies[Math.floor(latencies.length * 0.99)],
    errors,
  };
}

async function latency(
  port: number,
  app: App,
  devices: Devices,
): Promise<{ p50: number; p99: number; sent: number; received: number; errors: number }> {
  await devices.stats(true);
  // FIFO: every socket stays busy; LIFO left some idle past the api's keep-alive timeout, and reusing
  // one as the server closed it failed a POST now and then with ECONNRESET (the client's race, not Herald).
  const agent = new Agent({ keepAlive: true, maxSockets: 64, scheduling: 'fifo' });
  const total = RATE * SECONDS;
  let sent = 0;
  let errors = 0;
  const inFlight: Promise<void>[] = [];
  const start = performance.now();
  // Open loop: each push leaves at its scheduled time, whatever the previous ones are doing.
  while (sent < total) {
    const due = Math.min(total, Math.floor(((performance.now() - start) / 1000) * RATE) + 1);
    while (sent < due) {
      const rid = app.devices[sent % ONLINE][0];
      sent++;
      inFlight.push(
        post(agent, port, app.basicAuth, pushBody(rid)).then(
          (s) => {
            if (s !== 200) {
              errors++;
              errorKinds.set(String(s), (errorKinds.get(String(s)) ?? 0) + 1);
            }
          },
          (err: Error) => {
            errors++;
            errorKinds.set(err.message, (errorKinds.get(err.message) ?? 0) + 1);
          },
        ),
      );
    }
    await sleep(2);
  }
  await Promise.all(inFlight);
  agent.destroy();
  let got: number[] = [];
  for (let i = 0; i < 100; i++) {
    await sleep(100);
    got = (await devices.stats(false)).latencies;
    if (got.length >= total - errors) break;
  }
  await devices.stats(true);
  const sorted = [...got].sort((a, b) => a - b);
  return {
    p50: sorted[Math.floor(sorted.length * 0.5)],
    p99: sorted[Math.floor(sorted.length * 0.99)],
    sent: total,
    received: got.length,
    errors,
  };
}

async function main(): Promise<void> {
  const app = await createBenchApp();
  const redis = await startRedis();
  const env = { DATABASE_URL: dbUrl(BENCH_DB), REDIS_URL: redis.url, HERALD_QUEUE_PREFIX: 'bu' };
  const procs: HeraldProcess[] = [
    await startHerald('api', 'api', env, [
      ...API_NODE_ARGS,
      // BENCH_CPU_PROF=<dir>: V8 CPU profiles of the api and the workers, written when they stop.
      ...(process.env.BENCH_CPU_PROF
        ? ['--cpu-prof', `--cpu-prof-dir=${process.env.BENCH_CPU_PROF}`, '--cpu-prof-name=api.cpuprofile']
        : []),
    ]),
    await startHerald('gateway', 'gateway', env),
  ];
  for (let w = 0; w < WORKERS; w++) {
    const name = `worker${w + 1}`;
    procs.push(
      await startHerald(
        'worker',
        name,
        env,
        process.env.BENCH_CPU_PROF
          ? [
              '--cpu-prof',
              `--cpu-prof-dir=${process.env.BENCH_CPU_PROF}`,
              `--cpu-prof-name=${name}.cpuprofile`,
            ]
          : [],
      ),
    );
  }
  const gatewayUrl = `ws://127.0.0.1:${procs[1].port}/v1/connect`;
  const devices = new Devices(
    spawn(
      process.execPath,
      [
        '-r',
        '@swc-node/register',
        join(__dirname, 'unicast-clients.worker.ts'),
        JSON.stringify({ devices: app.devices.slice(0, ONLINE), url: gatewayUrl }),
      ],
      { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] },
    ),
  );
  const db = new Client({ connectionString: dbUrl(BENCH_DB) });
  await db.connect();
  const rows: string[] = [];
  const tput: number[] = [];
  const p50s: number[] = [];
  const p99s: number[] = [];
  const latencyCpu: string[] = [];
  const throughputCpu: string[] = [];
  try {
    const { connected } = (await devices.wait('connected')) as { connected: number };
    if (connected !== ONLINE) throw new Error(`only ${connected} of ${ONLINE} devices connected`);
    const api = procs[0].port!;
    // Warm-up: JIT, pools and connections, not measured.
    await throughput(api, app);
    await drained(db, app.appId);
    // The warm-up grew the push tables from nothing; autovacuum would analyze them now (this machine's
    // PostgreSQL runs without it). Plans made from "empty table" statistics stay cached otherwise, and
    // the first measured run paid for them (PostgreSQL 761 µs per push against ~220 in the runs after).
    for (const table of CHURNED) await db.query(`VACUUM ANALYZE ${table}`);
    for (let r = 0; r < RUNS; r++) {
      const loadBefore = await quietMachine();
      const cpu0 = procs.map((p) => cpuUs(p.pid) ?? 0);
      const writes0 = writeCalls(procs[0].pid);
      // The throughput window's CPU of everything else on the 2 cores: PostgreSQL, Redis, this client.
      const tpg = new CpuGroup(postgresPids(BENCH_DB));
      const redis0 = cpuUs(redis.child.pid!) ?? 0;
      const clients0 = cpuUs(devices.child.pid!) ?? 0;
      const self0 = process.cpuUsage();
      tpg.start();
      console.error(`run ${r + 1}: throughput phase (${CLIENTS} clients for ${SECONDS} s)`);
      const t = await throughput(api, app);
      const cpu = procs.map((p, i) => ((cpuUs(p.pid) ?? 0) - cpu0[i]) / 1e6);
      const selfUs = process.cpuUsage(self0);
      const perAccepted = (us: number) => (us / Math.max(1, t.accepted)).toFixed(0);
      throughputCpu.push(
        [
          ...procs.map((p, i) => `${p.name} ${perAccepted(cpu[i] * 1e6)}`),
          `redis ${perAccepted((cpuUs(redis.child.pid!) ?? 0) - redis0)}`,
          `device clients ${perAccepted((cpuUs(devices.child.pid!) ?? 0) - clients0)}`,
          `postgres ${perAccepted(tpg.stop())}`,
          `bench client ${perAccepted(selfUs.user + selfUs.system)}`,
        ].join(', '),
      );
      const writesPerPush = (writeCalls(procs[0].pid) - writes0) / Math.max(1, t.accepted);
      const drainS = await drained(db, app.appId);
      // The latency phase's CPU per push, every process on the path (the devices' SDK clients too).
      const pg = new CpuGroup(postgresPids(BENCH_DB));
      const others = [...procs.map((p) => p.pid), redis.child.pid!, devices.child.pid!];
      const lcpu0 = others.map((pid) => cpuUs(pid) ?? 0);
      const lwrites0 = procs.map((p) => writeCalls(p.pid));
      pg.start();
      console.error(`run ${r + 1}: latency phase (${RATE} pushes/s for ${SECONDS} s)`);
      const l = await latency(api, app, devices);
      await drained(db, app.appId);
      const pgUs = pg.stop();
      const lcpu = others.map((pid, i) => (cpuUs(pid) ?? 0) - lcpu0[i]);
      const lwrites = procs.map((p, i) => (writeCalls(p.pid) - lwrites0[i]) / l.sent);
      const names = [...procs.map((p) => p.name), 'redis', 'clients'];
      latencyCpu.push(
        [
          ...names.map((n, i) => `${n} ${(lcpu[i] / l.sent).toFixed(0)}`),
          `postgres ${(pgUs / l.sent).toFixed(0)}`,
        ].join(', ') +
          `; write syscalls per push: ${procs.map((p, i) => `${p.name} ${lwrites[i].toFixed(1)}`).join(', ')}`,
      );
      tput.push(t.perSecond);
      p50s.push(l.p50);
      p99s.push(l.p99);
      rows.push(
        `| ${r + 1} | ${loadBefore} | ${t.perSecond.toFixed(0)} | ${t.p99.toFixed(1)} | ${t.errors} | ` +
          `${procs.map((p, i) => `${p.name} ${cpu[i].toFixed(1)}`).join(', ')} | ` +
          `${((cpu[0] * 1e6) / Math.max(1, t.accepted)).toFixed(0)} | ${writesPerPush.toFixed(2)} | ${drainS.toFixed(1)} | ` +
          // Delivered end to end: what the window accepted over the window and the drain after it.
          `${(t.accepted / (t.accepted / Math.max(1e-9, t.perSecond) + drainS)).toFixed(0)} | ` +
          `${l.p50} | ${l.p99} | ${l.received}/${l.sent} (${l.errors} errors) |`,
      );
      console.error(rows[rows.length - 1]);
    }
    console.log(
      `\n${machine()}; ${CLIENTS} clients × ${SECONDS} s for throughput; ${RATE} pushes/s × ${SECONDS} s to ${ONLINE} connected devices; ${WORKERS} worker(s)\n`,
    );
    console.log(
      '| run | load before | accepted pushes/s | POST p99 ms | errors | CPU s during the throughput window | api CPU µs per accepted push | api write syscalls per push | worker backlog drained after, s | delivered end to end /s | receipt p50 ms | receipt p99 ms | received |',
    );
    console.log('| --- | --- | ---: | ---: | ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: | --- |');
    for (const row of rows) console.log(row);
    const [t, p50, p99] = [median(tput), median(p50s), median(p99s)];
    console.log(
      `\nmedians: ${t.toFixed(0)} accepted pushes/s (bar ≥ 2,000: ${t >= 2000 ? 'met' : 'NOT MET'}); ` +
        `receipt p50 ${p50} ms (bar ≤ 20: ${p50 <= 20 ? 'met' : 'NOT MET'}), p99 ${p99} ms (bar ≤ 100: ${p99 <= 100 ? 'met' : 'NOT MET'})`,
    );
    if (errorKinds.size > 0) console.log(`\nfailed POSTs: ${JSON.stringify(Object.fromEntries(errorKinds))}`);
    console.log(
      `\nCPU µs per accepted push in the throughput window (the worker's backlog drains after it):`,
    );
    throughputCpu.forEach((c, i) => console.log(`- run ${i + 1}: ${c}`));
    console.log(`\nCPU µs per push in the latency phase (until drained):`);
    latencyCpu.forEach((c, i) => console.log(`- run ${i + 1}: ${c}`));
    console.log(
      `peak RSS MB: ${procs.map((p) => `${p.name} ${peakRssMb(p.pid).toFixed(0)}`).join(', ')}; load at the end ${load()}`,
    );
  } finally {
    await db.end();
    devices.child.send({ cmd: 'stop' });
    for (const p of procs) await stop(p.child);
    await stop(redis.child);
  }
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
