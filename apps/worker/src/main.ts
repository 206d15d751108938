import 'reflect-metadata';
import { getDataSourceToken } from '@nestjs/typeorm';
import type { Redis } from 'ioredis';
import type { DataSource } from 'typeorm';
import { REDIS, runProcess, startOpsServer, type Closable } from '@herald/platform';
import { startWorker } from './worker.bootstrap';

runProcess('worker', async (config, logger) => {
  const app = await startWorker(config);
  const ops = await startOpsServer(
    { port: config.worker.metricsPort, host: config.api.host },
    { db: app.get<DataSource>(getDataSourceToken()), redis: app.get<Redis>(REDIS) },
    logger,
  );
  // The listener closes last: liveness keeps answering while the jobs in progress drain.
  const parts: Closable[] = [{ name: 'worker', close: () => app.close() }];
  if (ops) parts.push({ name: 'metrics', close: () => ops.close() });
  return parts;
});
