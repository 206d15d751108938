import { Inject, Injectable } from '@nestjs/common';
import type { Redis } from 'ioredis';
import { HERALD_CONFIG, type HeraldConfig } from '@herald/config';
import { MicroBatcher } from '@herald/common';
import { REDIS } from './redis.token';

export interface RateLimitResult {
  allowed: boolean;
  limit: number;
  remaining: number;
  /** Unix seconds at which the current window ends (JPush's `X-Rate-Limit-Reset` is seconds to it). */
  resetAt: number;
}

// INCR each key and set its expiry in one round trip; the expiry is set by the first hit of a window.
const HIT = `
local counts = {}
for i, key in ipairs(KEYS) do
  local n = redis.call('INCR', key)
  if n == 1 then redis.call('PEXPIRE', key, ARGV[1]) end
  counts[i] = n
end
return counts`;

/** One caller's keys; every key of one call shares its window, hence its hash tag. */
interface Hits {
  keys: string[];
  windowMs: number;
  tag: string;
}

/**
 * Fixed-window counters in Redis, shared by every api process. A window's count is exact; a burst at a
 * window's edge can reach twice the limit, which is what JPush's per-minute quota allows too. The hits
 * of concurrent requests go to Redis together: one script call per window for all of them.
 */
@Injectable()
export class RateLimiter {
  private readonly batcher = new MicroBatcher<Hits, number[]>({
    run: (calls) => this.count(calls),
    maxBatch: 500,
  });

  constructor(
    @Inject(REDIS) private readonly redis: Redis,
    @Inject(HERALD_CONFIG) private readonly config: HeraldConfig,
  ) {}

  async hit(bucket: string, limit: number, windowSeconds = 60, now = Date.now()): Promise<RateLimitResult> {
    const [result] = await this.hitAll([{ bucket, limit }], windowSeconds, now);
    return result;
  }

  /** Several buckets in one Redis round trip (a registration counts its address and its app). */
  async hitAll(
    buckets: { bucket: string; limit: number }[],
    windowSeconds = 60,
    now = Date.now(),
  ): Promise<RateLimitResult[]> {
    const windowMs = windowSeconds * 1000;
    const window = Math.floor(now / windowMs);
    // The window is the keys' hash tag: one call's keys share a Redis Cluster slot (the script needs it).
    const tag = `{w${window}}`;
    const keys = buckets.map((b) => `${this.config.redis.queuePrefix}:rl:${tag}:${b.bucket}`);
    const counts = await this.batcher.submit({ keys, windowMs, tag });
    const resetAt = Math.ceil(((window + 1) * windowMs) / 1000);
    return buckets.map((b, i) => ({
      allowed: counts[i] <= b.limit,
      limit: b.limit,
      remaining: Math.max(0, b.limit - counts[i]),
      resetAt,
    }));
  }

  /** The counts of several callers' keys: one script call per window (Cluster: one slot per call). */
  private async count(calls: Hits[]): Promise<number[][]> {
    const groups = new Map<string, Hits[]>();
    for (const c of calls) {
      const id = `${c.tag}/${c.windowMs}`;
      const group = groups.get(id);
      if (group) group.push(c);
      else groups.set(id, [c]);
    }
    const answers = new Map<Hits, number[]>();
    await Promise.all(
      [...groups.values()].map(async (group) => {
        const keys = group.flatMap((c) => c.keys);
        const counts = (await this.redis.eval(
          HIT,
          keys.length,
          ...keys,
          String(group[0].windowMs),
        )) as number[];
        let at = 0;
        for (const c of group) {
          answers.set(c, counts.slice(at, at + c.keys.length));
          at += c.keys.length;
        }
      }),
    );
    return calls.map((c) => answers.get(c)!);
  }
}
