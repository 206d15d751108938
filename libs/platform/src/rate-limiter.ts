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

// INCR and set the expiry in one round trip; the expiry is set only by the first hit of a window.
const HIT = `
local n = redis.call('INCR', KEYS[1])
if n == 1 then redis.call('PEXPIRE', KEYS[1], ARGV[1]) end
return n`;

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
    const windowMs = windowSeconds * 1000;
    const window = Math.floor(now / windowMs);
    const key = `${this.config.redis.queuePrefix}:rl:${bucket}:${window}`;
    const count = Number(await this.redis.eval(HIT, 1, key, String(windowMs)));
    return {
      allowed: count <= limit,
      limit,
      remaining: Math.max(0, limit - count),
      resetAt: Math.ceil(((window + 1) * windowMs) / 1000),
    };
  }
}
