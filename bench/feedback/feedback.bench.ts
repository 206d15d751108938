/**
 * Token-hygiene benchmark (issue 7): 100,000 invalid-token events → device states changed.
 *
 * Run: `npm run bench:feedback`. It creates and migrates its own database, `herald_bench_feedback`, on
 * the server of DATABASE_URL, and for each run seeds 100,000 FCM devices of one app, enqueues their
 * `UNREGISTERED` outcomes as the fan-out does (jobs of 2,000 items — one shard page each), runs a real
 * worker (the Nest worker module, in this process) and times enqueue → the last device `invalid`.
 */
import { cpus, loadavg } from 'node:os';
import { Client } from 'pg';
import { configFromProcessEnv } from '@herald/config';
import { runMigrations } from '@herald/db';
import { QueueService } from '@herald/platform';
import { TEST_MASTER_KEY } from '@herald/testing';
import { startWorker } from '../../apps/worker/src/worker.bootstrap';

const BENCH_DB = 'herald_bench_feedback';
const EVENTS = Number(process.env.BENCH_EVENTS ?? 100_000);
const PAGE = 2_000;
const RUNS = Number(process.env.BENCH_RUNS ?? 3);

const baseUrl = process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/herald';
const urlFor = (db: string) => {
  const url = new URL(baseUrl);
  url.pathname = `/${db}`;
  return url.toString();
};

async function ensureDatabase(): Promise<void> {
  const admin = new Client({ connectionString: urlFor('postgres') });
  await admin.connect();
  try {
    const found = await admin.query('SELECT 1 FROM pg_database WHERE datname = $1', [BENCH_DB]);
    if (found.rowCount === 0) await admin.query(`CREATE DATABASE ${BENCH_DB}`);
  } finally {
    await admin.end();
  }
  await runMigrations({ url: urlFor(BENCH_DB), poolSize: 2 });
}

/** A fresh app with EVENTS devices, a sent message, and its ledger rows marked invalid_token. */
async function seed(db: Client): Promise<{ appId: string; messageId: string; deviceIds: string[] }> {
  await db.query('TRUNCATE tenants, feedback_events, audit_log CASCADE');
  const {
    rows: [tenant],
  } = await db.query<{ id: string }>(`INSERT INTO tenants (name) VALUES ('bench') RETURNING id`);
  const {
    rows: [app],
  } = await db.query<{ id: string }>(
    `INSERT INTO apps (tenant_id, name, app_key, master_secret_hash) VALUES ($1, 'bench', 'benchFeedbackApp00000000', 'x')
     RETURNING id`,
    [tenant.id],
  );
  const { rows: devices } = await db.query<{ id: string }>(
    `INSERT INTO devices (app_id, registration_id, device_secret_hash, platform, channel, token, token_updated_at)
     SELECT $1, 'fb-' || g, 'x', 'android', 'fcm', 'fcm:' || md5(g::text) || md5('t' || g),
            now() - interval '1 day'
       FROM generate_series(1, $2::int) g
     RETURNING id::text`,
    [app.id, EVENTS],
  );
  const {
    rows: [message],
  } = await db.query<{ id: string }>(
    `INSERT INTO messages (app_id, request, audience, platforms, status, started_at)
     VALUES ($1, '{"platform":"all","audience":{"all":true},"options":{"sendno":"0","time_to_live":86400}}',
             '{"all":true}', '{all}', 'completed', now())
     RETURNING id::text`,
    [app.id],
  );
  await db.query(
    `INSERT INTO deliveries (message_id, device_id, app_id, channel, state, reason, attempts)
     SELECT $1, id, $2, 'fcm', 'invalid_token', 'UNREGISTERED', 1 FROM devices WHERE app_id = $2`,
    [message.id, app.id],
  );
  await db.query('VACUUM ANALYZE devices');
  return { appId: app.id, messageId: message.id, deviceIds: devices.map((d) => d.id) };
}

function cpuSeconds(): number {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1e6;
}

async function main(): Promise<void> {
  await ensureDatabase();
  const db = new Client({ connectionString: urlFor(BENCH_DB) });
  await db.connect();
  const rates: number[] = [];
  console.log(`machine: ${cpus().length} × ${cpus()[0]?.model}, node ${process.version}`);
  for (let run = 1; run <= RUNS; run++) {
    const { appId, messageId, deviceIds } = await seed(db);
    const config = configFromProcessEnv(
      { HERALD_MASTER_KEY: TEST_MASTER_KEY, HERALD_LOG_LEVEL: 'warn' },
      { DATABASE_URL: urlFor(BENCH_DB), HERALD_QUEUE_PREFIX: `benchfb${Date.now()}` },
    );
    const worker = await startWorker(config);
    const queues = worker.get(QueueService);
    const load = loadavg()[0];
    const cpu0 = cpuSeconds();
    const t0 = performance.now();
    const jobs = [];
    for (let i = 0; i < deviceIds.length; i += PAGE) {
      jobs.push({
        name: 'feedback.invalid-tokens',
        // As the fan-out enqueues them (QueueService.add's defaults).
        opts: { attempts: 5, backoff: { type: 'exponential', delay: 1_000 } },
        data: {
          appId,
          items: deviceIds.slice(i, i + PAGE).map((deviceId) => ({
            deviceId,
            messageId,
            channel: 'fcm' as const,
            reason: 'UNREGISTERED',
            status: 404,
          })),
        },
      });
    }
    await queues.queue('feedback').addBulk(jobs);
    for (let i = 0; ; i++) {
      if (i % 100 === 99) {
        const failed = await queues.queue('feedback').getFailedCount();
        if (failed > 0) throw new Error(`${failed} feedback jobs failed`);
      }
      const { rows } = await db.query<{ n: number }>(
        `SELECT count(*)::int AS n FROM devices WHERE app_id = $1 AND status = 'invalid'`,
        [appId],
      );
      if (rows[0].n >= EVENTS) break;
      await new Promise((r) => setTimeout(r, 50));
    }
    const seconds = (performance.now() - t0) / 1000;
    const cpu = cpuSeconds() - cpu0;
    const rate = EVENTS / seconds;
    rates.push(rate);
    const { rows: fe } = await db.query<{ n: number }>(
      `SELECT count(*)::int AS n FROM feedback_events WHERE app_id = $1 AND action = 'invalidated'`,
      [appId],
    );
    console.log(
      `run ${run}: ${EVENTS} events in ${seconds.toFixed(2)} s = ${Math.round(rate)} events/s; ` +
        `worker process CPU ${cpu.toFixed(2)} s; feedback_events ${fe[0].n}; load before ${load.toFixed(2)}`,
    );
    await queues.queue('feedback').obliterate({ force: true });
    await worker.close();
  }
  await db.end();
  const sorted = [...rates].sort((a, b) => a - b);
  const median = sorted[Math.floor(sorted.length / 2)];
  console.log(
    `median: ${Math.round(median)} events/s (bar ≥ 20,000): ${median >= 20_000 ? 'met' : 'NOT MET'}`,
  );
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
