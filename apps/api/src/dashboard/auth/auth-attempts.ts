import { createHash } from 'node:crypto';
import { Inject, Injectable } from '@nestjs/common';
import { HeraldError } from '@herald/common';
import { HERALD_CONFIG, type HeraldConfig } from '@herald/config';
import { RateLimiter, type RateLimitResult } from '@herald/platform';

/**
 * Limits on the dashboard's public sign-in entry points, checked before any password is hashed or
 * verified (argon2id, ~9 ms of CPU each): `HERALD_DASHBOARD_AUTH_PER_MINUTE` attempts per client
 * address (Express's `req.ip`: `X-Forwarded-For` only from `HERALD_TRUSTED_PROXIES`) across signup,
 * login, refresh and accept-invite, and `HERALD_DASHBOARD_AUTH_PER_EMAIL_PER_MINUTE` password attempts
 * per e-mail address from anywhere (guessing one account's password from many addresses). Beyond
 * either: 429 `rate_limited` with `Retry-After`. Every attempt counts, right or wrong.
 */
@Injectable()
export class AuthAttempts {
  constructor(
    private readonly limiter: RateLimiter,
    @Inject(HERALD_CONFIG) private readonly config: HeraldConfig,
  ) {}

  /** Counts one attempt from `address` and/or for `email` (one Redis round trip); throws 429 beyond. */
  async check(who: { address?: string; email?: string }): Promise<void> {
    const buckets: { bucket: string; limit: number; what: string }[] = [];
    if (who.address !== undefined) {
      buckets.push({
        bucket: `dash-auth:ip:${who.address}`,
        limit: this.config.dashboard.authPerMinute,
        what: 'this address',
      });
    }
    if (who.email !== undefined) {
      // Hashed: no e-mail address in Redis key names (and a bounded key length).
      const id = createHash('sha256').update(who.email.trim().toLowerCase()).digest('base64url');
      buckets.push({
        bucket: `dash-auth:email:${id}`,
        limit: this.config.dashboard.authPerEmailPerMinute,
        what: 'this e-mail address',
      });
    }
    if (buckets.length === 0) return;
    const hits = await this.limiter.hitAll(buckets);
    const over = hits.findIndex((h) => !h.allowed);
    if (over >= 0) throw tooMany(hits[over], buckets[over].what);
  }
}

function tooMany(hit: RateLimitResult, what: string): HeraldError {
  const retryAfter = Math.max(1, hit.resetAt - Math.floor(Date.now() / 1000));
  return new HeraldError(
    'rate_limited',
    `too many sign-in attempts for ${what}: at most ${hit.limit} per minute, try again in ${retryAfter} s`,
    { headers: { 'Retry-After': String(retryAfter) } },
  );
}
