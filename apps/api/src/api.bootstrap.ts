import type { INestApplication } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import type { NestExpressApplication } from '@nestjs/platform-express';
import { SwaggerModule } from '@nestjs/swagger';
import { Logger } from 'nestjs-pino';
import type { HeraldConfig } from '@herald/config';
import { requestIdMiddleware } from '@herald/platform';
import { ApiModule } from './api.module';
import { buildOpenApiDocument } from './openapi';

/** Builds the api application without listening, so tests and the all-in-one entry share it. */
export async function createApiApp(config: HeraldConfig, logName = 'api'): Promise<INestApplication> {
  const app = await NestFactory.create<NestExpressApplication>(ApiModule.forRoot(config, logName), {
    bufferLogs: true,
    bodyParser: false,
  });
  app.useLogger(app.get(Logger));
  app.disable('x-powered-by');
  app.set('trust proxy', false);
  app.use(requestIdMiddleware);
  SwaggerModule.setup('docs', app, () => buildOpenApiDocument(app), { jsonDocumentUrl: 'docs/openapi.json' });
  return app;
}

export async function startApi(config: HeraldConfig, logName = 'api'): Promise<INestApplication> {
  const app = await createApiApp(config, logName);
  await app.listen(config.api.port, config.api.host);
  return app;
}
