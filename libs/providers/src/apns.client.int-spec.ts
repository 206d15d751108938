import { APNS_SCRIPTS, createFakeApnsKey, FakeApnsServer, testCerts } from '@herald/testing';
import { ApnsClient, type ApnsClientOptions } from './apns.client';
import { buildApnsRequest, type ApnsRequest } from './apns-payload.builder';
import type { ApnsTokenCredentials } from './credentials.types';

const key = createFakeApnsKey('com.herald.demo');
const credentials: ApnsTokenCredentials = {
  kind: 'token',
  key: key.key,
  keyId: key.keyId,
  teamId: key.teamId,
};
const tok = (i: number): string => i.toString(16).padStart(64, '0');

function request(kind: 'alert' | 'voip' = 'alert'): ApnsRequest {
  const r = buildApnsRequest(
    { alert: 'hi', voip: { caller: 'ada' } },
    { messageId: '1000000001', bundleId: key.bundleId, nowMs: Date.now(), options: { time_to_live: 60 } },
    kind,
  );
  if (!r.ok) throw new Error('payload');
  return r.request;
}

describe('ApnsClient against the fake APNs', () => {
  let fake: FakeApnsServer;
  const clients: ApnsClient[] = [];
  const client = (
    options: Partial<ApnsClientOptions> = {},
    creds = credentials as ConstructorParameters<typeof ApnsClient>[0],
  ) => {
    const c = new ApnsClient(creds, {
      environment: 'production',
      endpoint: fake.url,
      ca: [fake.ca],
      ...options,
    });
    clients.push(c);
    return c;
  };

  beforeAll(async () => {
    fake = await FakeApnsServer.start();
    fake.registerKey(key);
  });
  afterEach(async () => {
    await Promise.all(clients.splice(0).map((c) => c.close()));
    fake.reset();
    fake.setGoawayAfter(undefined);
  });
  afterAll(() => fake.close());

  it('sends the headers Apple expects: topic, push type, priority, expiration, collapse id', async () => {
    const out = await client().send([
      { token: tok(1), request: request() },
      { token: tok(2), request: request('voip') },
    ]);
    expect(out.map((o) => o.kind)).toEqual(['sent', 'sent']);
    expect(
      fake.requests.map(({ topic, pushType, priority, collapseId }) => ({
        topic,
        pushType,
        priority,
        collapseId,
      })),
    ).toEqual([
      { topic: 'com.herald.demo', pushType: 'alert', priority: '10', collapseId: 'h1000000001' },
      { topic: 'com.herald.demo.voip', pushType: 'voip', priority: '10', collapseId: 'h1000000001' },
    ]);
    expect(Number(fake.requests[0].expiration)).toBeGreaterThan(Date.now() / 1000);
    expect(fake.requests[0].body).toBe('{"aps":{"alert":"hi"},"_hmid":"1000000001"}');
  });

  it('keeps in-flight streams under its cap', async () => {
    const out = await client({ maxInFlight: 50 }).send(
      Array.from({ length: 2000 }, (_, i) => ({ token: tok(i), request: request() })),
    );
    expect(out.every((o) => o.kind === 'sent')).toBe(true);
    expect(fake.stats().maxConcurrentStreamsSeen).toBeLessThanOrEqual(50);
  });

  it('loses no token when the server sends GOAWAY mid-batch, and reconnects', async () => {
    fake.setGoawayAfter(700);
    const tokens = Array.from({ length: 3000 }, (_, i) => tok(i));
    const out = await client().send(tokens.map((token) => ({ token, request: request() })));
    expect(out).toHaveLength(3000);
    // Every token is sent or retryable: none vanishes and none is called invalid. "Sent" is only ever
    // claimed for what the server accepted. A stream the server answered while the session was closing
    // can come back retryable (its answer was lost); the message-derived collapse id absorbs that resend.
    expect(out.filter((o) => o.kind !== 'sent' && o.kind !== 'retryable')).toEqual([]);
    const delivered = new Set(fake.requests.filter((r) => r.status === 200).map((r) => r.token));
    const reportedSent = tokens.filter((_, i) => out[i].kind === 'sent');
    expect(reportedSent.filter((t) => !delivered.has(t))).toEqual([]);
    expect(reportedSent.length).toBeGreaterThan(2000);
    expect(fake.stats().goaways).toBeGreaterThanOrEqual(1);
    expect(fake.stats().sessions).toBeGreaterThanOrEqual(2);
  });

  it('reuses one JWT and renews it once it reaches the configured age', async () => {
    let now = 1_000_000;
    const c = client({ clock: () => now, jwtMaxAgeMs: 30 * 60_000 });
    await c.send([{ token: tok(1), request: request() }]);
    now += 29 * 60_000;
    await c.send([{ token: tok(2), request: request() }]);
    expect(fake.stats().distinctJwts).toBe(1);
    now += 2 * 60_000;
    await c.send([{ token: tok(3), request: request() }]);
    await c.send([{ token: tok(4), request: request() }]);
    expect(fake.stats().distinctJwts).toBe(2);
    expect(new Set(fake.requests.map((r) => r.auth))).toEqual(new Set(['jwt:1', 'jwt:2']));
  });

  it('re-signs and resends once on ExpiredProviderToken; a persisting one is permanent', async () => {
    fake.script(tok(1), APNS_SCRIPTS.expiredProviderToken(1));
    fake.script(tok(2), APNS_SCRIPTS.expiredProviderToken());
    const out = await client().send([
      { token: tok(1), request: request() },
      { token: tok(2), request: request() },
    ]);
    expect(out[0]).toMatchObject({ kind: 'sent' });
    expect(out[1]).toMatchObject({ kind: 'permanent', reason: 'ExpiredProviderToken' });
    expect(fake.stats().distinctJwts).toBeGreaterThanOrEqual(2);
  });

  it('answers permanent for every token when the key cannot sign, one per token', async () => {
    const out = await client({}, { ...credentials, key: 'not a key' }).send([
      { token: tok(1), request: request() },
      { token: tok(2), request: request() },
    ]);
    expect(out).toEqual([
      { kind: 'permanent', reason: expect.stringMatching(/^credential: /) },
      { kind: 'permanent', reason: expect.stringMatching(/^credential: /) },
    ]);
    expect(fake.stats().requests).toBe(0);
  });

  it('refuses a key the fake does not know (InvalidProviderToken) as permanent', async () => {
    const stranger = createFakeApnsKey();
    const out = await client(
      {},
      { kind: 'token', key: stranger.key, keyId: key.keyId, teamId: key.teamId },
    ).send([{ token: tok(1), request: request() }]);
    expect(out).toEqual([{ kind: 'permanent', reason: 'InvalidProviderToken', status: 403 }]);
  });

  it('authenticates with a .p12 client certificate (certificate mode)', async () => {
    const certs = testCerts();
    const out = await client(
      {},
      { kind: 'certificate', pfx: certs.apnsClientP12, passphrase: certs.apnsClientPassphrase },
    ).send([{ token: tok(1), request: request() }]);
    expect(out).toEqual([{ kind: 'sent', providerMessageId: expect.any(String) }]);
    expect(fake.requests[0].auth).toBe('certificate');
  });

  it('maps each APNs answer exactly as the outcome table says', async () => {
    fake.script(tok(1), APNS_SCRIPTS.unregistered(1_700_000_000_000));
    fake.script(tok(2), APNS_SCRIPTS.badDeviceToken());
    fake.script(tok(3), APNS_SCRIPTS.tooManyRequests(5));
    fake.script(tok(4), APNS_SCRIPTS.internal());
    fake.script(tok(5), APNS_SCRIPTS.unavailable(1));
    const out = await client().send([0, 1, 2, 3, 4, 5].map((i) => ({ token: tok(i), request: request() })));
    expect(out).toEqual([
      { kind: 'sent', providerMessageId: expect.any(String) },
      {
        kind: 'invalid_token',
        reason: 'Unregistered',
        status: 410,
        providerTimestamp: new Date(1_700_000_000_000),
      },
      { kind: 'invalid_token', reason: 'BadDeviceToken', status: 400 },
      { kind: 'rate_limited', reason: 'TooManyRequests', status: 429, retryAfterMs: 60_000 },
      { kind: 'retryable', reason: 'InternalServerError', status: 500 },
      { kind: 'retryable', reason: 'ServiceUnavailable', status: 503 },
    ]);
    // Answers with a status are final for this call: one request each, no resend.
    expect(fake.stats().requests).toBe(6);
  });

  it('shares one in-flight cap between concurrent sends', async () => {
    const c = client({ maxInFlight: 40 });
    const batch = (from: number) =>
      Array.from({ length: 500 }, (_, i) => ({ token: tok(from + i), request: request() }));
    const outs = await Promise.all([c.send(batch(0)), c.send(batch(1000)), c.send(batch(2000))]);
    expect(outs.map((o) => o.filter((x) => x.kind === 'sent').length)).toEqual([500, 500, 500]);
    expect(fake.stats().maxConcurrentStreamsSeen).toBeLessThanOrEqual(40);
  });

  it('answers retryable for every token once closed, without touching the server', async () => {
    const c = client();
    await c.close();
    const out = await c.send([{ token: tok(1), request: request() }]);
    expect(out).toEqual([{ kind: 'retryable', reason: 'transport: client is destroyed' }]);
    expect(fake.stats().requests).toBe(0);
  });

  it('reports a .p12 that will not open as a credential error for every token', async () => {
    const certs = testCerts();
    const out = await client({}, { kind: 'certificate', pfx: certs.apnsClientP12, passphrase: 'wrong' }).send(
      [{ token: tok(1), request: request() }],
    );
    expect(out).toEqual([{ kind: 'permanent', reason: expect.stringMatching(/^credential: /) }]);
    expect(fake.stats().requests).toBe(0);
  });

  it('answers a slow response within the request timeout', async () => {
    fake.script(tok(1), APNS_SCRIPTS.slow(400));
    const out = await client({ requestTimeoutMs: 200 }).send([{ token: tok(1), request: request() }]);
    expect(out[0]).toMatchObject({ kind: 'retryable', reason: expect.stringMatching(/^transport: /) });
  });
});
