import { DataSource, type DataSourceOptions } from 'typeorm';
import { migrations } from '@herald/migrations';
import { entities } from './entities';

export interface DatabaseSettings {
  url: string;
  poolSize: number;
  applicationName?: string;
  /** 0 = none (migrations may build indexes for minutes); request paths keep the default. */
  statementTimeoutMs?: number;
}

export function dataSourceOptions(settings: DatabaseSettings): DataSourceOptions {
  return {
    type: 'postgres',
    url: settings.url,
    entities,
    migrations,
    migrationsTableName: 'migrations',
    migrationsTransactionMode: 'each',
    synchronize: false,
    logging: false,
    // A stalled server must not hang boot or a request forever; the pool surfaces the error instead.
    extra: {
      max: settings.poolSize,
      connectionTimeoutMillis: 5_000,
      idleTimeoutMillis: 30_000,
      application_name: settings.applicationName ?? 'herald',
      // A stuck query or a forgotten transaction must not hold a pool slot (and its locks) forever.
      // JIT compilation costs more than it saves on Herald's short queries (~85 ms on an audience estimate).
      options: `-c statement_timeout=${settings.statementTimeoutMs ?? 30_000} -c idle_in_transaction_session_timeout=60000 -c jit=off`,
    },
  };
}

export function createDataSource(settings: DatabaseSettings): DataSource {
  return new DataSource(dataSourceOptions(settings));
}

/** Any fixed number works; it only has to be the same in every Herald process. */
const MIGRATION_LOCK_KEY = 0x4845_5241; // "HERA"

/**
 * Applies pending migrations under a PostgreSQL advisory lock, so several processes (containers
 * starting together) can call it safely. Returns the names of the migrations it applied.
 */
export async function runMigrations(settings: DatabaseSettings): Promise<string[]> {
  const ds = createDataSource({
    ...settings,
    poolSize: 2,
    applicationName: 'herald-migrate',
    statementTimeoutMs: 0,
  });
  await ds.initialize();
  const lock = ds.createQueryRunner();
  try {
    await lock.connect();
    await lock.query('SELECT pg_advisory_lock($1)', [MIGRATION_LOCK_KEY]);
    try {
      const applied = await ds.runMigrations({ transaction: 'each' });
      return applied.map((m) => m.name);
    } finally {
      await lock.query('SELECT pg_advisory_unlock($1)', [MIGRATION_LOCK_KEY]);
    }
  } finally {
    await lock.release();
    await ds.destroy();
  }
}
