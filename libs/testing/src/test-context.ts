import { randomBytes } from 'node:crypto';
import type { Redis } from 'ioredis';
import type { DataSource } from 'typeorm';
import type { HeraldConfig } from '@herald/config';
import { createDataSource } from '@herald/db';
import { bullPrefix, closeRedis, createRedis } from '@herald/queue';
import { testConfig } from './test-config';
import { createTestDatabase, type TestDatabase } from './test-database';

export interface TestContext {
  /** Configuration pointing at this file's database and Redis namespace. */
  config: HeraldConfig;
  db: DataSource;
  redis: Redis;
  /** This file's key namespace; BullMQ queues use `{namespace}` as their prefix. */
  namespace: string;
  close(): Promise<void>;
}

/** Deletes every key of a namespace: BullMQ's `{ns}:*` and Herald's own `ns:*`. */
export async function deleteNamespace(redis: Redis, namespace: string): Promise<number> {
  let deleted = 0;
  for (const pattern of [`${bullPrefix(namespace)}:*`, `${namespace}:*`]) {
    let cursor = '0';
    do {
      const [next, keys] = await redis.scan(cursor, 'MATCH', pattern, 'COUNT', 1000);
      cursor = next;
      if (keys.length > 0) deleted += await redis.del(...keys);
    } while (cursor !== '0');
  }
  return deleted;
}

/**
 * Isolation for one integration test file: a private database cloned from the migrated template and
 * a private Redis namespace, so files run in parallel against the same servers without seeing each
 * other. Call `close()` in `afterAll`.
 */
export async function createTestContext(overrides: Record<string, string> = {}): Promise<TestContext> {
  const database: TestDatabase = await createTestDatabase();
  const namespace = `t${randomBytes(5).toString('hex')}`;
  const config = testConfig({ DATABASE_URL: database.url, HERALD_QUEUE_PREFIX: namespace, ...overrides });
  const db = createDataSource({ url: database.url, poolSize: 4, applicationName: 'herald-test' });
  await db.initialize();
  const redis = createRedis(config.redis.url, 'worker', 'herald-test');
  return {
    config,
    db,
    redis,
    namespace,
    async close() {
      await db.destroy();
      await deleteNamespace(redis, namespace);
      await closeRedis(redis);
      await database.drop();
    },
  };
}
