/**
 * Fan-out benchmark (issue 6): one `POST /v3/push` to `audience: "all"` of 1,000,000 devices (45%
 * APNs, 35% FCM, 20% offline gateway; 1% of the tokens invalid), through the built api and worker
 * processes, the fakes in their own processes and a Redis of its own. Measures accept → the message's
 * `completed` (the last provider answer and inbox write recorded), the CPU of Herald's processes per
 * notification sent, PostgreSQL's and Redis's CPU beside it, each Herald process's peak RSS, and checks
 * the counters are exact.
 *
 * Run: `npm run build && npm run bench:fanout`. Environment: BENCH_DEVICES (1000000), BENCH_RUNS (3),
 * BENCH_WORKERS ("1,2": worker process counts to try), BENCH_CPU_PROF (a directory: write a V8 CPU
 * profile of each worker there), HERALD_PUSH_CONCURRENCY / HERALD_SHARD_SIZE (passed to the workers).
 * The devices are seeded once into `herald_bench_fanout` (see seed.ts) and kept.
 */
import { Client } from 'pg';
import { Redis } from 'ioredis';
import { EnvelopeCipher } from '@herald/crypto';
import { createDataSource } from '@herald/db';
import type { ApnsCredentials, FcmServiceAccount } from '@herald/providers';
import { CredentialStore } from '@herald/push';
import { testConfig } from '@herald/testing';
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
  startFake,
  startHerald,
  startRedis,
  stop,
  type Fake,
  type HeraldProcess,
} from './harness';
import { BENCH_DB, resetForRun, seedFanout, type SeededApp } from './seed';

const DEVICES = Number(process.env.BENCH_DEVICES ?? 1_000_000);
const RUNS = Number(process.env.BENCH_RUNS ?? 3);
const WORKER_COUNTS = (process.env.BENCH_WORKERS ?? '1,2').split(',').map(Number);
const CPU_PROF_DIR = process.env.BENCH_CPU_PROF;
const RUN_TIMEOUT_MS = 20 * 60_000;
// The peer's adapter-only CPU per notification (../shared/spec/dependencies.md: 65–110 µs).
const PEER_US = { low: 65, high: 110 };

interface RunResult {
  workers: number;
  loadBefore: string;
  acceptMs: number;
  totalS: number;
  heraldCpuUs: number;
  perProcessCpuS: Record<string, number>;
  peakRss: Record<string, number>;
  pgCpuS: number;
  redisCpuS: number;
  fakesCpuS: number;
  targets: number;
  sent: number;
  failed: number;
  failures: string;
  exact: boolean;
}

async function saveCredentials(appId: string, apns: Fake, fcm: Fake): Promise<void> {
  const config = testConfig({ DATABASE_URL: dbUrl(BENCH_DB) });
  const ds = createDataSource({ url: dbUrl(BENCH_DB), poolSize: 1 });
  await ds.initialize();
  try {
    const store = new CredentialStore(ds, new EnvelopeCipher(config.crypto));
    const k = apns.ready.credentials;
    const apnsCred: ApnsCredentials = { kind: 'token', key: k.key, keyId: k.keyId, teamId: k.teamId };
    await store.saveApns(appId, 'both', apnsCred, k.bundleId);
    await store.saveFcm(appId, fcm.ready.credentials as unknown as FcmServiceAccount);
  } finally {
    await ds.destroy();
  }
}

async function run(
  index: number,
  workers: number,
  seeded: SeededApp,
  redisUrl: string,
  redisPid: number,
  fakes: Fake[],
): Promise<RunResult> {
  await resetForRun(seeded.appId);
  const flush = new Redis(redisUrl);
  await flush.flushall();
  flush.disconnect();
  const loadBefore = await quietMachine();
  const env = {
    DATABASE_URL: dbUrl(BENCH_DB),
    REDIS_URL: redisUrl,
    HERALD_QUEUE_PREFIX: `bf${index}`,
    HERALD_APNS_ENDPOINT: fakes[0].ready.url,
    HERALD_FCM_ENDPOINT: fakes[1].ready.url,
  };
  const procs: HeraldProcess[] = [await startHerald('api', 'api', env, API_NODE_ARGS)];
  for (let w = 0; w < workers; w++) {
    const prof = CPU_PROF_DIR
      ? [
          '--cpu-prof',
          `--cpu-prof-dir=${CPU_PROF_DIR}`,
          `--cpu-prof-name=worker-run${index}-w${w}.cpuprofile`,
        ]
      : [];
    procs.push(await startHerald('worker', `worker${w + 1}`, env, prof));
  }
  const db = new Client({ connectionString: dbUrl(BENCH_DB) });
  await db.connect();
  try {
    const pg = new CpuGroup(postgresPids(BENCH_DB));
    const herald0 = procs.map((p) => cpuUs(p.pid) ?? 0);
    const redis0 = cpuUs(redisPid) ?? 0;
    const fakes0 = fakes.map((f) => cpuUs(f.child.pid!) ?? 0);
    pg.start();
    const t0 = performance.now();
    const res = await fetch(`http://127.0.0.1:${procs[0].port}/v3/push`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json', Authorization: seeded.basicAuth },
      body: JSON.stringify({
        platform: 'all',
        audience: 'all',
        notification: { alert: 'Benchmark fan-out', android: { title: 'Herald' } },
        options: { time_to_live: 86400 },
      }),
    });
    const acceptMs = performance.now() - t0;
    const body = (await res.json()) as { msg_id?: string };
    if (res.status !== 200 || !body.msg_id)
      throw new Error(`push answered ${res.status} ${JSON.stringify(body)}`);
    const msgId = body.msg_id;
    let status = '';
    let lastLog = 0;
    while (performance.now() - t0 < RUN_TIMEOUT_MS) {
      await sleep(250);
      const { rows } = await db.query<{ status: string; done: number; total: number | null }>(
        `SELECT status, shards_done AS done, shards_total AS total FROM messages WHERE id = $1`,
        [msgId],
      );
      status = rows[0]?.status ?? 'missing';
      if (status !== 'accepted' && status !== 'planning' && status !== 'sending') break;
      if (performance.now() - lastLog > 10_000) {
        lastLog = performance.now();
        process.stderr.write(
          `  ${((performance.now() - t0) / 1000).toFixed(0)} s: ${status} ${rows[0]?.done}/${rows[0]?.total ?? '?'} shards, load ${load()}\n`,
        );
      }
    }
    // Every figure is read at completion, before the processes are stopped.
    const heraldCpu = procs.map((p, i) => (cpuUs(p.pid) ?? 0) - herald0[i]);
    const peakRss = Object.fromEntries(procs.map((p) => [p.name, peakRssMb(p.pid)]));
    const pgCpu = pg.stop();
    const redisCpu = (cpuUs(redisPid) ?? 0) - redis0;
    const fakesCpu = fakes.reduce((s, f, i) => s + (cpuUs(f.child.pid!) ?? 0) - fakes0[i], 0);
    if (status !== 'completed') throw new Error(`message ${msgId} ended ${status}`);
    const {
      rows: [times],
    } = await db.query<{ ms: number }>(
      `SELECT extract(epoch FROM completed_at - created_at) * 1000 AS ms FROM messages WHERE id = $1`,
      [msgId],
    );
    const {
      rows: [c],
    } = await db.query<{ targets: string; sent: string; failed: string }>(
      `SELECT sum(targets)::text AS targets, sum(sent)::text AS sent, sum(failed)::text AS failed
         FROM message_counters WHERE message_id = $1`,
      [msgId],
    );
    const { rows: fails } = await db.query<{ f: string }>(
      `SELECT channel || ':' || reason || ':' || count AS f FROM message_failures WHERE message_id = $1 ORDER BY 1`,
      [msgId],
    );
    const {
      rows: [ledger],
    } = await db.query<{ n: string }>(`SELECT count(*)::text AS n FROM deliveries WHERE message_id = $1`, [
      msgId,
    ]);
    const [targets, sent, failed] = [Number(c.targets), Number(c.sent), Number(c.failed)];
    const exact =
      targets === seeded.devices &&
      failed === seeded.invalid &&
      sent === seeded.devices - seeded.invalid &&
      Number(ledger.n) === seeded.devices;
    return {
      workers,
      loadBefore,
      acceptMs,
      totalS: Number(times.ms) / 1000,
      heraldCpuUs: heraldCpu.reduce((a, b) => a + b, 0),
      perProcessCpuS: Object.fromEntries(procs.map((p, i) => [p.name, heraldCpu[i] / 1e6])),
      peakRss,
      pgCpuS: pgCpu / 1e6,
      redisCpuS: redisCpu / 1e6,
      fakesCpuS: fakesCpu / 1e6,
      targets,
      sent,
      failed,
      failures: `${fails.map((f) => f.f).join(', ')}; ledger rows ${ledger.n}`,
      exact,
    };
  } finally {
    await db.end();
    // Workers last: a graceful stop lets --cpu-prof write its profile.
    for (const p of procs) await stop(p.child, 30_000);
  }
}

async function main(): Promise<void> {
  const seeded = await seedFanout(DEVICES);
  console.error(
    `devices ${seeded.devices} ${JSON.stringify(seeded.byChannel)}, invalid tokens ${seeded.invalid}`,
  );
  const fakes = [await startFake('apns'), await startFake('fcm')];
  const redis = await startRedis();
  const results: RunResult[] = [];
  try {
    await saveCredentials(seeded.appId, fakes[0], fakes[1]);
    let index = 0;
    for (const workers of WORKER_COUNTS) {
      for (let r = 0; r < RUNS; r++) {
        console.error(`run ${r + 1}/${RUNS}, ${workers} worker(s), load ${load()}`);
        const result = await run(index++, workers, seeded, redis.url, redis.child.pid!, fakes);
        results.push(result);
        console.error(`  ${JSON.stringify(result)}`);
      }
    }
  } finally {
    for (const f of fakes) await stop(f.child);
    await stop(redis.child);
  }
  const sent = seeded.devices - seeded.invalid;
  console.log(
    `\n${machine()}; ${seeded.devices.toLocaleString('en')} devices ${JSON.stringify(seeded.byChannel)}, ` +
      `${seeded.invalid} invalid tokens; HERALD_PUSH_CONCURRENCY=${process.env.HERALD_PUSH_CONCURRENCY ?? '8 (default)'}, ` +
      `HERALD_SHARD_SIZE=${process.env.HERALD_SHARD_SIZE ?? '10000 (default)'}\n`,
  );
  console.log(
    '| workers | run | load before | accept ms | accept → completed s | Herald CPU s (per process) | Herald CPU µs/notification | PostgreSQL CPU s | Redis CPU s | fakes CPU s | peak RSS MB | counters exact |',
  );
  console.log('| --- | --- | --- | ---: | ---: | --- | ---: | ---: | ---: | ---: | --- | --- |');
  for (const [i, r] of results.entries()) {
    console.log(
      `| ${r.workers} | ${i + 1} | ${r.loadBefore} | ${r.acceptMs.toFixed(0)} | ${r.totalS.toFixed(1)} | ` +
        `${(r.heraldCpuUs / 1e6).toFixed(1)} (${Object.entries(r.perProcessCpuS)
          .map(([k, v]) => `${k} ${v.toFixed(1)}`)
          .join(
            ', ',
          )}) | ${(r.heraldCpuUs / r.sent).toFixed(1)} | ${r.pgCpuS.toFixed(1)} | ${r.redisCpuS.toFixed(1)} | ` +
        `${r.fakesCpuS.toFixed(1)} | ${Object.entries(r.peakRss)
          .map(([k, v]) => `${k} ${v.toFixed(0)}`)
          .join(', ')} | ${r.exact ? 'yes' : `NO (${r.targets}/${r.sent}/${r.failed})`} ${r.failures} |`,
    );
  }
  console.log(
    '\n| workers | median accept → completed | bar ≤ 90 s | median Herald µs/notification | bar ≤ 1.3 × peer | max peak RSS MB | bar ≤ 400 MB | exact |',
  );
  console.log('| --- | ---: | --- | ---: | --- | ---: | --- | --- |');
  for (const workers of WORKER_COUNTS) {
    const rs = results.filter((r) => r.workers === workers);
    if (rs.length === 0) continue;
    const total = median(rs.map((r) => r.totalS));
    const us = median(rs.map((r) => r.heraldCpuUs / sent));
    const rss = Math.max(...rs.flatMap((r) => Object.values(r.peakRss)));
    console.log(
      `| ${workers} | ${total.toFixed(1)} s | ${total <= 90 ? 'met' : 'NOT MET'} | ${us.toFixed(1)} µs ` +
        `(${(us / PEER_US.high).toFixed(2)}× of ${PEER_US.high} µs, ${(us / PEER_US.low).toFixed(2)}× of ${PEER_US.low} µs) | ` +
        `${us <= 1.3 * PEER_US.high ? 'met vs 110 µs' : 'NOT MET'} | ${rss.toFixed(0)} | ${rss <= 400 ? 'met' : 'NOT MET'} | ` +
        `${rs.every((r) => r.exact) ? 'yes' : 'NO'} |`,
    );
  }
  console.log(`\nload average at the end: ${load()}`);
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
