import { randomUUID } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';

const REQUEST_ID = /^[A-Za-z0-9._:-]{1,128}$/;

/** pino-http types `req.id` loosely (string | number | object); Herald only ever stores strings. */
type RequestWithId = IncomingMessage & { id?: unknown };

/**
 * The request's correlation id: the caller's `X-Request-Id` when it is sane, else a new UUID. Set once
 * on `req.id` (where pino-http looks first) and echoed in the response.
 */
export function assignRequestId(req: RequestWithId, res: ServerResponse): string {
  if (typeof req.id === 'string') return req.id;
  const given = req.headers['x-request-id'];
  const id = typeof given === 'string' && REQUEST_ID.test(given) ? given : randomUUID();
  req.id = id;
  res.setHeader('X-Request-Id', id);
  return id;
}

/**
 * Registered before the body parsers, so even a request they reject (bad JSON, too large) carries its
 * id into the error response and the log line.
 */
export function requestIdMiddleware(req: RequestWithId, res: ServerResponse, next: () => void): void {
  assignRequestId(req, res);
  next();
}
