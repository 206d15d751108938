import { Inject, Injectable } from '@nestjs/common';
import type { Redis } from 'ioredis';
import { HERALD_CONFIG, type HeraldConfig } from '@herald/config';
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

/**
 * Fixed-window counters in Redis, shared by every api process. A window's count is exact; a burst at a
 * window's edge can reach twice the limit, which is what JPush's per-minute quota allows too.
 */
@Injectable()
export class RateLimiter {
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
    const keys = buckets.map((b) => `${this.config.redis.queuePrefix}:rl:{w${window}}:${b.bucket}`);
    const counts = (await this.redis.eval(HIT, keys.length, ...keys, String(windowMs))) as number[];
    const resetAt = Math.ceil(((window + 1) * windowMs) / 1000);
    return buckets.map((b, i) => ({
      allowed: counts[i] <= b.limit,
      limit: b.limit,
      remaining: Math.max(0, b.limit - counts[i]),
      resetAt,
    }));
  }
}
