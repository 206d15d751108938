import type { PushSpec } from '@herald/push';
import { apnsEnvironmentOf } from './channel.sender';

const spec = (apns_production?: boolean): PushSpec => ({
  platform: 'all',
  audience: { all: true },
  options: { sendno: '0', time_to_live: 86_400, ...(apns_production !== undefined && { apns_production }) },
});

describe('apnsEnvironmentOf (the send and the feedback job use this one rule)', () => {
  it("uses the device's environment when the push does not choose, production when the device has none", () => {
    expect(apnsEnvironmentOf(spec(), { apnsEnvironment: 'sandbox' })).toBe('sandbox');
    expect(apnsEnvironmentOf(spec(), { apnsEnvironment: null })).toBe('production');
  });

  it('lets options.apns_production decide for every device when present', () => {
    expect(apnsEnvironmentOf(spec(true), { apnsEnvironment: 'sandbox' })).toBe('production');
    expect(apnsEnvironmentOf(spec(false), { apnsEnvironment: 'production' })).toBe('sandbox');
  });
});
