/**
 * The fan-out benchmark's own database, `herald_bench_fanout`: one app with BENCH_DEVICES devices
 * (default 1,000,000), seeded once in SQL and kept between invocations (re-seeded only when the count
 * or SEED_VERSION changes). Drop it with `psql -d postgres -c 'DROP DATABASE herald_bench_fanout'`.
 *
 * Channels: 45% APNs, 35% FCM, 20% gateway (never connected: their delivery is an inbox write).
 * 1% of the APNs and FCM tokens carry the fakes' invalid prefix, so the fakes answer Unregistered /
 * UNREGISTERED for exactly those without per-token scripting.
 */
import { Client } from 'pg';
import { generateMasterSecret, SecretHasher } from '@herald/crypto';
import { runMigrations } from '@herald/db';
import { testConfig } from '@herald/testing';
import { dbUrl, INVALID_PREFIX } from './harness';

export const BENCH_DB = 'herald_bench_fanout';
export const FANOUT_APP_KEY = 'benchFanoutApp0000000000';
const SEED_VERSION = 'bench-fanout v1';
const BATCH = 100_000;

export interface SeededApp {
  appId: string;
  basicAuth: string;
  devices: number;
  invalid: number;
  byChannel: Record<string, number>;
}

/** Creates (if missing) and migrates a benchmark database: the fan-out's by default. */
export async function ensureDatabase(name = BENCH_DB): Promise<void> {
  const admin = new Client({ connectionString: dbUrl('postgres') });
  await admin.connect();
  try {
    const found = await admin.query('SELECT 1 FROM pg_database WHERE datname = $1', [name]);
    if (found.rowCount === 0) await admin.query(`CREATE DATABASE ${name}`);
  } finally {
    await admin.end();
  }
  await runMigrations({ url: dbUrl(name), poolSize: 2 });
}

const h = (seed: number, mod: number) => `(abs(hashint8extended(g, ${seed})) % ${mod})::int`;
// Channel from one hash, invalidity from another; tokens unique per row. Valid APNs tokens start
// with 'a' so none can start with the invalid prefix by chance.
const DEVICE_SELECT = `
  SELECT $1::uuid, 'f' || g, 'bench-unused-secret-hash',
         CASE WHEN c < 45 THEN 'ios' ELSE 'android' END,
         CASE WHEN c < 45 THEN 'apns' WHEN c < 80 THEN 'fcm' ELSE 'gateway' END,
         CASE WHEN c < 45 THEN (CASE WHEN bad THEN '${INVALID_PREFIX.apns}' ELSE 'aaaa' END) || substr(md5(g::text) || md5('a' || g), 5)
              WHEN c < 80 THEN (CASE WHEN bad THEN '${INVALID_PREFIX.fcm}' ELSE 'tok-' END) || md5(g::text) || ':APA91b' || md5('f' || g) || md5('g' || g)
              ELSE NULL END,
         CASE WHEN c < 45 THEN 'production' ELSE NULL END,
         '{}'::text[],
         (ARRAY['zh-cn','zh-cn','en-us','ja-jp', NULL])[1 + ${h(6, 5)}],
         'CN', 'Asia/Shanghai', '1.0.0', 'active', now()
    FROM generate_series($2::bigint, $3::bigint) g,
         LATERAL (SELECT ${h(1, 100)} AS c, ${h(2, 100)} = 0 AS bad) x`;

export async function seedFanout(devices: number): Promise<SeededApp> {
  await ensureDatabase();
  const db = new Client({ connectionString: dbUrl(BENCH_DB) });
  await db.connect();
  try {
    const existing = await db.query<{ id: string; n: string }>(
      `SELECT a.id, (SELECT count(*) FROM devices d WHERE d.app_id = a.id)::text AS n
         FROM apps a JOIN tenants t ON t.id = a.tenant_id WHERE a.app_key = $1 AND t.name = $2`,
      [FANOUT_APP_KEY, SEED_VERSION],
    );
    let appId = existing.rows[0]?.id;
    if (!appId || Number(existing.rows[0].n) !== devices) {
      console.error(`seeding ${devices.toLocaleString('en')} devices (kept for later runs) …`);
      await db.query(`DELETE FROM apps WHERE app_key = $1`, [FANOUT_APP_KEY]);
      await db.query(`TRUNCATE devices, messages, tenants CASCADE`);
      const t = await db.query<{ id: string }>(`INSERT INTO tenants (name) VALUES ($1) RETURNING id`, [
        SEED_VERSION,
      ]);
      const a = await db.query<{ id: string }>(
        `INSERT INTO apps (tenant_id, name, app_key, master_secret_hash, rate_limit_per_minute)
         VALUES ($1, 'bench fanout', $2, 'unset', 1000000000) RETURNING id`,
        [t.rows[0].id, FANOUT_APP_KEY],
      );
      appId = a.rows[0].id;
      const started = Date.now();
      for (let from = 1; from <= devices; from += BATCH) {
        const to = Math.min(devices, from + BATCH - 1);
        await db.query(
          `INSERT INTO devices (app_id, registration_id, device_secret_hash, platform, channel, token,
             apns_environment, tags, language, country, timezone, app_version, status, last_seen_at)
           ${DEVICE_SELECT}`,
          [appId, from, to],
        );
        console.error(
          `  ${to.toLocaleString('en')} devices, ${((Date.now() - started) / 1000).toFixed(0)} s`,
        );
      }
      await db.query('VACUUM ANALYZE devices');
    }
    // A fresh master secret each invocation: only its hash is stored.
    const secret = generateMasterSecret();
    const hash = new SecretHasher(testConfig().crypto).hash(secret);
    await db.query(`UPDATE apps SET master_secret_hash = $2 WHERE id = $1`, [appId, hash]);
    const counts = await db.query<{ channel: string; n: string; bad: string }>(
      `SELECT channel, count(*)::text AS n,
              count(*) FILTER (WHERE token LIKE '${INVALID_PREFIX.apns}%' OR token LIKE '${INVALID_PREFIX.fcm}%')::text AS bad
         FROM devices WHERE app_id = $1 GROUP BY channel`,
      [appId],
    );
    return {
      appId,
      basicAuth: `Basic ${Buffer.from(`${FANOUT_APP_KEY}:${secret}`).toString('base64')}`,
      devices: counts.rows.reduce((s, r) => s + Number(r.n), 0),
      invalid: counts.rows.reduce((s, r) => s + Number(r.bad), 0),
      byChannel: Object.fromEntries(counts.rows.map((r) => [r.channel, Number(r.n)])),
    };
  } finally {
    await db.end();
  }
}

/**
 * Back to the seeded state before a run: no messages (TRUNCATE … CASCADE takes deliveries, counters,
 * failures, shards and callback events with them) and every device active again (the previous run's
 * feedback invalidated the 1%).
 */
export async function resetForRun(appId: string): Promise<void> {
  const db = new Client({ connectionString: dbUrl(BENCH_DB) });
  await db.connect();
  try {
    await db.query(`TRUNCATE messages, feedback_events, audit_log, device_receipts, webhook_events CASCADE`);
    await db.query(
      `UPDATE devices SET status = 'active', status_reason = NULL, status_changed_at = NULL
        WHERE app_id = $1 AND status <> 'active'`,
      [appId],
    );
    await db.query('VACUUM ANALYZE devices');
  } finally {
    await db.end();
  }
}
