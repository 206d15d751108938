import 'reflect-metadata';
import type { HeraldConfig } from '@herald/config';
import { EnvelopeCipher } from '@herald/crypto';
import { createDataSource, runMigrations } from '@herald/db';
import { runProcess, type Closable } from '@herald/platform';
import { startApi } from '../../api/src/api.bootstrap';
import { startGateway } from '../../gateway/src/gateway.bootstrap';
import { startWorker } from '../../worker/src/worker.bootstrap';
import { seedDemo } from './demo.seed';
import { rewrapEnvelopes } from './rewrap';

/**
 * The all-in-one entry, and the only place that composes other apps: `serve` (default) runs api,
 * worker and gateway in this one process; `migrate` and `seed` are the set-up steps of `npm run up`.
 */
async function serve(config: HeraldConfig): Promise<Closable[]> {
  // Closed in this order on shutdown: stop taking requests and connections, then drain the workers.
  const started: Closable[] = [];
  try {
    // One process, one root logger (nestjs-pino keeps it per process): every line says `app: herald`.
    const worker = await startWorker(config, 'herald');
    started.unshift({ name: 'worker', close: () => worker.close() });
    const gateway = await startGateway(config, 'herald');
    started.unshift({ name: 'gateway', close: () => gateway.close() });
    const api = await startApi(config, 'herald');
    started.unshift({ name: 'api', close: () => api.close() });
  } catch (err) {
    // A part that failed to start (a port in use, say) must not leave the others running jobs.
    for (const part of started) await part.close().catch(() => undefined);
    throw err;
  }
  process.stdout.write(
    [
      '',
      'Herald is running (api + worker + gateway in one process). Ctrl-C stops it.',
      `  Developer API  ${config.api.publicUrl}/v3`,
      `  SDK API        ${config.api.publicUrl}/sdk/v1`,
      `  Console        ${config.api.publicUrl}/console`,
      `  Dashboard API  ${config.api.publicUrl}/dashboard/v1`,
      `  API docs       ${config.api.publicUrl}/docs`,
      `  Readiness      ${config.api.publicUrl}/readyz`,
      `  Gateway        ${config.gateway.publicUrl}`,
      '',
    ].join('\n'),
  );
  return started;
}

async function migrate(config: HeraldConfig): Promise<void> {
  const applied = await runMigrations({ url: config.database.url, poolSize: 2 });
  process.stdout.write(
    applied.length === 0 ? 'migrations: up to date\n' : `migrations: applied ${applied.join(', ')}\n`,
  );
}

async function seed(config: HeraldConfig): Promise<void> {
  const db = createDataSource({ url: config.database.url, poolSize: 2, applicationName: 'herald-seed' });
  await db.initialize();
  try {
    const demo = await seedDemo(db, config);
    process.stdout.write(
      [
        `demo data: ${{ created: 'created', unchanged: 'already present, unchanged', reset: 'present; secrets reset to match this master key' }[demo.outcome]}`,
        `  Dashboard login  ${demo.email} / ${demo.password}`,
        `  appKey           ${demo.appKey}`,
        `  masterSecret     ${demo.masterSecret}`,
        '',
      ].join('\n'),
    );
  } finally {
    await db.destroy();
  }
}

/** Re-encrypts every envelope at rest under the current master key (a rotation's second step). */
async function rewrap(config: HeraldConfig): Promise<void> {
  const db = createDataSource({ url: config.database.url, poolSize: 2, applicationName: 'herald-rewrap' });
  await db.initialize();
  try {
    const report = await rewrapEnvelopes(db, new EnvelopeCipher(config.crypto), config.crypto.current.id);
    process.stdout.write(`rewrap: moved to key ${config.crypto.current.id}: ${JSON.stringify(report)}\n`);
  } finally {
    await db.destroy();
  }
}

const command = process.argv[2] ?? 'serve';
const oneShot: Record<string, (config: HeraldConfig) => Promise<void>> = { migrate, seed, rewrap };

if (command === 'serve') {
  runProcess('herald', (config) => serve(config));
} else if (oneShot[command]) {
  const run = oneShot[command];
  runProcess(`herald ${command}`, async (config) => {
    await run(config);
    process.exit(0);
  });
} else {
  process.stderr.write(`usage: herald [serve|migrate|seed|rewrap]\n`);
  process.exit(64);
}
