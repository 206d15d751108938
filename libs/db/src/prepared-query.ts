import { createHash } from 'node:crypto';
import type { Pool, QueryResultRow } from 'pg';
import type { DataSource } from 'typeorm';

/**
 * Runs a statement as a named prepared statement on the DataSource's own pool: each connection
 * parses it once, and PostgreSQL may keep one generic plan for it instead of planning every call. For
 * fixed, hot statements whose plan does not depend on their values (lookups by primary key, arrays
 * unnested and joined on keys): on a busy unicast path, planning cost PostgreSQL more CPU than running
 * them. `name` must be unique per statement text in the process.
 */
export async function preparedQuery<T extends QueryResultRow>(
  db: DataSource,
  name: string,
  text: string,
  values: unknown[],
): Promise<T[]> {
  const pool = (db.driver as unknown as { master: Pool }).master;
  const result = await pool.query<T>({ name, text, values });
  return result.rows;
}

/** Anything with a parameterised `query`, as a DataSource, an EntityManager and the runners below have. */
export interface Queryable {
  query(sql: string, params?: unknown[]): Promise<unknown>;
}

const runners = new WeakMap<DataSource, Queryable>();

/**
 * A `query(sql, params)` that runs every statement through {@link preparedQuery}, named after its
 * text: for code that builds its SQL (the audience scan, the keyed message insert) and knows the texts
 * it builds are few. One per DataSource, shared by its callers. Each connection keeps every statement
 * it has prepared, so use it only where the texts are bounded.
 */
export function preparedRunner(db: DataSource): Queryable {
  let runner = runners.get(db);
  if (runner) return runner;
  const names = new Map<string, string>();
  runner = {
    query(sql, params = []) {
      let name = names.get(sql);
      if (name === undefined) {
        name = `h_${createHash('sha1').update(sql).digest('base64url')}`;
        names.set(sql, name);
      }
      return preparedQuery(db, name, sql, params);
    },
  };
  runners.set(db, runner);
  return runner;
}
