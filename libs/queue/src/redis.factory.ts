import { Cluster, Redis, type ChainableCommander, type RedisOptions } from 'ioredis';

/**
 * `worker` connections block (BullMQ workers) and must retry forever (`maxRetriesPerRequest: null`);
 * `producer` connections serve HTTP requests and fail fast so an outage becomes a clear error
 * instead of a hung request (BullMQ's production guide).
 */
export type RedisRole = 'worker' | 'producer';

/** Where Redis is: `config.redis` (a URL, and Redis Cluster seed nodes when configured), or a URL. */
export type RedisTarget = string | { url: string; clusterNodes?: { host: string; port: number }[] };

/**
 * With `clusterNodes`, an ioredis `Cluster` is returned typed as `Redis`: it has every command,
 * `pipeline()`, `defineCommand()`, pub/sub and `status` that Herald uses, and BullMQ recognises it by
 * its `isCluster` flag. The URL then only supplies the username, password and TLS (`rediss:`).
 * Multi-key work on a cluster must stay in one slot (hash tags) or go through {@link execPerNode}.
 */
export function createRedis(target: RedisTarget, role: RedisRole, name = 'herald'): Redis {
  const { url, clusterNodes } = typeof target === 'string' ? { url: target } : target;
  const options: RedisOptions = {
    connectionName: `${name}-${role}`,
    enableReadyCheck: true,
    maxRetriesPerRequest: role === 'worker' ? null : 2,
    enableOfflineQueue: role === 'worker',
    connectTimeout: 5_000,
    retryStrategy: (attempt) => Math.min(attempt * 200, 2_000),
  };
  if (!clusterNodes?.length) return new Redis(url, options);
  const u = new URL(url);
  const cluster = new Cluster(clusterNodes, {
    redisOptions: {
      ...options,
      ...(u.username && { username: decodeURIComponent(u.username) }),
      ...(u.password && { password: decodeURIComponent(u.password) }),
      ...(u.protocol === 'rediss:' && { tls: {} }),
    },
    enableReadyCheck: true,
    enableOfflineQueue: role === 'worker',
    clusterRetryStrategy: (attempt) => Math.min(attempt * 200, 2_000),
    // A MOVED/ASK during a slot migration or a failover is followed, not surfaced.
    maxRedirections: 16,
    retryDelayOnFailover: 200,
  });
  return cluster as unknown as Redis;
}

export function isCluster(redis: Redis): boolean {
  return (redis as unknown as { isCluster?: boolean }).isCluster === true;
}

// CRC16-XMODEM over the key or its hash tag, as Redis Cluster assigns keys to its 16384 slots.
const CRC16 = (() => {
  const table = new Uint16Array(256);
  for (let i = 0; i < 256; i++) {
    let c = i << 8;
    for (let j = 0; j < 8; j++) c = c & 0x8000 ? ((c << 1) ^ 0x1021) & 0xffff : (c << 1) & 0xffff;
    table[i] = c;
  }
  return table;
})();

/** The Redis Cluster slot of a key (its `{hash tag}` when it has a non-empty one). */
export function keySlot(key: string): number {
  let s = key;
  const open = key.indexOf('{');
  if (open >= 0) {
    const close = key.indexOf('}', open + 1);
    if (close > open + 1) s = key.slice(open + 1, close);
  }
  let crc = 0;
  for (const byte of Buffer.from(s, 'utf8')) crc = ((crc << 8) & 0xffff) ^ CRC16[((crc >> 8) ^ byte) & 0xff];
  return crc & 0x3fff;
}

export type PipelineReply = [error: Error | null, result: unknown];

/**
 * Runs per-item commands in pipelines and returns each item's replies, in item order. On one Redis
 * that is one pipeline (or the command itself, when there is only one: see `execCommands`). On a cluster, ioredis refuses a pipeline whose keys live on different nodes,
 * so items are grouped by the node that serves their slot (`slotKey`: any key of the item; all of an
 * item's keys must share its hash tag) and each node gets its own pipeline, all in flight together.
 */
export async function execPerNode<T>(
  redis: Redis,
  items: readonly T[],
  slotKey: (item: T) => string,
  queue: (pipeline: ChainableCommander, item: T) => void,
): Promise<PipelineReply[][]> {
  const out: PipelineReply[][] = new Array<PipelineReply[]>(items.length);
  if (items.length === 0) return out;
  let groups: number[][];
  if (isCluster(redis)) {
    const slots = (redis as unknown as Cluster).slots;
    const byNode = new Map<string, number[]>();
    items.forEach((item, i) => {
      const slot = keySlot(slotKey(item));
      // Until the slot map is known (never after `ready`), a slot is its own group: still correct.
      const node = slots[slot]?.[0] ?? `slot:${slot}`;
      const list = byNode.get(node);
      if (list) list.push(i);
      else byNode.set(node, [i]);
    });
    groups = [...byNode.values()];
  } else {
    groups = [items.map((_, i) => i)];
  }
  await Promise.all(
    groups.map(async (indexes) => {
      const recorded = recordCommands();
      const counts: number[] = [];
      for (const i of indexes) {
        const before = recorded.calls.length;
        queue(recorded.commander, items[i]);
        counts.push(recorded.calls.length - before);
      }
      const replies = await execCommands(redis, recorded.calls);
      let at = 0;
      indexes.forEach((i, j) => {
        out[i] = replies.slice(at, at + counts[j]);
        at += counts[j];
      });
    }),
  );
  return out;
}

type Recorded = [name: string, args: unknown[]];
type Commands = Record<string, (...args: unknown[]) => Promise<unknown>>;

/** A stand-in pipeline that only notes the commands queued on it. */
function recordCommands(): { commander: ChainableCommander; calls: Recorded[] } {
  const calls: Recorded[] = [];
  const commander: ChainableCommander = new Proxy({} as ChainableCommander, {
    // Every command name records a call; `then` stays undefined so the stand-in is never awaited.
    get: (_target, name) =>
      name === 'then'
        ? undefined
        : (...args: unknown[]) => {
            calls.push([String(name), args]);
            return commander;
          },
  });
  return { commander, calls };
}

/**
 * One command is sent as itself; more go in a pipeline. An ioredis pipeline copies every script
 * defined on its connection when it is built — BullMQ's ~40 on the shared connection — which cost a
 * worker ~6% of its CPU in unicast, where most pipelines held a single inbox insert. Replies keep the
 * pipeline's shape: `[error, result]` per command.
 */
async function execCommands(redis: Redis, calls: Recorded[]): Promise<PipelineReply[]> {
  if (calls.length === 1) {
    const [name, args] = calls[0];
    try {
      return [[null, await (redis as unknown as Commands)[name](...args)]];
    } catch (err) {
      return [[err instanceof Error ? err : new Error(String(err)), null]];
    }
  }
  const p = redis.pipeline() as unknown as Commands & ChainableCommander;
  for (const [name, args] of calls) void p[name](...args);
  return (await p.exec()) ?? [];
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
