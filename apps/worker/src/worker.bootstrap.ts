import type { INestApplicationContext } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { Logger } from 'nestjs-pino';
import type { HeraldConfig } from '@herald/config';
import { WorkerModule } from './worker.module';

/** The worker has no HTTP surface: a Nest application context running BullMQ workers. */
export async function startWorker(
  config: HeraldConfig,
  logName = 'worker',
): Promise<INestApplicationContext> {
  const app = await NestFactory.createApplicationContext(WorkerModule.forRoot(config, logName), {
    bufferLogs: true,
  });
  app.useLogger(app.get(Logger));
  await app.init();
  return app;
}
