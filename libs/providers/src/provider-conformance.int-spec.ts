import {
  APNS_SCRIPTS,
  createFakeApnsKey,
  createFakeServiceAccount,
  FakeApnsServer,
  FakeFcmServer,
} from '@herald/testing';
import { ApnsClient } from './apns.client';
import { buildApnsRequest } from './apns-payload.builder';
import { FcmClient } from './fcm.client';
import { buildFcmNotification } from './fcm-payload.builder';
import type { DeliveryOutcome, OutcomeKind } from './outcome';

/** The failures every provider can produce, in the provider's own words on the fake's side. */
type Failure = 'unregistered' | 'malformed_token' | 'throttled' | 'server_error' | 'auth_error' | 'slow';

/** One adapter wired to its fake, as the conformance suite sees it. */
interface Harness {
  start(): Promise<void>;
  stop(): Promise<void>;
  token(i: number): string;
  script(token: string, failure: Failure): void;
  /** A retryable error once, carrying Retry-After: 1, then success. */
  scriptRetryAfterOnce(token: string): void;
  send(tokens: string[]): Promise<DeliveryOutcome[]>;
  /** JWTs (APNs) or access tokens (FCM) the fake has seen issued. */
  credentialsSeen(): number;
  /**
   * What each client does with Retry-After: the FCM client waits and retries 503s itself
   * (firebase-admin's policy); the APNs client answers retryable at once and leaves the wait to the
   * worker's retry policy.
   */
  retryAfter: 'waited_in_library' | 'not_exposed';
}

const EXPECTED: Record<Failure, OutcomeKind> = {
  unregistered: 'invalid_token',
  malformed_token: 'invalid_token',
  throttled: 'rate_limited',
  server_error: 'retryable',
  auth_error: 'permanent',
  slow: 'sent',
};

function conformance(name: string, make: () => Harness): void {
  describe(`${name} adapter conformance`, () => {
    const h = make();
    beforeAll(() => h.start());
    afterAll(() => h.stop());

    it('returns one outcome per token, in input order, mapping each scripted failure', async () => {
      const failures = Object.keys(EXPECTED) as Failure[];
      const tokens = Array.from({ length: 40 }, (_, i) => h.token(1000 + i));
      failures.forEach((f, i) => h.script(tokens[i * 5 + 1], f));
      const outcomes = await h.send(tokens);
      expect(outcomes).toHaveLength(tokens.length);
      const expected = tokens.map((_, i) =>
        i % 5 === 1 && i < failures.length * 5 ? EXPECTED[failures[(i - 1) / 5]] : 'sent',
      );
      expect(outcomes.map((o) => o.kind)).toEqual(expected);
      const unregistered = outcomes[1];
      expect(unregistered).toMatchObject({ kind: 'invalid_token' });
      const throttled = outcomes[11];
      expect(throttled.kind === 'rate_limited' && throttled.retryAfterMs).toBeGreaterThanOrEqual(1000);
    });

    it('handles Retry-After the only way its library allows', async () => {
      const token = h.token(2000);
      h.scriptRetryAfterOnce(token);
      const started = Date.now();
      const [outcome] = await h.send([token]);
      if (h.retryAfter === 'waited_in_library') {
        expect(outcome.kind).toBe('sent');
        expect(Date.now() - started).toBeGreaterThanOrEqual(950);
      } else {
        expect(outcome.kind).toBe('retryable');
        expect(Date.now() - started).toBeLessThan(950);
      }
    });

    it('sends 12,000 tokens in one call with bounded in-flight requests, none lost', async () => {
      const tokens = Array.from({ length: 12_000 }, (_, i) => h.token(100_000 + i));
      const outcomes = await h.send(tokens);
      expect(outcomes).toHaveLength(12_000);
      expect(outcomes.filter((o) => o.kind !== 'sent')).toEqual([]);
    }, 60_000);

    it('reuses its credential across calls', async () => {
      const before = h.credentialsSeen();
      await h.send([h.token(3000)]);
      await h.send([h.token(3001)]);
      expect(h.credentialsSeen()).toBe(before);
      expect(before).toBe(1);
    });
  });
}

conformance('APNs', () => {
  let fake: FakeApnsServer;
  let client: ApnsClient;
  const key = createFakeApnsKey('com.herald.conformance');
  const built = buildApnsRequest(
    { alert: 'hello' },
    { messageId: '1000000001', bundleId: key.bundleId, nowMs: Date.now() },
  );
  if (!built.ok) throw new Error('payload');
  return {
    retryAfter: 'not_exposed',
    async start() {
      fake = await FakeApnsServer.start({ record: false });
      fake.registerKey(key);
      client = new ApnsClient(
        { kind: 'token', key: key.key, keyId: key.keyId, teamId: key.teamId },
        { environment: 'sandbox', endpoint: fake.url, ca: [fake.ca] },
      );
    },
    async stop() {
      await client.close();
      await fake.close();
    },
    token: (i) => i.toString(16).padStart(64, '0'),
    script(token, failure) {
      const scripts = {
        unregistered: APNS_SCRIPTS.unregistered(1_700_000_000_000),
        malformed_token: APNS_SCRIPTS.badDeviceToken(),
        throttled: APNS_SCRIPTS.tooManyRequests(30),
        server_error: APNS_SCRIPTS.internal(),
        auth_error: { status: 403, reason: 'InvalidProviderToken' },
        slow: APNS_SCRIPTS.slow(300),
      };
      fake.script(token, scripts[failure]);
    },
    scriptRetryAfterOnce: (token) => fake.script(token, { ...APNS_SCRIPTS.unavailable(1), times: 1 }),
    send: (tokens) => client.send(tokens.map((token) => ({ token, request: built.request }))),
    credentialsSeen: () => fake.stats().distinctJwts,
  };
});

conformance('FCM', () => {
  let fake: FakeFcmServer;
  let client: FcmClient;
  const account = createFakeServiceAccount('herald-conformance');
  return {
    retryAfter: 'waited_in_library',
    async start() {
      fake = await FakeFcmServer.start({ record: false });
      fake.registerServiceAccount(account);
      client = new FcmClient(account, { endpoint: fake.url, ca: [fake.ca] });
    },
    async stop() {
      await client.close();
      await fake.close();
    },
    token: (i) => `fcm-token-${i.toString(16).padStart(32, '0')}`,
    script(token, failure) {
      const scripts = {
        unregistered: { errorCode: 'UNREGISTERED' },
        malformed_token: { errorCode: 'INVALID_ARGUMENT' },
        throttled: { errorCode: 'QUOTA_EXCEEDED', retryAfterS: 30 },
        server_error: { errorCode: 'INTERNAL' },
        auth_error: { errorCode: 'THIRD_PARTY_AUTH_ERROR' },
        slow: { delayMs: 300 },
      } as const;
      fake.script(token, scripts[failure]);
    },
    scriptRetryAfterOnce: (token) =>
      fake.script(token, { errorCode: 'UNAVAILABLE', retryAfterS: 1, times: 1 }),
    send: (tokens) =>
      client.send(
        tokens.map((t) => {
          const r = buildFcmNotification(t, { alert: 'hello' }, { messageId: '1000000001' });
          if (!r.ok) throw new Error('payload');
          return r.message;
        }),
      ),
    credentialsSeen: () => fake.stats().accessTokensIssued,
  };
});
