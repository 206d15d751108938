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
    enableReadyCheck: true,
    maxRetriesPerRequest: role === 'worker' ? null : 2,
    enableOfflineQueue: role === 'worker',
    connectTimeout: 5_000,
    retryStrategy: (attempt) => Math.min(attempt * 200, 2_000),
  };
  return new Redis(url, options);
}

/**
 * Resolves when the client is ready, or at its first connection error or after `timeoutMs` —
 * whichever comes first. It never rejects: callers decide what "not ready" means.
 */
export async function waitUntilReady(redis: Redis, timeoutMs: number): Promise<boolean> {
  if (redis.status === 'ready') return true;
  return new Promise((resolve) => {
    const done = (ready: boolean) => {
      clearTimeout(timer);
      redis.off('ready', onReady);
      redis.off('error', onError);
      resolve(ready);
    };
    const onReady = () => done(true);
    const onError = () => done(false);
    const timer = setTimeout(() => done(false), timeoutMs);
    redis.once('ready', onReady);
    redis.once('error', onError);
  });
}

/** QUIT when connected (flushes pending replies); otherwise just drop the socket and its retry timer. */
export async function closeRedis(redis: Redis): Promise<void> {
  if (redis.status === 'ready') {
    await redis.quit().catch(() => redis.disconnect());
  } else {
    redis.disconnect();
  }
}
