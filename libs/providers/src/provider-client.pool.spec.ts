import { createFakeServiceAccount } from '@herald/testing';
import { ProviderClientPool } from './provider-client.pool';

describe('ProviderClientPool', () => {
  it('closes a client nobody asked for in the idle limit (a rotated or deleted credential), keeps used ones', async () => {
    let now = 1_000_000;
    const pool = new ProviderClientPool({}, { idleMs: 10 * 60_000, now: () => now });
    const rotated = createFakeServiceAccount('pool-old');
    const current = createFakeServiceAccount('pool-new');
    const busy = createFakeServiceAccount('pool-busy');
    try {
      const old = pool.fcmClient(rotated);
      const kept = pool.fcmClient(busy);
      now += 6 * 60_000;
      expect(pool.fcmClient(busy)).toBe(kept);
      now += 5 * 60_000;
      // 11 minutes since the old credential's client was asked for, 5 since the busy one's.
      pool.fcmClient(current);
      expect(pool.size).toBe(2);
      expect(pool.fcmClient(busy)).toBe(kept);
      // Asked for again (say, the rotation was rolled back), it is a new client: the old one is closed.
      expect(pool.fcmClient(rotated)).not.toBe(old);
    } finally {
      await pool.closeAll();
    }
  });
});
