import { createFakeServiceAccount, FakeFcmServer } from '@herald/testing';
import { FcmClient } from './fcm.client';
import { buildFcmDataMessage, buildFcmNotification, type FcmMessage } from './fcm-payload.builder';

const account = createFakeServiceAccount('herald-fcm-spec');

function note(token: string): FcmMessage {
  const r = buildFcmNotification(
    token,
    { alert: 'hi', android: { title: 'T', extras: { n: 1 } } },
    { messageId: '1000000001' },
  );
  if (!r.ok) throw new Error('payload');
  return r.message;
}

describe('FcmClient against the fake FCM', () => {
  let fake: FakeFcmServer;
  const clients: FcmClient[] = [];
  const client = (a: ConstructorParameters<typeof FcmClient>[0] = account) => {
    const c = new FcmClient(a, { endpoint: fake.url, ca: [fake.ca] });
    clients.push(c);
    return c;
  };

  beforeAll(async () => {
    fake = await FakeFcmServer.start();
    fake.registerServiceAccount(account);
  });
  afterEach(async () => {
    await Promise.all(clients.splice(0).map((c) => c.close()));
    fake.reset();
  });
  afterAll(() => fake.close());

  it('exchanges a signed JWT at /token on the endpoint and sends v1 messages with it', async () => {
    const data = buildFcmDataMessage(
      'tok-data-000000000001',
      { msg_content: 'm', extras: { k: [1] } },
      { messageId: '5' },
    );
    if (!data.ok) throw new Error('payload');
    const out = await client().send([note('tok-note-000000000001'), data.message]);
    expect(out.map((o) => o.kind)).toEqual(['sent', 'sent']);
    expect(fake.stats()).toMatchObject({ tokenExchanges: 1, accessTokensIssued: 1 });
    expect(fake.requests.map((r) => r.message)).toEqual([
      {
        token: 'tok-note-000000000001',
        notification: { title: 'T', body: 'hi' },
        data: { n: '1', _hmid: '1000000001' },
        android: { priority: 'high', ttl: '86400s' },
      },
      {
        token: 'tok-data-000000000001',
        data: { k: '[1]', msg_content: 'm', _hmid: '5' },
        android: { priority: 'normal', ttl: '86400s' },
      },
    ]);
  });

  it('answers permanent for every token when Google refuses the service account, one per token', async () => {
    const stranger = createFakeServiceAccount('herald-fcm-spec');
    const out = await client(stranger).send([note('tok-a-0000000000000001'), note('tok-b-0000000000000001')]);
    expect(out).toEqual([
      { kind: 'permanent', reason: 'credential: token exchange refused' },
      { kind: 'permanent', reason: 'credential: token exchange refused' },
    ]);
    expect(fake.stats().requests).toBe(0);
  });

  it('answers retryable, not a refused key, while the Google token endpoint is unwell (5xx, 429)', async () => {
    for (const status of [503, 429]) {
      fake.failTokenExchanges(status, 1);
      const c = client();
      expect(await c.send([note('tok-a-0000000000000001')])).toEqual([
        { kind: 'retryable', reason: 'transport: token exchange failed' },
      ]);
    }
  });

  it('answers retryable when the endpoint is unreachable', async () => {
    const c = new FcmClient(account, { endpoint: 'https://127.0.0.1:1', ca: [fake.ca] });
    clients.push(c);
    const out = await c.send([note('tok-a-0000000000000001')]);
    expect(out).toEqual([{ kind: 'retryable', reason: expect.stringMatching(/^transport: /) }]);
  });

  it('maps a message FCM finds malformed to permanent, not to the token', async () => {
    const bad = { ...note('tok-a-0000000000000001'), data: { 'google.reserved': 'x' } };
    const out = await client().send([bad]);
    expect(out[0]).toMatchObject({ kind: 'permanent', reason: expect.stringMatching(/^INVALID_ARGUMENT/) });
  });

  it('shares its in-flight limit between concurrent sends', async () => {
    // 4 in flight (two sendEach calls of 2) for the whole client: 12 messages of 150 ms take 3 rounds.
    const c = new FcmClient(account, { endpoint: fake.url, ca: [fake.ca], maxInFlight: 4 });
    clients.push(c);
    const tokens = Array.from({ length: 12 }, (_, i) => `tok-lanes-${String(i).padStart(12, '0')}`);
    for (const t of tokens) fake.script(t, { delayMs: 150 });
    await c.send([note('tok-warm-000000000001')]);
    const started = Date.now();
    const outs = await Promise.all([0, 4, 8].map((from) => c.send(tokens.slice(from, from + 4).map(note))));
    const elapsed = Date.now() - started;
    expect(outs.flat().map((o) => o.kind)).toEqual(Array.from({ length: 12 }, () => 'sent'));
    expect(elapsed).toBeGreaterThanOrEqual(440);
  });

  it('sends over HTTP/2, never more than the 100 streams FCM allows on one connection', async () => {
    const tokens = Array.from({ length: 1500 }, (_, i) => `tok-h2-${String(i).padStart(14, '0')}`);
    const out = await client().send(tokens.map(note));
    expect(out.filter((o) => o.kind !== 'sent')).toEqual([]);
    expect(out[0]).toEqual({
      kind: 'sent',
      providerMessageId: expect.stringMatching(/^projects\/herald-fcm-spec\/messages\//),
    });
    const stats = fake.stats();
    expect(stats.http2Requests).toBe(1500);
    expect(stats.maxConcurrentStreamsSeen).toBeGreaterThan(1);
    expect(stats.maxConcurrentStreamsSeen).toBeLessThanOrEqual(100);
    // 400 in flight by default: four connections of 100 streams, plus the token exchange's HTTP/1.1 one.
    expect(stats.connections).toBeLessThanOrEqual(5);
  });

  it('sends again what a GOAWAY refused, on a new connection, losing nothing', async () => {
    fake.setGoawayAfter(60);
    try {
      const tokens = Array.from({ length: 400 }, (_, i) => `tok-goaway-${String(i).padStart(10, '0')}`);
      const out = await client().send(tokens.map(note));
      expect(out.filter((o) => o.kind !== 'sent')).toEqual([]);
      const stats = fake.stats();
      expect(stats.goaways).toBeGreaterThan(0);
      expect(stats.requests).toBe(400);
    } finally {
      fake.setGoawayAfter(undefined);
    }
  });

  it('fetches a new access token when FCM refuses the current one, and resends once', async () => {
    const c = client();
    expect((await c.send([note('tok-auth-000000000001')]))[0].kind).toBe('sent');
    fake.revokeAccessTokens();
    const out = await c.send([note('tok-auth-000000000002'), note('tok-auth-000000000003')]);
    expect(out.map((o) => o.kind)).toEqual(['sent', 'sent']);
    expect(fake.stats().accessTokensIssued).toBe(2);
  });

  it('retries 503 after its Retry-After, and passes on a Retry-After it will not wait for', async () => {
    fake.script('tok-503-long-00000001', { errorCode: 'UNAVAILABLE', retryAfterS: 120 });
    fake.script('tok-500-000000000001', { errorCode: 'INTERNAL', retryAfterS: 5 });
    const started = Date.now();
    const out = await client().send([note('tok-503-long-00000001'), note('tok-500-000000000001')]);
    expect(Date.now() - started).toBeLessThan(1000);
    expect(out).toEqual([
      { kind: 'retryable', reason: 'UNAVAILABLE', status: 503, retryAfterMs: 120_000 },
      { kind: 'retryable', reason: 'INTERNAL', status: 500, retryAfterMs: 5000 },
    ]);
    // Neither is sent again within the call: 503 beyond 60 s is the caller's to schedule, 500 is not retried.
    expect(fake.stats().requests).toBe(2);
  });

  it('maps each FCM error of issue #4 to its outcome', async () => {
    const cases = [
      ['tok-err-unregistered-01', 'UNREGISTERED', { kind: 'invalid_token', reason: 'UNREGISTERED' }],
      [
        'tok-err-sender-000000001',
        'SENDER_ID_MISMATCH',
        { kind: 'invalid_token', reason: 'SENDER_ID_MISMATCH' },
      ],
      ['tok-err-invalid-00000001', 'INVALID_ARGUMENT', { kind: 'invalid_token', reason: 'INVALID_ARGUMENT' }],
      ['tok-err-quota-0000000001', 'QUOTA_EXCEEDED', { kind: 'rate_limited', retryAfterMs: 60_000 }],
      [
        'tok-err-3pauth-000000001',
        'THIRD_PARTY_AUTH_ERROR',
        { kind: 'permanent', reason: 'THIRD_PARTY_AUTH_ERROR' },
      ],
    ] as const;
    for (const [token, errorCode] of cases) fake.script(token, { errorCode });
    const out = await client().send(cases.map(([token]) => note(token)));
    cases.forEach(([, , expected], i) => expect(out[i]).toMatchObject(expected));
  });

  it('answers a request FCM does not answer in time as retryable, without sending it again', async () => {
    const c = new FcmClient(account, { endpoint: fake.url, ca: [fake.ca], requestTimeoutMs: 200 });
    clients.push(c);
    await c.send([note('tok-warm-000000000002')]);
    fake.reset();
    fake.script('tok-slow-000000000001', { delayMs: 700 });
    const out = await c.send([note('tok-slow-000000000001'), note('tok-fast-000000000001')]);
    expect(out).toEqual([
      { kind: 'retryable', reason: 'transport: request timeout' },
      { kind: 'sent', providerMessageId: expect.any(String) },
    ]);
    expect(fake.stats().requests).toBe(2);
  });

  it('answers a message it cannot turn into an FCM request as permanent, alone', async () => {
    const bad = { ...note('tok-bad-00000000000001'), android: { ttl: -1 } };
    const out = await client().send([bad, note('tok-good-000000000001')]);
    expect(out[0]).toEqual({ kind: 'permanent', reason: expect.stringMatching(/^invalid message: TTL/) });
    expect(out[1].kind).toBe('sent');
    expect(fake.stats().requests).toBe(1);
  });
});

describe('FcmClient against a plain-TCP endpoint', () => {
  it('speaks h2c to an http:// endpoint, whose token exchange arrives over HTTP/1.1 on the same port', async () => {
    const fake = await FakeFcmServer.start({ tls: false });
    fake.registerServiceAccount(account);
    const c = new FcmClient(account, { endpoint: fake.url });
    try {
      expect(fake.url).toMatch(/^http:\/\//);
      const out = await c.send([note('tok-plain-00000000001'), note('tok-plain-00000000002')]);
      expect(out.map((o) => o.kind)).toEqual(['sent', 'sent']);
      expect(fake.stats()).toMatchObject({ tokenExchanges: 1, requests: 2, http2Requests: 2 });
    } finally {
      await c.close();
      await fake.close();
    }
  });
});

describe('FcmClient against a server that allows fewer streams', () => {
  it("stays within the server's stream limit, spreading over more connections", async () => {
    const fake = await FakeFcmServer.start({ maxConcurrentStreams: 10, latencyMs: 5 });
    fake.registerServiceAccount(account);
    const c = new FcmClient(account, { endpoint: fake.url, ca: [fake.ca], maxInFlight: 40 });
    try {
      const tokens = Array.from({ length: 400 }, (_, i) => `tok-few-${String(i).padStart(13, '0')}`);
      const out = await c.send(tokens.map(note));
      expect(out.filter((o) => o.kind !== 'sent')).toEqual([]);
      const stats = fake.stats();
      expect(stats).toMatchObject({ requests: 400, http2Requests: 400, goaways: 0 });
      expect(stats.maxConcurrentStreamsSeen).toBeLessThanOrEqual(10);
      // The token exchange's HTTP/1.1 connection plus enough HTTP/2 ones for 40 in flight.
      expect(stats.connections).toBeGreaterThanOrEqual(5);
    } finally {
      await c.close();
      await fake.close();
    }
  });
});
