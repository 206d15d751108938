import { configFromProcessEnv, type HeraldConfig } from '@herald/config';

/** A fixed, public key for tests only: test data is throwaway and never leaves the machine. */
export const TEST_MASTER_KEY = Buffer.alloc(32, 7).toString('base64');

export function testConfig(overrides: Record<string, string> = {}): HeraldConfig {
  return configFromProcessEnv(
    {
      HERALD_MASTER_KEY: TEST_MASTER_KEY,
      NODE_ENV: 'test',
      HERALD_LOG_LEVEL: 'warn',
      // The fake callback and webhook endpoints tests start listen on loopback.
      HERALD_OUTBOUND_ALLOW: '127.0.0.0/8,::1',
    },
    overrides,
  );
}
