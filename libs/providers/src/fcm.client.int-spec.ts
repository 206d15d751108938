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
});
