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
