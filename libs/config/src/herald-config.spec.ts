import { ConfigError, loadConfig, redactConfig } from './herald-config';

const KEY = Buffer.alloc(32, 1).toString('base64');
const OLD = Buffer.alloc(32, 2).toString('base64');

function issuesOf(env: Record<string, string | undefined>): string[] {
  try {
    loadConfig(env);
  } catch (err) {
    if (err instanceof ConfigError) return err.issues.map((i) => i.key);
    throw err;
  }
  throw new Error('expected a ConfigError');
}

describe('loadConfig', () => {
  it('applies the documented defaults when only the master key is set', () => {
    const c = loadConfig({ HERALD_MASTER_KEY: KEY });
    expect(c.database.url).toBe('postgres://postgres@127.0.0.1:5432/herald');
    expect(c.redis.url).toBe('redis://127.0.0.1:6379');
    expect(c.api.port).toBe(3000);
    expect(c.gateway.port).toBe(3001);
    expect(c.api.publicUrl).toBe('http://127.0.0.1:3000');
    expect(c.gateway.publicUrl).toBe('ws://127.0.0.1:3001/v1/connect');
    expect(c.sdk.registerPerMinute).toBe(120);
    expect(c.redis.queuePrefix).toBe('herald');
    expect(c.crypto.current).toEqual({ id: 'k1', key: Buffer.alloc(32, 1) });
    expect(c.crypto.previous).toEqual([]);
    expect(c.providers.apnsEndpoint).toBeUndefined();
    expect(c.feedback).toEqual({ quarantineDays: 7, invalidRetentionDays: 30 });
  });

  it('reads every contract variable', () => {
    const c = loadConfig({
      HERALD_MASTER_KEY: KEY,
      HERALD_MASTER_KEY_ID: 'k2',
      HERALD_PREVIOUS_MASTER_KEYS: `k1:${OLD}`,
      DATABASE_URL: 'postgresql://u:p@db:5433/x',
      REDIS_URL: 'rediss://cache:6380',
      HERALD_API_PORT: '8080',
      HERALD_GATEWAY_PORT: '8081',
      HERALD_APNS_ENDPOINT: 'https://127.0.0.1:8443',
      HERALD_FCM_ENDPOINT: 'https://127.0.0.1:9443',
      HERALD_SDK_REGISTER_PER_MINUTE: '10',
      HERALD_PUBLIC_URL: 'https://push.example.com/',
    });
    expect(c.database.url).toBe('postgresql://u:p@db:5433/x');
    expect(c.redis.url).toBe('rediss://cache:6380');
    expect([c.api.port, c.gateway.port]).toEqual([8080, 8081]);
    expect(c.providers).toMatchObject({
      apnsEndpoint: 'https://127.0.0.1:8443',
      fcmEndpoint: 'https://127.0.0.1:9443',
    });
    expect(c.sdk.registerPerMinute).toBe(10);
    expect(c.api.publicUrl).toBe('https://push.example.com');
    expect(c.crypto.current.id).toBe('k2');
    expect(c.crypto.previous).toEqual([{ id: 'k1', key: Buffer.alloc(32, 2) }]);
  });

  it('reads the gateway keys, with defaults and bounds', () => {
    const d = loadConfig({ HERALD_MASTER_KEY: KEY }).gateway;
    expect(d).toMatchObject({
      inboxMax: 100,
      maxFrameBytes: 65_536,
      presenceTtlSeconds: 120,
      minHeartbeatSeconds: 30,
      idleGraceSeconds: 10,
      helloTimeoutMs: 10_000,
      slowBytes: 1_048_576,
      authCacheTtlMs: 60_000,
    });
    expect(d.nodeId).toMatch(new RegExp(`-${process.pid}$`));
    const c = loadConfig({
      HERALD_MASTER_KEY: KEY,
      HERALD_GATEWAY_NODE_ID: 'gw-a',
      HERALD_GATEWAY_INBOX_MAX: '5',
      HERALD_GATEWAY_MIN_HEARTBEAT_SECONDS: '1',
      HERALD_GATEWAY_AUTH_CACHE_TTL_MS: '0',
    }).gateway;
    expect(c).toMatchObject({ nodeId: 'gw-a', inboxMax: 5, minHeartbeatSeconds: 1, authCacheTtlMs: 0 });
    expect(
      issuesOf({
        HERALD_MASTER_KEY: KEY,
        HERALD_GATEWAY_NODE_ID: 'a b',
        HERALD_GATEWAY_MIN_HEARTBEAT_SECONDS: '31',
        HERALD_GATEWAY_MAX_FRAME_BYTES: '10',
      }).sort(),
    ).toEqual([
      'HERALD_GATEWAY_MAX_FRAME_BYTES',
      'HERALD_GATEWAY_MIN_HEARTBEAT_SECONDS',
      'HERALD_GATEWAY_NODE_ID',
    ]);
  });

  it('reads the trusted proxies and SDK registration limits', () => {
    const c = loadConfig({
      HERALD_MASTER_KEY: KEY,
      HERALD_TRUSTED_PROXIES: '10.0.0.1, 192.168.0.0/16,::1',
      HERALD_SDK_REGISTER_PER_APP_PER_MINUTE: '50',
      HERALD_SDK_DEVICE_PER_MINUTE: '20',
    });
    expect(c.trustedProxies).toEqual(['10.0.0.1', '192.168.0.0/16', '::1']);
    expect(c.sdk).toEqual({ registerPerMinute: 120, registerPerAppPerMinute: 50, devicePerMinute: 20 });
    expect(loadConfig({ HERALD_MASTER_KEY: KEY }).sdk.devicePerMinute).toBe(300);
    expect(loadConfig({ HERALD_MASTER_KEY: KEY }).trustedProxies).toEqual([]);
  });

  it('reads the dashboard sign-in limits', () => {
    expect(loadConfig({ HERALD_MASTER_KEY: KEY }).dashboard).toEqual({
      authPerMinute: 60,
      authPerEmailPerMinute: 10,
    });
    const c = loadConfig({
      HERALD_MASTER_KEY: KEY,
      HERALD_DASHBOARD_AUTH_PER_MINUTE: '5',
      HERALD_DASHBOARD_AUTH_PER_EMAIL_PER_MINUTE: '3',
    });
    expect(c.dashboard).toEqual({ authPerMinute: 5, authPerEmailPerMinute: 3 });
    expect(() => loadConfig({ HERALD_MASTER_KEY: KEY, HERALD_DASHBOARD_AUTH_PER_MINUTE: '0' })).toThrow(
      /HERALD_DASHBOARD_AUTH_PER_MINUTE/,
    );
  });

  it('treats blank values as unset', () => {
    const c = loadConfig({ HERALD_MASTER_KEY: KEY, HERALD_API_PORT: '', HERALD_APNS_ENDPOINT: '  ' });
    expect(c.api.port).toBe(3000);
    expect(c.providers.apnsEndpoint).toBeUndefined();
  });

  it.each([
    [{}, ['HERALD_MASTER_KEY']],
    [{ HERALD_MASTER_KEY: 'c2hvcnQ=' }, ['HERALD_MASTER_KEY']],
    [{ HERALD_MASTER_KEY: 'not base64 at all!!' }, ['HERALD_MASTER_KEY']],
    [{ HERALD_MASTER_KEY: KEY, HERALD_API_PORT: 'abc' }, ['HERALD_API_PORT']],
    [{ HERALD_MASTER_KEY: KEY, HERALD_API_PORT: '70000' }, ['HERALD_API_PORT']],
    [{ HERALD_MASTER_KEY: KEY, HERALD_GATEWAY_PORT: '1.5' }, ['HERALD_GATEWAY_PORT']],
    [{ HERALD_MASTER_KEY: KEY, DATABASE_URL: 'mysql://x/y' }, ['DATABASE_URL']],
    [{ HERALD_MASTER_KEY: KEY, REDIS_URL: '127.0.0.1:6379' }, ['REDIS_URL']],
    [{ HERALD_MASTER_KEY: KEY, HERALD_APNS_ENDPOINT: 'not a url' }, ['HERALD_APNS_ENDPOINT']],
    [{ HERALD_MASTER_KEY: KEY, HERALD_SDK_REGISTER_PER_MINUTE: '0' }, ['HERALD_SDK_REGISTER_PER_MINUTE']],
    [{ HERALD_MASTER_KEY: KEY, HERALD_LOG_LEVEL: 'loud' }, ['HERALD_LOG_LEVEL']],
    [{ HERALD_MASTER_KEY: KEY, HERALD_QUARANTINE_DAYS: '0' }, ['HERALD_QUARANTINE_DAYS']],
    [{ HERALD_MASTER_KEY: KEY, HERALD_INVALID_RETENTION_DAYS: '1.5' }, ['HERALD_INVALID_RETENTION_DAYS']],
    [{ HERALD_MASTER_KEY: KEY, NODE_ENV: 'staging' }, ['NODE_ENV']],
    [{ HERALD_MASTER_KEY: KEY, HERALD_MASTER_KEY_ID: 'bad id' }, ['HERALD_MASTER_KEY_ID']],
    [{ HERALD_MASTER_KEY: KEY, HERALD_PREVIOUS_MASTER_KEYS: 'k0' }, ['HERALD_PREVIOUS_MASTER_KEYS']],
    [{ HERALD_MASTER_KEY: KEY, HERALD_PREVIOUS_MASTER_KEYS: 'k0:c2hvcnQ=' }, ['HERALD_PREVIOUS_MASTER_KEYS']],
    [{ HERALD_MASTER_KEY: KEY, HERALD_QUEUE_PREFIX: 'Has{Braces}' }, ['HERALD_QUEUE_PREFIX']],
    [{ HERALD_MASTER_KEY: KEY, HERALD_PREVIOUS_MASTER_KEYS: `k1:${OLD}` }, ['HERALD_PREVIOUS_MASTER_KEYS']],
    [
      { HERALD_MASTER_KEY: KEY, HERALD_PREVIOUS_MASTER_KEYS: `a:${OLD},a:${KEY}` },
      ['HERALD_PREVIOUS_MASTER_KEYS'],
    ],
    [{ HERALD_MASTER_KEY: KEY, HERALD_TRUSTED_PROXIES: '10.0.0.1,evil.example' }, ['HERALD_TRUSTED_PROXIES']],
    [{ HERALD_API_PORT: 'x', REDIS_URL: 'nope' }, ['HERALD_API_PORT', 'HERALD_MASTER_KEY', 'REDIS_URL']],
  ])('rejects case %# naming %j', (env, keys) => {
    expect(issuesOf(env).sort()).toEqual([...keys].sort());
  });

  it('says what is wrong in the message, without echoing the value', () => {
    const secretish = 'dGhpcyBpcyBub3QgMzIgYnl0ZXM=';
    try {
      loadConfig({ HERALD_MASTER_KEY: secretish });
      throw new Error('expected a ConfigError');
    } catch (err) {
      expect(err).toBeInstanceOf(ConfigError);
      expect((err as Error).message).toContain('HERALD_MASTER_KEY');
      expect((err as Error).message).toContain('32 bytes');
      expect((err as Error).message).not.toContain(secretish);
    }
  });
});

describe('redactConfig', () => {
  it('keeps key ids and hides key material and URL passwords', () => {
    const c = loadConfig({
      HERALD_MASTER_KEY: KEY,
      HERALD_PREVIOUS_MASTER_KEYS: `old:${OLD}`,
      DATABASE_URL: 'postgres://herald:s3cret-pw@db:5432/herald',
      REDIS_URL: 'redis://:r3dis-pw@cache:6379',
    });
    const text = JSON.stringify(redactConfig(c));
    for (const secret of [KEY, OLD, 's3cret-pw', 'r3dis-pw']) expect(text).not.toContain(secret);
    expect(text).toContain('"id":"k1"');
    expect(text).toContain('"id":"old"');
    expect(text).toContain('db:5432');
    // the redacted copy must not alter the live config
    expect(c.database.url).toContain('s3cret-pw');
  });
});
