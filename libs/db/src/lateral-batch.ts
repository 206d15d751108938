import type { DataSource } from 'typeorm';
import { MicroBatcher, splitOnFailure } from '@herald/common';
import { preparedRunner } from './prepared-query';
import { refusedByContent } from './statement-error';

type Runner = { query(sql: string, params?: unknown[]): Promise<unknown> };
type Row = Record<string, unknown>;

/** A text array element as PostgreSQL's array literal writes it (what `pg` sends for a JavaScript array). */
export function arrayLiteral(values: readonly string[]): string {
  return `{${values.map((v) => `"${v.replace(/[\\"]/g, (c) => `\\${c}`)}"`).join(',')}}`;
}

/**
 * The highest placeholder of a statement whose every placeholder carries its type (`$3::bigint`), or
 * `undefined` if one does not: values are passed to the batched statement as text and each
 * placeholder's own cast reads it back, so an untyped one would change meaning.
 */
function typedPlaceholders(sql: string): number | undefined {
  let max = 0;
  for (const m of sql.matchAll(/\$(\d+)(::)?/g)) {
    if (m[2] === undefined) return undefined;
    max = Math.max(max, Number(m[1]));
  }
  return max;
}

/** A value as the text its placeholder's cast reads; `undefined` when it has no such text form here. */
function asText(value: unknown): string | null | undefined {
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

const runners = new WeakMap<DataSource, Runner>();

/**
 * A `query(sql, params)` for read-only statements that answer at most one row, such as one page of a
 * registration-id or alias audience (`SELECT max(id), count(*), string_agg(…) FROM (…)`): the calls of
 * one statement that arrive in the same turn of the event loop go to PostgreSQL as one statement,
 *
 *   WITH q AS (SELECT * FROM unnest(ords, p1s, p2s, …) AS q(ord, p1, p2, …))
 *   SELECT q.ord, x.* FROM q CROSS JOIN LATERAL (<the statement, $n read as q.pn>) x
 *
 * prepared like {@link preparedRunner} (its text is the same for any number of calls). Under unicast
 * load a worker's concurrent shard jobs each read one short page; one statement for all of them spares
 * PostgreSQL a round trip, a wake-up and an executor start per job. A call alone, a statement with an
 * untyped placeholder, or a value with no text form (a Date, a number array) runs as it is. If PostgreSQL
 * refuses the shared statement for what one call holds, each call runs alone, so only that call fails.
 *
 * The statement's `$` characters must all be placeholders (no dollar quoting), as with the other
 * builders that renumber placeholders.
 */
export function lateralRunner(db: DataSource): Runner {
  let runner = runners.get(db);
  if (runner) return runner;
  const prepared = preparedRunner(db);
  const batchers = new Map<string, MicroBatcher<Call, Row[]>>();
  const batchFor = (sql: string, arity: number) => {
    let batcher = batchers.get(sql);
    if (batcher) return batcher;
    const cols = Array.from({ length: arity }, (_, i) => `p${i + 1}`);
    const text = `WITH q AS (
      SELECT * FROM unnest((SELECT $1::int[])${cols.map((_, i) => `, (SELECT $${i + 2}::text[])`).join('')})
        AS q(ord${cols.map((c) => `, ${c}`).join('')})
    )
    SELECT q.ord AS "__ord", x.* FROM q CROSS JOIN LATERAL (${sql.replace(/\$(\d+)/g, 'q.p$1')}) x`;
    const run = async (calls: Call[]): Promise<Row[][]> => {
      if (calls.length === 1) return [(await prepared.query(sql, calls[0].params)) as Row[]];
      const params: unknown[] = [calls.map((_, i) => i)];
      for (let p = 0; p < arity; p++) params.push(calls.map((c) => c.params[p]));
      const rows = (await prepared.query(text, params)) as Row[];
      const answers: Row[][] = calls.map(() => []);
      for (const { __ord: ord, ...row } of rows) answers[Number(ord)].push(row);
      return answers;
    };
    batcher = new MicroBatcher({ run: splitOnFailure(run, refusedByContent) });
    batchers.set(sql, batcher);
    return batcher;
  };
  runner = {
    query(sql, params = []) {
      const arity = typedPlaceholders(sql);
      const values = params.map(asText);
      if (!arity || arity !== params.length || values.some((v) => v === undefined)) {
        return prepared.query(sql, params);
      }
      return batchFor(sql, arity).submit({ params: values as (string | null)[] });
    },
  };
  runners.set(db, runner);
  return runner;
}
