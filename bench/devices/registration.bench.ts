/**
 * Device registration through the real HTTP API: the built api process (`dist/apps/api/main.js`) on a
 * fresh migrated database, driven by 50 concurrent keep-alive clients on loopback for a fixed time.
 * Each registration carries a new FCM token, so every one is an insert with its unique-index checks.
 * Per registration it also reports the CPU of the api, of PostgreSQL (this database's backends and the
 * server's shared processes) and of the clients, and the api's write syscalls (from /proc): on a shared
 * machine those stay comparable when the rate does not.
 *
 * Run: `npm run build && npm run bench:registration` (part of `npm run bench:audience`).
 */
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { readFileSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import { join } from 'node:path';
import { Agent, request } from 'node:http';
import { createDataSource } from '@herald/db';
import {
  createTenantFixture,
  createTestDatabase,
  freePort,
  prepareTemplateDatabase,
  TEST_MASTER_KEY,
  testConfig,
} from '@herald/testing';
import { API_NODE_ARGS, CpuGroup, postgresPids } from '../fanout/harness';

const ROOT = join(__dirname, '../..');
const CLIENTS = Number(process.env.BENCH_CLIENTS ?? 50);
const SECONDS = Number(process.env.BENCH_SECONDS ?? 10);
const RUNS = Number(process.env.BENCH_RUNS ?? 3);

/** Write syscalls (write, writev, sendmsg) of a process so far: responses, queries and commands sent. */
function writeCalls(pid: number): number {
  const m = /^syscw: (\d+)$/m.exec(readFileSync(`/proc/${pid}/io`, 'utf8'));
  return m ? Number(m[1]) : NaN;
}

/** CPU time (µs) of a process so far, from /proc (utime + stime; CLK_TCK 100). */
function cpuUs(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(f[11]) + Number(f[12])) * 10_000;
}

function post(agent: Agent, port: number, appKey: string, body: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = request(
      {
        agent,
        host: '127.0.0.1',
        port,
        method: 'POST',
        path: '/sdk/v1/register',
        headers: {
          'Content-Type': 'application/json',
          'X-App-Key': appKey,
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

interface RunResult {
  perSecond: number;
  errors: number;
  p99Ms: number;
  /** The api process's CPU (user + system) per successful registration during the window. */
  apiCpuUs: number;
  /** The api process's write syscalls per registration: responses, statements and Redis commands sent. */
  apiWrites: number;
  /** The same for this database's PostgreSQL backends plus the server's shared processes. */
  pgCpuUs: number;
  /** The same for this process (the 50 HTTP clients). */
  clientCpuUs: number;
  load: string;
}

async function run(index: number): Promise<RunResult> {
  const database = await createTestDatabase();
  const config = testConfig({ DATABASE_URL: database.url });
  const db = createDataSource({ url: database.url, poolSize: 2 });
  await db.initialize();
  const { app } = await createTenantFixture(db, config);
  await db.destroy();
  const port = await freePort();
  const api = spawn(process.execPath, [...API_NODE_ARGS, join(ROOT, 'dist/apps/api/main.js')], {
    env: {
      ...process.env,
      HERALD_MASTER_KEY: TEST_MASTER_KEY,
      DATABASE_URL: database.url,
      HERALD_API_PORT: String(port),
      HERALD_BIND_HOST: '127.0.0.1',
      HERALD_LOG_LEVEL: 'error',
      HERALD_QUEUE_PREFIX: `benchreg${index}`,
      HERALD_DB_POOL_SIZE: '20',
      HERALD_SDK_REGISTER_PER_MINUTE: '100000000',
      HERALD_SDK_REGISTER_PER_APP_PER_MINUTE: '100000000',
    },
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  try {
    for (let i = 0; ; i++) {
      const ok = await fetch(`http://127.0.0.1:${port}/readyz`).then(
        (r) => r.ok,
        () => false,
      );
      if (ok) break;
      if (i > 200) throw new Error('api did not become ready');
      await new Promise((r) => setTimeout(r, 100));
    }
    const agent = new Agent({ keepAlive: true, maxSockets: CLIENTS });
    const latencies: number[] = [];
    let done = 0;
    let errors = 0;
    let seq = 0;
    const load = loadavg()[0].toFixed(2);
    const cpu0 = cpuUs(api.pid!);
    const writes0 = writeCalls(api.pid!);
    const pg = new CpuGroup(postgresPids(database.name));
    pg.start();
    const self0 = process.cpuUsage();
    const deadline = Date.now() + SECONDS * 1000;
    const start = Date.now();
    await Promise.all(
      Array.from({ length: CLIENTS }, async () => {
        while (Date.now() < deadline) {
          const body = JSON.stringify({
            platform: 'android',
            channel: 'fcm',
            token: `bench-${index}-${seq++}-${'t'.repeat(120)}`,
            language: 'zh-Hans-CN',
            country: 'CN',
            app_version: '3.2.1',
          });
          const t0 = performance.now();
          const status = await post(agent, port, app.appKey, body).catch(() => 0);
          latencies.push(performance.now() - t0);
          if (status === 200) done++;
          else errors++;
        }
      }),
    );
    const apiCpuUs = (cpuUs(api.pid!) - cpu0) / Math.max(1, done);
    const apiWrites = (writeCalls(api.pid!) - writes0) / Math.max(1, done);
    const pgCpuUs = pg.stop() / Math.max(1, done);
    const self = process.cpuUsage(self0);
    const clientCpuUs = (self.user + self.system) / Math.max(1, done);
    agent.destroy();
    const elapsed = (Date.now() - start) / 1000;
    latencies.sort((a, b) => a - b);
    return {
      perSecond: done / elapsed,
      errors,
      p99Ms: latencies[Math.floor(latencies.length * 0.99)],
      apiCpuUs,
      apiWrites,
      pgCpuUs,
      clientCpuUs,
      load,
    };
  } finally {
    api.kill('SIGTERM');
    await once(api, 'exit');
    await database.drop();
  }
}

async function main(): Promise<void> {
  await prepareTemplateDatabase();
  const results = [];
  for (let i = 0; i < RUNS; i++) results.push(await run(i));
  const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
  process.stdout.write(
    `node ${process.version}, ${cpus().length} CPUs (${cpus()[0]?.model ?? '?'}); ${CLIENTS} clients, ${SECONDS} s per run\n\n`,
  );
  process.stdout.write(
    '| run | load before | registrations/s | p99 ms | errors | CPU µs / registration: api | PostgreSQL | clients | api write syscalls / registration |\n' +
      '| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |\n',
  );
  results.forEach((r, i) =>
    process.stdout.write(
      `| ${i + 1} | ${r.load} | ${r.perSecond.toFixed(0)} | ${r.p99Ms.toFixed(1)} | ${r.errors} | ${r.apiCpuUs.toFixed(0)} | ${r.pgCpuUs.toFixed(0)} | ${r.clientCpuUs.toFixed(0)} | ${r.apiWrites.toFixed(2)} |\n`,
    ),
  );
  process.stdout.write(
    `| median | | ${median(results.map((r) => r.perSecond)).toFixed(0)} | ${median(results.map((r) => r.p99Ms)).toFixed(1)} | ${median(results.map((r) => r.errors))} | ${median(results.map((r) => r.apiCpuUs)).toFixed(0)} | ${median(results.map((r) => r.pgCpuUs)).toFixed(0)} | ${median(results.map((r) => r.clientCpuUs)).toFixed(0)} | ${median(results.map((r) => r.apiWrites)).toFixed(2)} |\n`,
  );
}

void main().catch((err: unknown) => {
  process.stderr.write(`${String(err)}\n`);
  process.exit(1);
});
