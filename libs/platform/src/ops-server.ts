import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Redis } from 'ioredis';
import type { Logger } from 'pino';
import type { DataSource } from 'typeorm';
import { heraldMetrics } from '@herald/metrics';
import { readiness } from './health';

export interface OpsServer {
  port: number;
  close(): Promise<void>;
}

/**
 * A small HTTP listener for a process without an HTTP app (the worker): `GET /metrics`, `/healthz`
 * (liveness) and `/readyz` (PostgreSQL and Redis answer). Port 0 means off. A port already taken
 * (several workers on one host sharing the default) is logged and skipped rather than fatal: the
 * worker's job is the queues, and `docs/operations.md` says to give each its own port.
 */
export async function startOpsServer(
  options: { port: number; host: string },
  deps: { db: DataSource; redis: Redis },
  logger: Logger,
): Promise<OpsServer | undefined> {
  if (options.port === 0) return undefined;
  const server = createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    const reply = (status: number, type: string, body: string) => {
      res.writeHead(status, { 'Content-Type': type, 'Cache-Control': 'no-store' }).end(body);
    };
    if (req.method !== 'GET' && req.method !== 'HEAD')
      return reply(405, 'text/plain', 'method not allowed\n');
    if (path === '/healthz') return reply(200, 'application/json', '{"status":"ok"}');
    if (path === '/readyz') {
      void readiness(deps).then(({ ok, checks }) =>
        reply(
          ok ? 200 : 503,
          'application/json',
          JSON.stringify({ status: ok ? 'ok' : 'unavailable', checks }),
        ),
      );
      return;
    }
    if (path === '/metrics') {
      heraldMetrics.render().then(
        (body) => reply(200, heraldMetrics.contentType, body),
        (err: unknown) => reply(500, 'text/plain', `${err instanceof Error ? err.message : String(err)}\n`),
      );
      return;
    }
    reply(404, 'text/plain', 'not found\n');
  });
  // Probes and scrapes are short; idle keep-alive sockets must not hold a shutdown open.
  server.keepAliveTimeout = 5_000;
  const listening = await new Promise<boolean>((resolve, reject) => {
    server.once('error', (err: NodeJS.ErrnoException) => {
      if (err.code === 'EADDRINUSE') resolve(false);
      else reject(err);
    });
    server.listen(options.port, options.host, () => resolve(true));
  });
  if (!listening) {
    logger.warn(
      { port: options.port },
      'metrics port in use: running without /metrics, /healthz and /readyz (set HERALD_WORKER_METRICS_PORT)',
    );
    return undefined;
  }
  const port = (server.address() as AddressInfo).port;
  logger.info({ port }, 'metrics and health listening');
  return {
    port,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
