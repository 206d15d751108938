import { once } from 'node:events';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Writable } from 'node:stream';
import { PinoLogger } from 'nestjs-pino';
import pino from 'pino';
import { loggerOptions } from '@herald/common';
import { httpLogger } from './http-logger';

/** A real HTTP server behind `httpLogger`, its log lines captured as parsed JSON. */
async function serve(
  level: string,
  handler: (url: string, log: PinoLogger) => { status: number; body?: string },
): Promise<{ server: Server; base: string; lines: Record<string, unknown>[] }> {
  const lines: Record<string, unknown>[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _enc, done) {
      for (const l of chunk.toString().split('\n'))
        if (l) lines.push(JSON.parse(l) as Record<string, unknown>);
      done();
    },
  });
  const root = pino(loggerOptions(level, 'api'), sink);
  const middleware = httpLogger(root);
  // Nest's Logger as the app uses it: nestjs-pino's PinoLogger, reading the request's bound logger.
  const log = new PinoLogger({ pinoHttp: { logger: root } });
  const server = createServer((req, res) => {
    middleware(req, res, () => {
      setImmediate(() => {
        const { status, body } = handler(req.url ?? '', log);
        res.statusCode = status;
        res.end(body ?? '{}');
      });
    });
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return { server, base: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, lines };
}

describe('httpLogger', () => {
  it('writes one access line per request at the level its status calls for, with its correlation id', async () => {
    const { server, base, lines } = await serve('info', (url) => ({
      status: url.startsWith('/fail') ? 503 : url.startsWith('/nope') ? 404 : 200,
    }));
    try {
      const ok = await fetch(`${base}/v3/push?secret=no`, { headers: { 'X-Request-Id': 'req-1' } });
      expect(ok.headers.get('x-request-id')).toBe('req-1');
      await fetch(`${base}/nope`, { headers: { 'X-Request-Id': 'req-2' } });
      await fetch(`${base}/fail`, { headers: { 'X-Request-Id': 'req-3' } });
      await fetch(`${base}/readyz`);
      await new Promise((r) => setTimeout(r, 20));
      expect(lines.map((l) => [l.level, (l.req as { id: string }).id, l.msg])).toEqual([
        ['info', 'req-1', 'request completed'],
        ['warn', 'req-2', 'request completed'],
        ['error', 'req-3', 'request errored'],
      ]);
      expect(lines[0]).toMatchObject({
        app: 'api',
        req: { id: 'req-1', method: 'GET', url: '/v3/push', remoteAddress: '127.0.0.1' },
        res: { statusCode: 200 },
        responseTime: expect.any(Number),
      });
    } finally {
      server.close();
    }
  });

  it('binds every line logged during a request to it, and never logs a secret', async () => {
    const { server, base, lines } = await serve('warn', (url, log) => {
      if (url === '/warns') log.warn({ token: 'whole-device-token', step: 'x' }, 'something odd');
      return { status: 200 };
    });
    try {
      await fetch(`${base}/warns`, { headers: { 'X-Request-Id': 'req-warn' } });
      await fetch(`${base}/quiet`, { headers: { 'X-Request-Id': 'req-quiet' } });
      await new Promise((r) => setTimeout(r, 20));
      // At `warn`, the two 200s write no access line; the warning carries its request.
      expect(lines).toEqual([
        expect.objectContaining({
          level: 'warn',
          msg: 'something odd',
          step: 'x',
          token: '[redacted]',
          req: expect.objectContaining({ id: 'req-warn', url: '/warns' }),
        }),
      ]);
    } finally {
      server.close();
    }
  });
});
