import { createTestContext, type TestContext } from '@herald/testing';
import { createDataSource } from './data-source';
import { lateralRunner } from './lateral-batch';

/** Concurrent one-row statements sharing one statement, on a real PostgreSQL. */
describe('lateralRunner', () => {
  let ctx: TestContext;

  beforeAll(async () => {
    ctx = await createTestContext();
  });
  afterAll(() => ctx.close());

  // One row per call, computed from every kind of value a caller passes: a uuid, a text array, a
  // bigint as text, a number, a nullable text.
  const SQL = `SELECT $1::uuid AS app, cardinality($2::text[]) AS n, array_to_string($2::text[], '|') AS joined,
                      $3::bigint + $4::int AS sum, coalesce($5::text, '<null>') AS maybe`;
  const call = (i: number, keys: string[], maybe: string | null) => [
    `00000000-0000-4000-8000-${String(i).padStart(12, '0')}`,
    keys,
    '9007199254740000',
    i,
    maybe,
  ];
  // Values PostgreSQL's array literal must quote or escape.
  const awkward = [
    'plain',
    'with "quotes"',
    'back\\slash',
    '{braces}',
    'a,b',
    ' spaced ',
    'NULL',
    '',
    '深圳￥',
  ];

  /** A DataSource of one connection: the statements it prepared are the ones this session lists. */
  async function withSingle<T>(fn: (db: ReturnType<typeof createDataSource>) => Promise<T>): Promise<T> {
    const db = createDataSource({ url: ctx.config.database.url, poolSize: 1 });
    await db.initialize();
    try {
      return await fn(db);
    } finally {
      await db.destroy();
    }
  }

  it('answers concurrent calls each with its own row, as the statement alone would, in one shared statement', async () => {
    await withSingle(async (db) => {
      const calls = Array.from({ length: 12 }, (_, i) =>
        call(i, awkward.slice(0, (i % awkward.length) + 1), i % 3 === 0 ? null : `m${i}`),
      );
      const alone = await Promise.all(calls.map((params) => db.query(SQL, params)));
      const shared = await Promise.all(calls.map((params) => lateralRunner(db).query(SQL, params)));
      expect(shared).toEqual(alone);
      // Spot-check the values themselves, not only the agreement.
      expect(shared[8]).toEqual([
        {
          app: '00000000-0000-4000-8000-000000000008',
          n: awkward.length,
          joined: awkward.join('|'),
          sum: '9007199254740008',
          maybe: 'm8',
        },
      ]);
      expect((shared[3] as { maybe: string }[])[0].maybe).toBe('<null>');
      const prepared = await db.query<{ statement: string }[]>(
        `SELECT statement FROM pg_prepared_statements WHERE statement LIKE '%CROSS JOIN LATERAL%'`,
      );
      expect(prepared).toHaveLength(1);
    });
  });

  it('answers a call whose statement has no row with no rows, beside calls that have one', async () => {
    const sql = `SELECT id FROM (SELECT $1::int AS id) s WHERE id > $2::int`;
    const runner = lateralRunner(ctx.db);
    const answers = await Promise.all([
      runner.query(sql, [5, 1]),
      runner.query(sql, [5, 9]),
      runner.query(sql, [7, 1]),
    ]);
    expect(answers).toEqual([[{ id: 5 }], [], [{ id: 7 }]]);
  });

  it('fails only the call whose value PostgreSQL refuses', async () => {
    const runner = lateralRunner(ctx.db);
    const results = await Promise.allSettled([
      runner.query(SQL, call(1, ['a'], null)),
      runner.query(SQL, ['not-a-uuid', ['b'], '1', 2, null]),
      runner.query(SQL, call(3, ['c'], 'x')),
    ]);
    expect(results.map((r) => r.status)).toEqual(['fulfilled', 'rejected', 'fulfilled']);
    expect((results[2] as PromiseFulfilledResult<{ app: string }[]>).value[0].app).toBe(
      '00000000-0000-4000-8000-000000000003',
    );
    expect(String((results[1] as PromiseRejectedResult).reason)).toMatch(/uuid/);
  });

  it('refuses a bad value where the plan would never cast it, as the statement alone does', async () => {
    // Alone, every value is cast when the statement is bound; inside the shared statement a cast in a
    // WHERE clause runs only on the rows the plan reaches. The shared statement casts each value first.
    const sql = `SELECT x FROM (SELECT 1::bigint AS x WHERE $1::int > 0) s WHERE x > $2::bigint`;
    const runner = lateralRunner(ctx.db);
    const results = await Promise.allSettled([
      runner.query(sql, [1, '0']),
      runner.query(sql, [0, 'not a number']),
      runner.query(sql, [1, '5']),
    ]);
    expect(results.map((r) => r.status)).toEqual(['fulfilled', 'rejected', 'fulfilled']);
    expect((results[0] as PromiseFulfilledResult<unknown>).value).toEqual([{ x: '1' }]);
    expect((results[2] as PromiseFulfilledResult<unknown>).value).toEqual([]);
    expect(String((results[1] as PromiseRejectedResult).reason)).toMatch(/bigint/);
  });

  it('answers as the statement alone whatever names the statement uses (its own q, p1, ord)', async () => {
    await withSingle(async (db) => {
      const sql = `SELECT v, v * 10 AS ord FROM (SELECT 100 AS p1, g AS v FROM generate_series(1, 3) g) q
                    WHERE v = $1::int`;
      const alone = await Promise.all([2, 3, 9].map((v) => db.query(sql, [v])));
      const shared = await Promise.all([2, 3, 9].map((v) => lateralRunner(db).query(sql, [v])));
      expect(alone).toEqual([[{ v: 2, ord: 20 }], [{ v: 3, ord: 30 }], []]);
      expect(shared).toEqual(alone);
      const prepared = await db.query<unknown[]>(
        `SELECT 1 FROM pg_prepared_statements WHERE statement LIKE '%CROSS JOIN LATERAL%'`,
      );
      expect(prepared).toHaveLength(1);
    });
  });

  it('runs a statement with an untyped placeholder, or a value with no text form, as it is', async () => {
    await withSingle(async (db) => {
      const runner = lateralRunner(db);
      const untyped = `SELECT $1 || '!' AS v`;
      const twoWays = `SELECT $1::int AS n, $1::text AS t`;
      const dated = `SELECT $1::timestamptz AS at`;
      const at = new Date('2026-01-02T03:04:05Z');
      const answers = await Promise.all([
        runner.query(untyped, ['a']),
        runner.query(untyped, ['b']),
        runner.query(dated, [at]),
        runner.query(dated, [at]),
        runner.query(twoWays, ['7']),
        runner.query(twoWays, ['8']),
      ]);
      expect(answers).toEqual([
        [{ v: 'a!' }],
        [{ v: 'b!' }],
        [{ at }],
        [{ at }],
        [{ n: 7, t: '7' }],
        [{ n: 8, t: '8' }],
      ]);
      const shared = await db.query<unknown[]>(
        `SELECT 1 FROM pg_prepared_statements WHERE statement LIKE '%CROSS JOIN LATERAL%'`,
      );
      expect(shared).toHaveLength(0);
    });
  });
});
