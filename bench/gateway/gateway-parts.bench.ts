/**
 * Two parts of the gateway measured alone (`npm run bench:gateway-parts`), on the test database and
 * Redis, each run several times (medians printed):
 *
 * - the ack ledger statement (`DELIVERED_SQL`): 19,000 acks of one message in statements of 250 and
 *   of 2,000 acks (the flush size under load), PostgreSQL time per ack, one connection;
 * - the presence refresh of 19,000 claims at once: `PresenceStore.refresh` (script calls of 1,000 keys)
 *   against one pipelined `PEXPIRE` per claim, the node's CPU and Redis's.
 *
 * Environment (optional): BENCH_RUNS (7), BENCH_DEVICES (19000).
 */
import { randomBytes } from 'node:crypto';
import { PresenceStore } from '@herald/providers';
import { execPerNode } from '@herald/queue';
import { createTestContext, prepareTemplateDatabase, type TestContext } from '@herald/testing';
import { DELIVERED_SQL } from '../../apps/gateway/src/receipt.writer';
import { log, machine, median } from '../fanout/harness';

const RUNS = Number(process.env.BENCH_RUNS ?? 7);
const DEVICES = Number(process.env.BENCH_DEVICES ?? 19_000);

/** Redis main-thread CPU milliseconds (`INFO cpu`). */
async function redisCpuMs(ctx: TestContext): Promise<number> {
  const info = await ctx.redis.info('cpu');
  const get = (k: string) => Number(new RegExp(`${k}:([0-9.]+)`).exec(info)?.[1] ?? 0);
  return (get('used_cpu_user') + get('used_cpu_sys')) * 1000;
}

async function ackStatement(ctx: TestContext, page: number): Promise<number[]> {
  const [{ id: tenant }] = await ctx.db.query<{ id: string }[]>(
    `INSERT INTO tenants (name) VALUES ('bench') RETURNING id`,
  );
  const [{ id: app }] = await ctx.db.query<{ id: string }[]>(
    `INSERT INTO apps (tenant_id, name, app_key, master_secret_hash) VALUES ($1, 'bench', $2, 'x') RETURNING id`,
    [tenant, randomBytes(12).toString('hex')],
  );
  const devices = (
    await ctx.db.query<{ id: string }[]>(
      `INSERT INTO devices (app_id, registration_id, device_secret_hash, platform, channel)
       SELECT $1, 'b' || g || md5(random()::text), 'h', 'android', 'gateway' FROM generate_series(1, $2) g
       RETURNING id::text`,
      [app, DEVICES],
    )
  ).map((d) => d.id);
  const perAck: number[] = [];
  const runner = ctx.db.createQueryRunner();
  await runner.connect();
  try {
    for (let run = 0; run < RUNS; run++) {
      const [{ id: message }] = await ctx.db.query<{ id: string }[]>(
        `INSERT INTO messages (app_id, request, audience, platforms) VALUES ($1, '{}', '"all"', '{android}') RETURNING id::text`,
        [app],
      );
      const started = process.hrtime.bigint();
      for (let i = 0; i < devices.length; i += page) {
        const ids = devices.slice(i, i + page);
        await runner.query(DELIVERED_SQL, [ids.map(() => message), ids, ids.map(() => app), new Date()]);
      }
      perAck.push(Number(process.hrtime.bigint() - started) / 1000 / devices.length);
    }
  } finally {
    await runner.release();
  }
  return perAck;
}

async function presenceRefresh(ctx: TestContext) {
  const presence = new PresenceStore(ctx.redis, ctx.namespace);
  const claims = Array.from({ length: DEVICES }, (_, i) => ({ rid: `bench${i}`, value: `node|${i}` }));
  const keys = claims.map((c) => presence.keys.device(c.rid).presence);
  await execPerNode(
    ctx.redis,
    claims,
    (c) => c.rid,
    (p, c) => p.set(presence.keys.device(c.rid).presence, c.value, 'PX', 600_000),
  );
  const ways = {
    script: () => presence.refresh(claims, 600_000),
    pexpire: () =>
      execPerNode(
        ctx.redis,
        keys,
        (k) => k,
        (p, k) => p.pexpire(k, 600_000),
      ),
  };
  const out = {
    script: { node: [] as number[], redis: [] as number[] },
    pexpire: { node: [] as number[], redis: [] as number[] },
  };
  for (let run = 0; run < RUNS; run++) {
    for (const way of ['pexpire', 'script'] as const) {
      const r0 = await redisCpuMs(ctx);
      const c0 = process.cpuUsage();
      await ways[way]();
      const c = process.cpuUsage(c0);
      out[way].node.push((c.user + c.system) / 1000);
      out[way].redis.push((await redisCpuMs(ctx)) - r0);
    }
  }
  return out;
}

async function main() {
  log(`machine: ${machine()}`);
  await prepareTemplateDatabase();
  const ctx = await createTestContext({ HERALD_LOG_LEVEL: 'warn' });
  try {
    const fmt = (xs: number[]) => `${median(xs).toFixed(1)} (${xs.map((x) => x.toFixed(1)).join(', ')})`;
    for (const page of [250, 2_000]) {
      log(`ack ledger statement, ${page} acks a statement: µs per ack ${fmt(await ackStatement(ctx, page))}`);
    }
    const r = await presenceRefresh(ctx);
    log(
      `presence refresh of ${DEVICES} claims: script node ${fmt(r.script.node)} ms, Redis ${fmt(r.script.redis)} ms; ` +
        `pipelined PEXPIRE node ${fmt(r.pexpire.node)} ms, Redis ${fmt(r.pexpire.redis)} ms`,
    );
  } finally {
    await ctx.close();
  }
}

main().then(
  () => process.exit(0),
  (err: unknown) => {
    console.error(err);
    process.exit(1);
  },
);
