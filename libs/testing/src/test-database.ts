import { createHash, randomBytes } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Client } from 'pg';
import { runMigrations } from '@herald/db';
import { testConfig } from './test-config';

const MIGRATIONS_DIR = join(__dirname, '../../../migrations');
const TEST_DB_PREFIX = 'herald_t_';
const STALE_AFTER_SECONDS = 3 * 3600;

/** The template's name changes whenever a migration does, so a stale template is never cloned. */
export function templateDatabaseName(): string {
  const hash = createHash('sha256');
  for (const f of readdirSync(MIGRATIONS_DIR).sort()) {
    if (/^\d+-.*\.ts$/.test(f)) hash.update(f).update(readFileSync(join(MIGRATIONS_DIR, f)));
  }
  return `herald_tpl_${hash.digest('hex').slice(0, 12)}`;
}

export function databaseUrl(name: string): string {
  const url = new URL(testConfig().database.url);
  url.pathname = `/${name}`;
  return url.toString();
}

async function withAdmin<T>(fn: (client: Client) => Promise<T>): Promise<T> {
  const client = new Client({ connectionString: databaseUrl('postgres') });
  await client.connect();
  try {
    return await fn(client);
  } finally {
    await client.end();
  }
}

const quote = (name: string) => `"${name.replace(/"/g, '""')}"`;

/**
 * Jest global setup: builds the migrated template database once (per migration set) and drops test
 * databases left behind by runs that were killed hours ago.
 */
export async function prepareTemplateDatabase(): Promise<string> {
  const template = templateDatabaseName();
  await withAdmin(async (admin) => {
    const found = await admin.query('SELECT 1 FROM pg_database WHERE datname = $1', [template]);
    if (found.rowCount === 0) {
      const building = `${template}_b${randomBytes(3).toString('hex')}`;
      await admin.query(`CREATE DATABASE ${quote(building)}`);
      try {
        await runMigrations({ url: databaseUrl(building), poolSize: 2 });
        await admin.query(`ALTER DATABASE ${quote(building)} RENAME TO ${quote(template)}`);
      } catch (err) {
        await admin.query(`DROP DATABASE IF EXISTS ${quote(building)}`);
        // Another run built the same template at the same moment: theirs is as good as ours.
        const raced = await admin.query('SELECT 1 FROM pg_database WHERE datname = $1', [template]);
        if (raced.rowCount === 0) throw err;
      }
    }
    // Test databases of killed runs. Templates are left alone: another checkout sharing this server
    // may be cloning its own at this moment.
    const now = Math.floor(Date.now() / 1000);
    const leftovers = await admin.query<{ datname: string }>(
      `SELECT datname FROM pg_database
        WHERE datname ~ '^herald_t_[0-9]+_' AND split_part(datname, '_', 3)::bigint < $1`,
      [now - STALE_AFTER_SECONDS],
    );
    for (const { datname } of leftovers.rows) {
      await admin.query(`DROP DATABASE IF EXISTS ${quote(datname)} WITH (FORCE)`).catch(() => undefined);
    }
  });
  return template;
}

export interface TestDatabase {
  name: string;
  url: string;
  drop(): Promise<void>;
}

/**
 * A private database for one test file: a clone of the migrated template, or with `empty` a database
 * with no schema at all (for testing migrations themselves).
 */
export async function createTestDatabase(options: { empty?: boolean } = {}): Promise<TestDatabase> {
  const name = `${TEST_DB_PREFIX}${Math.floor(Date.now() / 1000)}_${randomBytes(4).toString('hex')}`;
  const from = options.empty ? '' : ` TEMPLATE ${quote(templateDatabaseName())}`;
  await withAdmin((admin) => admin.query(`CREATE DATABASE ${quote(name)}${from}`));
  return {
    name,
    url: databaseUrl(name),
    drop: () =>
      withAdmin((admin) => admin.query(`DROP DATABASE IF EXISTS ${quote(name)} WITH (FORCE)`)).then(
        () => undefined,
      ),
  };
}
