import { z } from 'zod';
import { HeraldError } from '@herald/common';
import { parseBody } from '../http/parse-body';

/** Every dashboard list answers this shape; pass `next_cursor` back as `cursor` for the next page. */
export interface Page<T> {
  items: T[];
  next_cursor: string | null;
}

/**
 * Callbacks are signed with the master secret, which the dashboard does not have: a push the dashboard
 * sends, now or as a campaign, cannot carry one.
 */
export const dashboardCallbackRefused = () =>
  new HeraldError(
    'invalid_parameter',
    'callback: needs the master secret to sign; send pushes with callbacks through POST /v3/push',
    { details: { field: 'callback' } },
  );

export const DEFAULT_PAGE = 50;
export const MAX_PAGE = 200;

export const pageQuery = {
  limit: z.coerce.number().int().min(1).max(MAX_PAGE).default(DEFAULT_PAGE),
  cursor: z.string().min(1).max(512).optional(),
};

/** Query strings use the body's schema language; unknown parameters are refused like unknown fields. */
export function parseQuery<S extends z.ZodType>(schema: S, query: unknown): z.infer<S> {
  return parseBody(schema, query ?? {});
}

/** Keyset cursors: the sort key of the last row, as opaque base64url JSON. */
export function encodeCursor(values: readonly (string | number)[]): string {
  return Buffer.from(JSON.stringify(values)).toString('base64url');
}

export function decodeCursor(cursor: string | undefined, arity: number): string[] | null {
  if (cursor === undefined) return null;
  let values: unknown;
  try {
    values = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8'));
  } catch {
    values = undefined;
  }
  if (
    !Array.isArray(values) ||
    values.length !== arity ||
    !values.every((v) => typeof v === 'string' || typeof v === 'number')
  ) {
    throw new HeraldError('invalid_parameter', 'cursor: not a cursor this API returned', {
      details: { field: 'cursor' },
    });
  }
  return values.map(String);
}

/** Rows fetched with `LIMIT limit + 1`: the extra row only says that another page exists. */
export function pageOf<R, T>(
  rows: R[],
  limit: number,
  map: (row: R) => T,
  cursorOf: (row: R) => readonly (string | number)[],
): Page<T> {
  const page = rows.slice(0, limit);
  return {
    items: page.map(map),
    next_cursor: rows.length > limit ? encodeCursor(cursorOf(page[page.length - 1])) : null,
  };
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** A path id that is not even a uuid names nothing: 404, like another tenant's id. */
export function uuidOr404(id: string, what: string): string {
  if (!UUID.test(id)) throw notFound(what, id);
  return id.toLowerCase();
}

export const notFound = (what: string, id: string) =>
  new HeraldError('not_found', `${what} "${id.slice(0, 64)}" not found`);

export const iso = (d: Date | string | null | undefined): string | null =>
  d === null || d === undefined ? null : new Date(d).toISOString();

/** IANA zone names the runtime knows (`UTC` included). */
export function isTimeZone(tz: string): boolean {
  try {
    new Intl.DateTimeFormat('en-US', { timeZone: tz });
    return true;
  } catch {
    return false;
  }
}

/**
 * The rows an UPDATE or DELETE … RETURNING changed. TypeORM answers those statements with
 * `[rows, rowCount]` rather than the rows alone.
 */
export async function changed<T>(
  db: { query: (sql: string, params?: unknown[]) => Promise<unknown> },
  sql: string,
  params: unknown[],
): Promise<T[]> {
  const result = await db.query(sql, params);
  if (
    Array.isArray(result) &&
    result.length === 2 &&
    Array.isArray(result[0]) &&
    typeof result[1] === 'number'
  ) {
    return result[0] as T[];
  }
  return result as T[];
}
