import { Client } from 'pg';
import { createDataSource, runMigrations } from '@herald/db';
import { createTestDatabase, type TestDatabase } from '@herald/testing';
import { migrations } from './index';

describe('migrations', () => {
  it('apply from an empty database, once, even when two processes migrate at the same time', async () => {
    const db = await createTestDatabase({ empty: true });
    try {
      const [a, b] = await Promise.all([
        runMigrations({ url: db.url, poolSize: 2 }),
        runMigrations({ url: db.url, poolSize: 2 }),
      ]);
      const all = migrations.map((m) => m.name);
      expect([...a, ...b].sort()).toEqual(all.sort());
      expect(await runMigrations({ url: db.url, poolSize: 2 })).toEqual([]);

      const ds = createDataSource({ url: db.url, poolSize: 1 });
      await ds.initialize();
      const rows = await ds.query<{ n: number }[]>(`SELECT count(*)::int AS n FROM migrations`);
      expect(rows[0].n).toBe(all.length);
      await ds.destroy();
    } finally {
      await db.drop();
    }
  });

  describe('the migrated schema', () => {
    let db: TestDatabase;
    beforeAll(async () => {
      db = await createTestDatabase();
    });
    afterAll(() => db.drop());

    it('has exactly the tables and columns the entities map, with the same types and nullability', async () => {
      const ds = createDataSource({ url: db.url, poolSize: 1 });
      await ds.initialize();
      try {
        const rows = await ds.query<
          {
            table_name: string;
            column_name: string;
            is_nullable: string;
            data_type: string;
            udt_name: string;
          }[]
        >(
          `SELECT table_name, column_name, is_nullable, data_type, udt_name
             FROM information_schema.columns WHERE table_schema = 'public' AND table_name <> 'migrations'`,
        );
        const inDb = new Map(rows.map((r) => [`${r.table_name}.${r.column_name}`, r]));

        const pgType = (t: unknown): string => {
          const name = typeof t === 'function' ? (t as { name: string }).name.toLowerCase() : String(t);
          const map: Record<string, string> = {
            char: 'bpchar',
            timestamptz: 'timestamptz',
            boolean: 'bool',
            integer: 'int4',
            bigint: 'int8',
          };
          return map[name] ?? name;
        };
        const mapped = new Set<string>();
        const mismatches: string[] = [];
        for (const entity of ds.entityMetadatas) {
          for (const col of entity.columns) {
            const key = `${entity.tableName}.${col.databaseName}`;
            mapped.add(key);
            const actual = inDb.get(key);
            if (!actual) {
              mismatches.push(`${key}: mapped by ${entity.name} but missing from the schema`);
              continue;
            }
            if ((actual.is_nullable === 'YES') !== col.isNullable)
              mismatches.push(`${key}: nullability differs`);
            const expected = col.type === 'enum' ? col.enumName : pgType(col.type);
            const got = actual.data_type === 'ARRAY' ? actual.udt_name.replace(/^_/, '') : actual.udt_name;
            if (expected !== got) mismatches.push(`${key}: entity says ${expected}, schema has ${got}`);
            if (col.isArray !== (actual.data_type === 'ARRAY')) mismatches.push(`${key}: array-ness differs`);
          }
        }
        for (const key of inDb.keys())
          if (!mapped.has(key)) mismatches.push(`${key}: in the schema but no entity maps it`);
        expect(mismatches).toEqual([]);
        expect(ds.entityMetadatas.length).toBe(23);
      } finally {
        await ds.destroy();
      }
    });

    it('bounds every pooled connection with a statement and an idle-transaction timeout', async () => {
      const ds = createDataSource({ url: db.url, poolSize: 1 });
      await ds.initialize();
      try {
        expect(await ds.query(`SHOW statement_timeout`)).toEqual([{ statement_timeout: '30s' }]);
        expect(await ds.query(`SHOW jit`)).toEqual([{ jit: 'off' }]);
        expect(await ds.query(`SHOW idle_in_transaction_session_timeout`)).toEqual([
          { idle_in_transaction_session_timeout: '1min' },
        ]);
      } finally {
        await ds.destroy();
      }
    });

    it('enforces the invariants the code relies on', async () => {
      const c = new Client({ connectionString: db.url });
      await c.connect();
      try {
        const tenant = (await c.query(`INSERT INTO tenants (name) VALUES ('t') RETURNING id`)).rows[0]
          .id as string;
        const app = async (key: string) =>
          c.query(
            `INSERT INTO apps (tenant_id, name, app_key, master_secret_hash) VALUES ($1, 'a', $2, 'h') RETURNING id`,
            [tenant, key],
          );
        const appId = (await app('abcdefghijklmnopqrstuvwx')).rows[0].id as string;
        await expect(app('short')).rejects.toThrow(/apps_app_key_check/);
        await expect(app('abcdefghijklmnopqrstuvw!')).rejects.toThrow(/apps_app_key_check/);
        await expect(app('abcdefghijklmnopqrstuvwx')).rejects.toThrow(/apps_app_key_key/);

        const otherAppId = (await app('ABCDEFGHIJKLMNOPQRSTUVWX')).rows[0].id as string;
        const device = (
          rid: string,
          token: string | null,
          app = appId,
          extra: { language?: string; country?: string } = {},
        ) =>
          c.query(
            `INSERT INTO devices (app_id, registration_id, device_secret_hash, platform, channel, token, language, country)
             VALUES ($1, $2, 'h', 'ios', 'apns', $3, $4, $5) RETURNING id`,
            [app, rid, token, extra.language ?? null, extra.country ?? null],
          );
        await device('r1', 'tok1');
        await expect(device('r1', 'tok2')).rejects.toThrow(/devices_rid_key/);
        // a registration id alone identifies a device (the gateway and SDK auth carry no app key)
        await expect(device('r1', 'tok9', otherAppId)).rejects.toThrow(/devices_rid_key/);
        await expect(device('r2', 'tok1')).rejects.toThrow(/devices_token_key/);
        await device('r2', 'tok1', otherAppId);
        await device('r3', null);
        await device('r4', null);
        await expect(device('r5', null, appId, { language: 'zh-CN' })).rejects.toThrow(
          /devices_language_check/,
        );
        await expect(device('r5', null, appId, { country: 'cn' })).rejects.toThrow(/devices_country_check/);
        await device('r5', null, appId, { language: 'zh-hans-cn', country: 'CN' });
        await expect(
          c.query(
            `INSERT INTO devices (app_id, registration_id, device_secret_hash, platform, channel) VALUES ($1, 'r6', 'h', 'ios', 'mqtt')`,
            [appId],
          ),
        ).rejects.toThrow(/devices_channel_check/);

        const msg = await c.query(
          `INSERT INTO messages (app_id, request, audience, platforms) VALUES ($1, '{}', '"all"', '{ios}') RETURNING id::text`,
          [appId],
        );
        expect(Number(msg.rows[0].id)).toBeGreaterThan(1_000_000_000);
        expect(Number.isSafeInteger(Number(msg.rows[0].id))).toBe(true);
      } finally {
        await c.end();
      }
    });

    it('answers tag, language-prefix, alias and token lookups from their indexes', async () => {
      const c = new Client({ connectionString: db.url });
      await c.connect();
      try {
        const tenant = (await c.query(`INSERT INTO tenants (name) VALUES ('scan') RETURNING id`)).rows[0]
          .id as string;
        const apps = (
          await c.query(
            `INSERT INTO apps (tenant_id, name, app_key, master_secret_hash)
             VALUES ($1, 'a', 'scanAppKeyOne00000000000', 'h'), ($1, 'b', 'scanAppKeyTwo00000000000', 'h') RETURNING id`,
            [tenant],
          )
        ).rows.map((r: { id: string }) => r.id);
        // Enough rows, spread over two apps and many tags, for the planner to prefer the right index.
        await c.query(
          `INSERT INTO devices (app_id, registration_id, device_secret_hash, platform, channel, token, alias, tags, language)
           SELECT (ARRAY[$1::uuid, $2::uuid])[CASE WHEN i % 10 = 3 THEN 1 ELSE 2 END], 'rid' || i, 'h', 'android', 'fcm', 'tok' || i,
                  CASE WHEN i % 10 = 0 THEN 'alias' || i END, ARRAY['tag' || (i % 500)],
                  (ARRAY['en-us', 'en-gb', 'zh-cn', 'zh-hans-cn', 'de', 'fr-fr', 'ja', 'ko-kr', 'es', 'pt-br'])[1 + i % 10]
             FROM generate_series(1, 100000) AS i`,
          apps,
        );
        await c.query('ANALYZE devices');
        await c.query('SET enable_seqscan = off');
        const plan = async (sql: string) =>
          ((await c.query(`EXPLAIN ${sql}`)).rows as { 'QUERY PLAN': string }[])
            .map((r) => r['QUERY PLAN'])
            .join('\n');
        const appId = apps[0];
        expect(
          await plan(`SELECT id FROM devices WHERE app_id = '${appId}' AND tags @> ARRAY['tag3']`),
        ).toMatch(/devices_tags_idx/);
        // the filter semantics of api.md: 'zh' matches 'zh' and every 'zh-…' tag
        expect(
          await plan(
            `SELECT id FROM devices WHERE app_id = '${appId}' AND status = 'active' AND (language = 'ko' OR language LIKE 'ko-%')`,
          ),
        ).toMatch(/devices_language_idx/);
        expect(await plan(`SELECT id FROM devices WHERE app_id = '${appId}' AND alias = 'bob'`)).toMatch(
          /devices_alias_idx/,
        );
        expect(
          await plan(`SELECT id FROM devices WHERE app_id = '${appId}' AND channel = 'fcm' AND token = 'x'`),
        ).toMatch(/devices_token_key/);
      } finally {
        await c.end();
      }
    });
  });
});
