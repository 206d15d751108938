import type { DataSource } from 'typeorm';
import { MicroBatcher, splitOnFailure } from '@herald/common';
import { preparedRunner, type Queryable } from './prepared-query';
import { refusedByContent } from './statement-error';

type Row = Record<string, unknown>;

/** A text array element as PostgreSQL's array literal writes it (what `pg` sends for a JavaScript array). */
export function arrayLiteral(values: readonly string[]): string {
  return `{${values.map((v) => `"${v.replace(/[\\"]/g, (c) => `\\${c}`)}"`).join(',')}}`;
}

/** The names the batched statement adds: a statement that uses them itself runs alone. */
const RESERVED = /__hq/i;

/**
 * Each placeholder's type, if every placeholder of the statement carries one (`$3::bigint`,
 * `$2::text[]`) and the same one wherever it occurs; otherwise `undefined`. Values reach the batched
 * statement as text and are cast to these types as it reads them, so an untyped placeholder would
 * change meaning. (A type is one word here, with `[]` or not; `$1::double precision` runs alone.)
 */
function placeholderTypes(sql: string): string[] | undefined {
  const types: string[] = [];
  for (const m of sql.matchAll(
    /\$(\d+)(?:::([A-Za-z_][A-Za-z0-9_]*(?:\[\])?)(\s+(?:precision|varying|with|without)\b)?)?/gi,
  )) {
    const type = m[2];
    if (type === undefined || m[3] !== undefined) return undefined;
    const n = Number(m[1]) - 1;
    if (types[n] !== undefined && types[n] !== type.toLowerCase()) return undefined;
    types[n] = type.toLowerCase();
  }
  // Every placeholder from $1 up is used.
  return types.every((t) => t !== undefined) && types.length === Object.keys(types).length
    ? types
    : undefined;
}

/**
 * A value as text that its placeholder's cast reads back (a string array as an array literal), for
 * statements that pass many calls' values in one text array per placeholder; `undefined` when it has
 * no such text form here (a Date, a number array).
 */
export function textParam(value: unknown): string | null | undefined {
  if (value === null) return null;
  if (typeof value === 'string') return value;
  if (typeof value === 'number' || typeof value === 'bigint' || typeof value === 'boolean')
    return String(value);
  if (Array.isArray(value) && value.every((v) => typeof v === 'string')) return arrayLiteral(value);
  return undefined;
}

interface Call {
  params: (string | null)[];
}

const runners = new WeakMap<DataSource, Queryable>();

/**
 * A `query(sql, params)` for read-only statements that answer at most one row, such as one page of a
 * registration-id or alias audience (`SELECT max(id), count(*), string_agg(…) FROM (…)`): the calls of
 * one statement that arrive in the same turn of the event loop go to PostgreSQL as one statement,
 *
 *   WITH q AS (SELECT ord, p1::type1, p2::type2, … FROM unnest(ords, p1s, p2s, …))
 *   SELECT q.ord, x.* FROM q CROSS JOIN LATERAL (<the statement, $n read as q.pn>) x
 *
 * (its names prefixed `__hq`, which the statement itself must not use)
 *
 * prepared like {@link preparedRunner} (its text is the same for any number of calls). Under unicast
 * load a worker's concurrent shard jobs each read one short page; one statement for all of them spares
 * PostgreSQL a round trip, a wake-up and an executor start per job. A call alone, a statement with an
 * untyped placeholder (or one typed two ways), or a value with no text form (a Date, a number array)
 * runs as it is. If PostgreSQL refuses the shared statement for what one call holds, each call runs
 * alone, so only that call fails.
 *
 * The statement's `$` characters must all be placeholders (no dollar quoting), as with the other
 * builders that renumber placeholders. Like {@link preparedRunner}, it keeps something per statement
 * text (a batcher, and a prepared statement per connection): use it only where the texts are bounded.
 */
export function lateralRunner(db: DataSource): Queryable {
  let runner = runners.get(db);
  if (runner) return runner;
  const prepared = preparedRunner(db);
  const batchers = new Map<string, MicroBatcher<Call, Row[]>>();
  const batchFor = (sql: string, types: string[]) => {
    let batcher = batchers.get(sql);
    if (batcher) return batcher;
    const arity = types.length;
    // Each value is cast in a materialized CTE, for every call: a value the statement alone would
    // refuse is refused here too (inside the statement a cast runs only where the plan reaches it).
    const text = `WITH __hq AS MATERIALIZED (
      SELECT __hq_ord${types.map((t, i) => `, __hq_p${i + 1}::${t} AS __hq_p${i + 1}`).join('')}
        FROM unnest((SELECT $1::int[])${types.map((_, i) => `, (SELECT $${i + 2}::text[])`).join('')})
          AS u(__hq_ord${types.map((_, i) => `, __hq_p${i + 1}`).join('')})
    )
    SELECT __hq.__hq_ord, __hq_x.* FROM __hq CROSS JOIN LATERAL (
${sql.replace(/\$(\d+)/g, '__hq.__hq_p$1')}
    ) __hq_x`;
    const run = async (calls: Call[]): Promise<Row[][]> => {
      if (calls.length === 1) return [(await prepared.query(sql, calls[0].params)) as Row[]];
      const params: unknown[] = [calls.map((_, i) => i)];
      for (let p = 0; p < arity; p++) params.push(calls.map((c) => c.params[p]));
      const rows = (await prepared.query(text, params)) as Row[];
      const answers: Row[][] = calls.map(() => []);
      for (const { __hq_ord: ord, ...row } of rows) answers[Number(ord)].push(row);
      return answers;
    };
    batcher = new MicroBatcher({ run: splitOnFailure(run, refusedByContent) });
    batchers.set(sql, batcher);
    return batcher;
  };
  runner = {
    query(sql, params = []) {
      const types = RESERVED.test(sql) ? undefined : placeholderTypes(sql);
      const values = params.map(textParam);
      if (!types?.length || types.length !== params.length || values.some((v) => v === undefined)) {
        return prepared.query(sql, params);
      }
      return batchFor(sql, types).submit({ params: values as (string | null)[] });
    },
  };
  runners.set(db, runner);
  return runner;
}
