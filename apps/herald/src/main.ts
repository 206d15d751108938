import 'reflect-metadata';
import type { HeraldConfig } from '@herald/config';
import { createDataSource, runMigrations } from '@herald/db';
import { runProcess, type Closable } from '@herald/platform';
import { startApi } from '../../api/src/api.bootstrap';
import { startGateway } from '../../gateway/src/gateway.bootstrap';
import { startWorker } from '../../worker/src/worker.bootstrap';
import { seedDemo } from './demo.seed';

/**
 * The all-in-one entry, and the only place that composes other apps: `serve` (default) runs api,
 * worker and gateway in this one process; `migrate` and `seed` are the set-up steps of `npm run up`.
 */
async function serve(config: HeraldConfig): Promise<Closable[]> {
  // One process, one root logger (nestjs-pino keeps it per process): every line says `app: herald`.
  const worker = await startWorker(config, 'herald');
  const gateway = await startGateway(config, 'herald');
  const api = await startApi(config, 'herald');
  process.stdout.write(
    [
      '',
      'Herald is running (api + worker + gateway in one process). Ctrl-C stops it.',
      `  Developer API  ${config.api.publicUrl}/v3`,
      `  SDK API        ${config.api.publicUrl}/sdk/v1`,
      `  Dashboard API  ${config.api.publicUrl}/dashboard/v1`,
      `  API docs       ${config.api.publicUrl}/docs`,
      `  Readiness      ${config.api.publicUrl}/readyz`,
      `  Gateway        ${config.gateway.publicUrl}`,
      '',
    ].join('\n'),
  );
  // Stop taking requests and connections first, then let the workers drain their active jobs.
  return [
    { name: 'api', close: () => api.close() },
    { name: 'gateway', close: () => gateway.close() },
    { name: 'worker', close: () => worker.close() },
  ];
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
        `demo data: ${demo.created ? 'created' : 'already present, unchanged'}`,
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

const command = process.argv[2] ?? 'serve';
const oneShot: Record<string, (config: HeraldConfig) => Promise<void>> = { migrate, seed };

if (command === 'serve') {
  runProcess('herald', (config) => serve(config));
} else if (oneShot[command]) {
  const run = oneShot[command];
  runProcess(`herald ${command}`, async (config) => {
    await run(config);
    process.exit(0);
  });
} else {
  process.stderr.write(`usage: herald [serve|migrate|seed]\n`);
  process.exit(64);
}
