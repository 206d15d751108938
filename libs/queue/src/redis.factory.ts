import { Redis, type RedisOptions } from 'ioredis';

/**
 * `worker` connections block (BullMQ workers) and must retry forever (`maxRetriesPerRequest: null`);
 * `producer` connections serve HTTP requests and fail fast so an outage becomes a clear error
 * instead of a hung request (BullMQ's production guide).
 */
export type RedisRole = 'worker' | 'producer';

export function createRedis(url: string, role: RedisRole, name = 'herald'): Redis {
  const options: RedisOptions = {
    connectionName: `${name}-${role}`,
    lazyConnect: false,
    enableReadyCheck: true,
    maxRetriesPerRequest: role === 'worker' ? null : 2,
    enableOfflineQueue: role === 'worker',
    connectTimeout: 5_000,
    retryStrategy: (attempt) => Math.min(attempt * 200, 2_000),
  };
  return new Redis(url, options);
}
