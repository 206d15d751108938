import type { INestApplication } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import type { NestExpressApplication } from '@nestjs/platform-express';
import { SwaggerModule } from '@nestjs/swagger';
import { Logger } from 'nestjs-pino';
import type { HeraldConfig } from '@herald/config';
import { httpMetricsMiddleware } from '@herald/metrics';
import { requestIdMiddleware } from '@herald/platform';
import { ApiModule } from './api.module';
import { CONSOLE_PATH, serveConsole } from './console.static';
import { securityHeaders } from './http/security-headers';
import { buildOpenApiDocument } from './openapi';

const DOCS_PATH = 'docs';

/** Builds the api application without listening, so tests and the all-in-one entry share it. */
function collapseSlashes(req: { url: string }, _res: unknown, next: () => void): void {
  const q = req.url.indexOf('?');
  const path = q < 0 ? req.url : req.url.slice(0, q);
  if (path.includes('//')) req.url = path.replace(/\/{2,}/g, '/') + (q < 0 ? '' : req.url.slice(q));
  next();
}

export async function createApiApp(config: HeraldConfig, logName = 'api'): Promise<INestApplication> {
  const app = await NestFactory.create<NestExpressApplication>(ApiModule.forRoot(config, logName), {
    bufferLogs: true,
    bodyParser: false,
  });
  app.useLogger(app.get(Logger));
  app.disable('x-powered-by');
  // No ETag on API answers: none is ever asked for again by it, and Express hashed every body (SHA-1)
  // to make one. A function that makes none, rather than `false`: files (the console's app shell,
  // its assets) keep the ETag `send` makes from the file's size and time, which a rollback to an
  // older build needs (its shell has an older modification time, and `If-Modified-Since` alone would
  // keep a browser on the newer shell).
  app.set('etag', () => undefined);
  // X-Forwarded-For is believed only from the configured proxies; otherwise the socket address counts.
  app.set('trust proxy', config.trustedProxies.length > 0 ? config.trustedProxies : false);
  app.use(requestIdMiddleware);
  app.use(httpMetricsMiddleware('api'));
  // JPush's own clients send some paths with doubled slashes (`/v3/tags//{tag}`); route them anyway.
  app.use(collapseSlashes);
  // Before every route: the console, the docs and API answers (errors and 404s too) carry them.
  app.use(securityHeaders({ console: CONSOLE_PATH, docs: `/${DOCS_PATH}` }));
  serveConsole(app);
  SwaggerModule.setup(DOCS_PATH, app, () => buildOpenApiDocument(app), {
    jsonDocumentUrl: `${DOCS_PATH}/openapi.json`,
  });
  return app;
}

export async function startApi(config: HeraldConfig, logName = 'api'): Promise<INestApplication> {
  const app = await createApiApp(config, logName);
  await app.listen(config.api.port, config.api.host);
  return app;
}
