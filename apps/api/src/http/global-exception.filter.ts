import { randomUUID } from 'node:crypto';
import { type ArgumentsHost, Catch, type ExceptionFilter, HttpException, Logger } from '@nestjs/common';
import type { Request, Response } from 'express';
import { ERROR_CODES, type ErrorCode, HeraldError } from '@herald/common';
import { sqlState } from '@herald/db';

interface ErrorShape {
  status: number;
  code: ErrorCode;
  jpushCode: number;
  message: string;
  headers: Record<string, string>;
  details?: Record<string, unknown>;
}

const STATUS_TO_CODE: Record<number, ErrorCode> = {
  400: 'invalid_parameter',
  401: 'unauthorized',
  403: 'forbidden',
  404: 'not_found',
  405: 'method_not_allowed',
  409: 'conflict',
  413: 'body_too_large',
  415: 'unsupported_media_type',
  429: 'rate_limited',
  503: 'unavailable',
};

/** body-parser's errors carry `type` and `status`; they are the caller's fault, never a 500. */
function bodyParserError(err: unknown): ErrorShape | undefined {
  if (typeof err !== 'object' || err === null || !('type' in err)) return undefined;
  const e = err as { type: string; status?: number; limit?: number };
  const byType: Record<string, [ErrorCode, string]> = {
    'entity.parse.failed': ['invalid_parameter', 'request body is not valid JSON'],
    'entity.too.large': ['body_too_large', `request body is larger than ${e.limit ?? 'the limit'} bytes`],
    'encoding.unsupported': ['unsupported_media_type', 'unsupported content encoding'],
    'charset.unsupported': ['unsupported_media_type', 'unsupported charset'],
    'request.aborted': ['invalid_parameter', 'request aborted'],
  };
  const hit = byType[e.type];
  if (!hit) return undefined;
  const [code, message] = hit;
  return { status: ERROR_CODES[code].status, code, jpushCode: ERROR_CODES[code].jpush, message, headers: {} };
}

/**
 * What a 5xx log line may say about its cause. Whole error objects are not logged: a driver error
 * carries the query's parameters (tokens, secret hashes, payloads).
 */
function describeError(err: unknown): Record<string, unknown> {
  if (!(err instanceof Error)) return { message: String(err) };
  const code =
    (err as { code?: unknown }).code ?? (err as { driverError?: { code?: unknown } }).driverError?.code;
  return { name: err.name, message: err.message, ...(code === undefined ? {} : { code }), stack: err.stack };
}

/**
 * SQLSTATEs that mean "retry later" — the database is unavailable, it rolled the transaction back for
 * a serialization failure (40001) or a deadlock (40P01), which a retry resolves, or it cancelled a
 * statement that ran past `statement_timeout` (57014): that limit is the server's, on work the API
 * accepted as within its documented bounds, so it is the server's failure to answer in time (503),
 * never the client's fault (4xx) nor an unexplained 500 — and values the client
 * sent that it rejects (22021 and 22P05: a NUL character, which JSON can carry and PostgreSQL's text and
 * jsonb cannot; the push parser refuses it first, this is the backstop for every other stored JSON;
 * 54000: a value too large for an index entry, which the schemas' byte limits refuse first).
 */
export const PG_UNAVAILABLE = /^(08|53|57P|57014$|40001$|40P01$)/;
export const PG_BAD_INPUT = new Set([
  '22P02',
  '22003',
  '22001',
  '22007',
  '22008',
  '22021',
  '22P05',
  '22023',
  '54000',
]);

/** Failures of a dependency, not of the request: answered 503 so clients and balancers retry. */
function dependencyError(err: unknown): ErrorShape | undefined {
  if (!(err instanceof Error)) return undefined;
  const pgCode = sqlState(err);
  const unavailable: ErrorShape = {
    status: 503,
    code: 'unavailable',
    jpushCode: ERROR_CODES.unavailable.jpush,
    message: 'a dependency is unavailable, retry later',
    headers: { 'Retry-After': '1' },
  };
  if (pgCode !== undefined && PG_BAD_INPUT.has(pgCode)) {
    return {
      status: 400,
      code: 'invalid_parameter',
      jpushCode: 1003,
      message: 'invalid parameter value',
      headers: {},
    };
  }
  if (pgCode !== undefined && PG_UNAVAILABLE.test(pgCode)) return unavailable;
  if (pgCode !== undefined && ['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT'].includes(pgCode))
    return unavailable;
  if (err.name === 'MaxRetriesPerRequestError') return unavailable;
  // node-postgres pool exhaustion and ioredis's fail-fast refusal while disconnected
  if (
    /timeout exceeded when trying to connect|Stream isn't writeable|Connection is closed/.test(err.message)
  ) {
    return unavailable;
  }
  return undefined;
}

function httpExceptionMessage(ex: HttpException): string {
  const body = ex.getResponse();
  if (typeof body === 'string') return body;
  const m = (body as { message?: unknown }).message;
  if (Array.isArray(m)) return m.join('; ');
  return typeof m === 'string' ? m : ex.message;
}

/**
 * The one place errors become HTTP responses. `/v3` speaks JPush (`{"error": {"code", "message"}}`);
 * every other surface answers `{code, message, error_id?}`. Anything unexpected is a 500 with an
 * error id that is also in the log line — and is a bug to fix, because a client can never cause one.
 */
@Catch()
export class GlobalExceptionFilter implements ExceptionFilter {
  private readonly logger = new Logger('http');

  catch(exception: unknown, host: ArgumentsHost): void {
    const ctx = host.switchToHttp();
    const req = ctx.getRequest<Request>();
    const res = ctx.getResponse<Response>();
    const shape = this.classify(exception);
    let errorId: string | undefined;
    if (shape.status >= 500) {
      errorId = randomUUID();
      this.logger.error({ err: describeError(exception), errorId, path: req.path }, 'request failed');
    }
    if (res.headersSent) {
      // Too late for an error body: end the response so the client is not left waiting.
      res.end();
      return;
    }
    for (const [k, v] of Object.entries(shape.headers)) res.setHeader(k, v);
    const isJPush = req.path === '/v3' || req.path.startsWith('/v3/');
    const jpushStatus = (ERROR_CODES[shape.code] as { jpushStatus?: number }).jpushStatus;
    if (isJPush && jpushStatus !== undefined) shape.status = jpushStatus;
    const deviceFamily = isJPush && /^\/v3\/(devices|tags|aliases)(\/|$)/.test(req.path);
    // A body that is not JSON never reaches a controller (no HeraldError with the family's code), so
    // the JPush family comes from the path.
    if (isJPush && shape.code === 'invalid_parameter' && !(exception instanceof HeraldError)) {
      if (req.path.startsWith('/v3/schedules')) shape.jpushCode = 8100;
      else if (deviceFamily) shape.jpushCode = 7002;
    }
    // JPush's device API (rest_api_v3_device.md) documents one status per code: 7002 "invalid request"
    // is 400 — an unknown registration id and an alias already on ten devices included, which Herald
    // answers 404 and 409 elsewhere — and its own failures are 7000 (a 503 keeps its status and
    // Retry-After).
    if (deviceFamily) {
      if (shape.jpushCode === 7002) shape.status = 400;
      if (shape.status >= 500) shape.jpushCode = 7000;
    }
    const body = isJPush
      ? { error: { code: shape.jpushCode, message: shape.message } }
      : {
          code: shape.code,
          message: shape.message,
          ...(shape.details ? { details: shape.details } : {}),
          ...(errorId ? { error_id: errorId } : {}),
        };
    res.status(shape.status).json(body);
  }

  private classify(exception: unknown): ErrorShape {
    if (exception instanceof HeraldError) {
      return {
        status: exception.status,
        code: exception.code,
        jpushCode: exception.jpushCode,
        message: exception.message,
        headers: exception.headers,
        details: exception.details,
      };
    }
    const parsed = bodyParserError(exception) ?? dependencyError(exception);
    if (parsed) return parsed;
    if (exception instanceof HttpException) {
      const status = exception.getStatus();
      const code = STATUS_TO_CODE[status] ?? (status >= 500 ? 'internal' : 'invalid_parameter');
      const message = status === 404 ? 'no such resource' : httpExceptionMessage(exception);
      return { status, code, jpushCode: ERROR_CODES[code].jpush, message, headers: {} };
    }
    return { status: 500, code: 'internal', jpushCode: 1000, message: 'internal error', headers: {} };
  }
}
