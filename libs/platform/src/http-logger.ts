import type { IncomingMessage, ServerResponse } from 'node:http';
import { Store, storage } from 'nestjs-pino/storage';
import type { Bindings, ChildLoggerOptions, Level, Logger } from 'pino';
import { assignRequestId } from './request-id';

/** Probes and scrapes: frequent, and nothing to learn from a line each. */
const UNLOGGED = new Set(['/healthz', '/readyz', '/metrics']);

type HttpRequest = IncomingMessage & { id?: unknown; originalUrl?: string };

/** What a log line says of a request: never its headers, query string or body. */
function describe(req: HttpRequest) {
  return {
    id: req.id,
    method: req.method,
    url: (req.originalUrl ?? req.url)?.split('?')[0],
    remoteAddress: req.socket?.remoteAddress,
  };
}

/**
 * The logger of one request — every line carries `req` (its correlation id first) — built on first
 * use. Most requests log nothing but their access line, and pino's child (serialising and redacting its
 * bindings) built for every request was a measurable part of a registration's or a push's cost.
 */
class RequestLogger {
  private bound?: Logger;

  constructor(
    private readonly root: Logger,
    private readonly req: HttpRequest,
  ) {}

  trace(...args: unknown[]): void {
    this.write('trace', args);
  }
  debug(...args: unknown[]): void {
    this.write('debug', args);
  }
  info(...args: unknown[]): void {
    this.write('info', args);
  }
  warn(...args: unknown[]): void {
    this.write('warn', args);
  }
  error(...args: unknown[]): void {
    this.write('error', args);
  }
  fatal(...args: unknown[]): void {
    this.write('fatal', args);
  }

  get level(): string {
    return this.root.level;
  }

  isLevelEnabled(level: string): boolean {
    return this.root.isLevelEnabled(level);
  }

  child(bindings: Bindings, options?: ChildLoggerOptions): Logger {
    return this.logger().child(bindings, options);
  }

  private write(level: Level, args: unknown[]): void {
    if (!this.root.isLevelEnabled(level)) return;
    const logger = this.logger();
    Reflect.apply(logger[level], logger, args);
  }

  private logger(): Logger {
    this.bound ??= this.root.child({ req: describe(this.req) });
    return this.bound;
  }
}

/**
 * What pino-http and nestjs-pino's request binding did, for less: assigns the correlation id, binds a
 * lazily built request logger for Nest's `Logger` (nestjs-pino's store), and writes one access line
 * when the response ends — `info`, `warn` for 4xx, `error` for 5xx — only if that level is enabled.
 */
export function httpLogger(
  root: Logger,
): (req: IncomingMessage, res: ServerResponse, next: (err?: unknown) => void) => void {
  return (req: HttpRequest, res, next) => {
    assignRequestId(req, res);
    const start = Date.now();
    const path = (req.url ?? '').split('?')[0];
    if (!UNLOGGED.has(path)) {
      let logged = false;
      const done = () => {
        if (logged) return;
        logged = true;
        const status = res.statusCode;
        const level: Level = status >= 500 ? 'error' : status >= 400 ? 'warn' : 'info';
        if (!root.isLevelEnabled(level)) return;
        const aborted = !res.writableEnded || req.readableAborted;
        root[level](
          { req: describe(req), res: { statusCode: status }, responseTime: Date.now() - start },
          status >= 500 ? 'request errored' : aborted ? 'request aborted' : 'request completed',
        );
      };
      res.once('finish', done);
      res.once('close', done);
    }
    storage.run(new Store(new RequestLogger(root, req) as unknown as Logger), next);
  };
}
