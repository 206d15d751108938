import { createTestContext, type TestContext } from '@herald/testing';
import { RateLimiter } from './rate-limiter';

/** The fixed-window counters every api process shares, on a real Redis. */
describe('RateLimiter (real Redis)', () => {
  let ctx: TestContext;
  let limiter: RateLimiter;

  beforeAll(async () => {
    ctx = await createTestContext();
    limiter = new RateLimiter(ctx.redis, ctx.config);
  });
  afterAll(() => ctx.close());

  // A fixed instant in the middle of a minute, so no hit below crosses a window by accident.
  const minute = 60_000;
  const now = Math.floor(Date.now() / minute) * minute + 30_000;

  it('counts concurrent hits exactly: as many allowed as the limit, each told what remains', async () => {
    const results = await Promise.all(Array.from({ length: 50 }, () => limiter.hit('app:a', 30, 60, now)));
    expect(results.filter((r) => r.allowed)).toHaveLength(30);
    expect(results.filter((r) => !r.allowed)).toHaveLength(20);
    // Every allowed hit saw its own count: remaining 29 … 0, each once.
    expect(
      results
        .filter((r) => r.allowed)
        .map((r) => r.remaining)
        .sort((x, y) => y - x),
    ).toEqual(Array.from({ length: 30 }, (_, i) => 29 - i));
    expect(results.filter((r) => !r.allowed).every((r) => r.remaining === 0)).toBe(true);
    const resetAt = (Math.floor(now / minute) + 1) * 60;
    expect(new Set(results.map((r) => r.resetAt))).toEqual(new Set([resetAt]));
    expect(results.every((r) => r.limit === 30)).toBe(true);
  });

  it('keeps buckets apart, several in one call, and starts every window afresh', async () => {
    const [first] = await Promise.all([
      limiter.hitAll(
        [
          { bucket: 'ip:1', limit: 2 },
          { bucket: 'app:b', limit: 100 },
        ],
        60,
        now,
      ),
      limiter.hit('app:b', 100, 60, now),
    ]);
    expect(first.map((r) => r.allowed)).toEqual([true, true]);
    expect(first[0].remaining).toBe(1);
    // app:b was hit twice in this window (in either order), ip:1 once.
    const [ip, app] = await limiter.hitAll(
      [
        { bucket: 'ip:1', limit: 2 },
        { bucket: 'app:b', limit: 100 },
      ],
      60,
      now,
    );
    expect([ip.allowed, ip.remaining]).toEqual([true, 0]);
    expect(app.remaining).toBe(97);
    expect((await limiter.hit('ip:1', 2, 60, now)).allowed).toBe(false);
    // The next window: a new count.
    const next = await limiter.hit('ip:1', 2, 60, now + minute);
    expect([next.allowed, next.remaining]).toEqual([true, 1]);
  });

  it('gives each window key an expiry no longer than the window: nothing accumulates in Redis', async () => {
    await limiter.hit('app:ttl', 10, 60, now);
    const keys = await ctx.redis.keys(`${ctx.config.redis.queuePrefix}:rl:*app:ttl`);
    expect(keys).toHaveLength(1);
    const ttl = await ctx.redis.pttl(keys[0]);
    expect(ttl).toBeGreaterThan(0);
    expect(ttl).toBeLessThanOrEqual(60_000);
  });
});
