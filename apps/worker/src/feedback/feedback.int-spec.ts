import { createHash, createHmac } from 'node:crypto';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Injectable } from '@nestjs/common';
import { Test, type TestingModule } from '@nestjs/testing';
import { HeraldConfigModule } from '@herald/config';
import { EnvelopeCipher } from '@herald/crypto';
import { DbModule } from '@herald/db';
import { LoggingModule, QueueModule } from '@herald/platform';
import { buildFcmNotification, ProviderClientPool, type DeliveryOutcome } from '@herald/providers';
import { CredentialStore, PushComposer, type PushSpec } from '@herald/push';
import { parseJobPayload, type JobInput } from '@herald/queue';
import {
  APNS_SCRIPTS,
  createDevice,
  createFakeApnsKey,
  createFakeServiceAccount,
  createTenantFixture,
  createTestContext,
  FakeApnsServer,
  FakeFcmServer,
  type FakeApnsKey,
  type TenantFixture,
  type TestContext,
} from '@herald/testing';
import { recordOutcomePages, type LedgerRow } from '../push/ledger.writer';
import { PushRuntime } from '../push/push.runtime';
import { FeedbackMetrics } from './feedback.metrics';
import { FEEDBACK_HANDLERS, FEEDBACK_PROVIDERS } from './feedback.providers';
import { InvalidTokensHandler } from './invalid-tokens.handler';
import { PurgeInvalidHandler } from './purge-invalid.handler';
import { QuarantineExpiryHandler } from './quarantine-expiry.handler';
import { webhookSecretAad, WebhookDispatchHandler } from './webhook-dispatch.handler';

const SPEC: PushSpec = {
  platform: 'all',
  audience: { all: true },
  notification: { alert: 'hello' },
  options: { sendno: '0', time_to_live: 86_400 },
};
const DAY = 24 * 3600_000;
const sha256 = (s: string) => createHash('sha256').update(s).digest('hex');
type Item = JobInput<'feedback.invalid-tokens'>['items'][number];

describe('token hygiene worker (real PostgreSQL, Redis, fake APNs and FCM)', () => {
  let ctx: TestContext;
  let apns: FakeApnsServer;
  let fcm: FakeFcmServer;
  let moduleRef: TestingModule;
  let runtime: PushRuntime;
  let store: CredentialStore;
  const prodKey = createFakeApnsKey('com.herald.demo');
  const sandboxKey = createFakeApnsKey('com.herald.demo');
  const account = createFakeServiceAccount('herald-feedback');

  const handle = (data: JobInput<'feedback.invalid-tokens'>) =>
    moduleRef.get(InvalidTokensHandler).handle(parseJobPayload('feedback.invalid-tokens', data));
  const device = async (id: string) =>
    (
      await ctx.db.query<
        {
          status: string;
          status_reason: string | null;
          apns_environment: string | null;
          token: string;
          registration_id: string;
        }[]
      >(`SELECT status, status_reason, apns_environment, token, registration_id FROM devices WHERE id = $1`, [
        id,
      ])
    )[0];
  const saveApns = (appId: string, env: 'production' | 'sandbox', key: FakeApnsKey) =>
    store.saveApns(
      appId,
      env,
      { kind: 'token', key: key.key, keyId: key.keyId, teamId: key.teamId },
      key.bundleId,
    );

  async function createMessage(appId: string): Promise<string> {
    const [row] = await ctx.db.query<{ id: string }[]>(
      `INSERT INTO messages (app_id, request, audience, platforms, status, started_at)
       VALUES ($1, $2, '{"all":true}', '{ios,android}', 'sending', now()) RETURNING id::text`,
      [appId, JSON.stringify(SPEC)],
    );
    return row.id;
  }

  /** What the fan-out does: send, record every outcome in the ledger, report the invalid tokens. */
  async function fanOut(
    appId: string,
    messageId: string,
    devices: { id: string; token: string; env?: 'production' | 'sandbox' }[],
    channel: 'apns' | 'fcm',
  ): Promise<Item[]> {
    let outcomes: DeliveryOutcome[];
    if (channel === 'apns') {
      const creds = await new CredentialStore(ctx.db, runtime.cipher).load(appId);
      outcomes = [];
      for (const d of devices) {
        const env = d.env ?? 'production';
        const stored = creds.apns[env]!;
        const composed = new PushComposer(SPEC, messageId, Date.now()).apns(
          { language: null, badge: 0 },
          stored.bundleId,
        );
        if (!composed?.ok) throw new Error('payload');
        const client = runtime.pool.apnsClient(stored.credentials, env, stored.fingerprint);
        outcomes.push(...(await client.send([{ token: d.token, request: composed.value.request }])));
      }
    } else {
      outcomes = await runtime.pool.fcmClient(account).send(
        devices.map((d) => {
          const r = buildFcmNotification(d.token, { alert: 'hello' }, { messageId });
          if (!r.ok) throw new Error('payload');
          return r.message;
        }),
      );
    }
    const rows: LedgerRow[] = devices.map((d, i) => {
      const o = outcomes[i];
      return {
        deviceId: d.id,
        channel,
        state: o.kind === 'sent' ? 'sent' : o.kind === 'invalid_token' ? 'invalid_token' : 'failed',
        reason: o.kind === 'sent' ? null : o.reason,
        providerMessageId: null,
        providerStatus: o.kind === 'sent' ? 200 : (o.status ?? null),
        attempts: 1,
      };
    });
    await recordOutcomePages(ctx.db, [{ messageId, appId, rows }]);
    return devices.flatMap((d, i) => {
      const o = outcomes[i];
      if (o.kind !== 'invalid_token') return [];
      return [
        {
          deviceId: d.id,
          messageId,
          channel,
          reason: o.reason,
          ...(o.status !== undefined && { status: o.status }),
          ...(o.providerTimestamp && { providerTimestamp: o.providerTimestamp.toISOString() }),
          ...(channel === 'apns' && { apnsEnvironment: d.env ?? 'production' }),
        },
      ];
    });
  }

  async function apnsDevice(app: TenantFixture, overrides: { tokenUpdatedAt?: Date; env?: 'sandbox' } = {}) {
    const { device: d } = await createDevice(ctx.db, ctx.config, app.app.app, {
      tokenUpdatedAt: overrides.tokenUpdatedAt ?? new Date(Date.now() - 2 * DAY),
      apnsEnvironment: overrides.env ?? 'production',
    });
    return { id: d.id, token: d.token!, rid: d.registrationId };
  }

  beforeAll(async () => {
    apns = await FakeApnsServer.start();
    apns.registerKey(prodKey);
    apns.registerKey(sandboxKey);
    fcm = await FakeFcmServer.start();
    fcm.registerServiceAccount(account);
    ctx = await createTestContext({ HERALD_APNS_ENDPOINT: apns.url, HERALD_FCM_ENDPOINT: fcm.url });
    // The production runtime trusts the fakes' CA through NODE_EXTRA_CA_CERTS; a jest worker cannot.
    @Injectable()
    class FakeTrustingRuntime extends PushRuntime {
      override readonly pool = new ProviderClientPool({
        apns: { endpoint: apns.url, ca: [apns.ca] },
        fcm: { endpoint: fcm.url, ca: [fcm.ca] },
      });
    }
    moduleRef = await Test.createTestingModule({
      imports: [
        HeraldConfigModule.forRoot(ctx.config),
        LoggingModule.forRoot(ctx.config, 'feedback-test'),
        DbModule,
        QueueModule,
      ],
      providers: [
        { provide: PushRuntime, useClass: FakeTrustingRuntime },
        ...FEEDBACK_PROVIDERS,
        ...FEEDBACK_HANDLERS,
      ],
    }).compile();
    await moduleRef.init();
    runtime = moduleRef.get(PushRuntime);
    store = new CredentialStore(ctx.db, runtime.cipher);
  });
  afterAll(async () => {
    await moduleRef?.close();
    await ctx?.close();
    await apns?.close();
    await fcm?.close();
  });

  describe('APNs 410 Unregistered', () => {
    it('invalidates the device unless its token was updated after the 410 timestamp or after the send', async () => {
      const app = await createTenantFixture(ctx.db, ctx.config);
      await saveApns(app.app.app.id, 'production', prodKey);
      const stale = await apnsDevice(app);
      const olderThanUpdate = await apnsDevice(app, { tokenUpdatedAt: new Date(Date.now() - 3600_000) });
      const reregistersDuringSend = await apnsDevice(app);
      const healthy = await apnsDevice(app);
      const tombstone = Date.now() - 2 * 3600_000;
      apns.script(stale.token, APNS_SCRIPTS.unregistered(Date.now() - 60_000));
      apns.script(olderThanUpdate.token, APNS_SCRIPTS.unregistered(tombstone));
      apns.script(reregistersDuringSend.token, APNS_SCRIPTS.unregistered());
      const messageId = await createMessage(app.app.app.id);
      const items = await fanOut(
        app.app.app.id,
        messageId,
        [stale, olderThanUpdate, reregistersDuringSend, healthy],
        'apns',
      );
      expect(items.map((i) => [i.deviceId, i.reason, i.status])).toEqual([
        [stale.id, 'Unregistered', 410],
        [olderThanUpdate.id, 'Unregistered', 410],
        [reregistersDuringSend.id, 'Unregistered', 410],
      ]);
      // The app re-registered the same token after the send (what `POST /sdk/v1/register` records).
      await ctx.db.query(`UPDATE devices SET token_updated_at = now() + interval '1 second' WHERE id = $1`, [
        reregistersDuringSend.id,
      ]);

      expect(await handle({ appId: app.app.app.id, items })).toEqual({
        invalidated: 1,
        quarantined: 0,
        ignored: 2,
        unchanged: 0,
        corrected: 0,
      });
      expect(await device(stale.id)).toMatchObject({ status: 'invalid', status_reason: 'Unregistered' });
      expect((await device(olderThanUpdate.id)).status).toBe('active');
      expect((await device(reregistersDuringSend.id)).status).toBe('active');
      expect((await device(healthy.id)).status).toBe('active');

      const events = await ctx.db.query(
        `SELECT registration_id, channel, token_hash, token_suffix, reason, action, provider_timestamp, message_id::text
           FROM feedback_events WHERE app_id = $1 ORDER BY action, registration_id`,
        [app.app.app.id],
      );
      expect(events).toEqual(
        [
          { d: olderThanUpdate, action: 'ignored', ts: new Date(tombstone) },
          { d: reregistersDuringSend, action: 'ignored', ts: expect.any(Date) },
        ]
          .sort((a, b) => a.d.rid.localeCompare(b.d.rid))
          .concat([{ d: stale, action: 'invalidated', ts: expect.any(Date) }])
          .map(({ d, action, ts }) => ({
            registration_id: d.rid,
            channel: 'apns',
            token_hash: sha256(d.token),
            token_suffix: d.token.slice(-8),
            reason: 'Unregistered',
            action,
            provider_timestamp: ts,
            message_id: messageId,
          })),
      );
      const audit = await ctx.db.query(
        `SELECT tenant_id, actor_type, action, target_id, details->>'reason' AS reason FROM audit_log WHERE app_id = $1`,
        [app.app.app.id],
      );
      expect(audit).toEqual([
        {
          tenant_id: app.tenant.id,
          actor_type: 'system',
          action: 'device.invalidated',
          target_id: stale.rid,
          reason: 'Unregistered',
        },
      ]);

      // The same job again (BullMQ redelivery): nothing changes, nothing is recorded twice.
      const again = await handle({ appId: app.app.app.id, items: items.slice(0, 1) });
      expect(again).toMatchObject({ invalidated: 0, unchanged: 1 });
      const [{ n }] = await ctx.db.query<{ n: number }[]>(
        `SELECT count(*)::int AS n FROM feedback_events WHERE app_id = $1 AND action = 'invalidated'`,
        [app.app.app.id],
      );
      expect(n).toBe(1);
    });
  });

  describe('APNs BadDeviceToken', () => {
    it('with both environments: resends once on the other, corrects the device and moves the count exactly once', async () => {
      const app = await createTenantFixture(ctx.db, ctx.config);
      await saveApns(app.app.app.id, 'production', prodKey);
      await saveApns(app.app.app.id, 'sandbox', sandboxKey);
      const mixedUp = await apnsDevice(app); // a sandbox token registered as production
      const broken = await apnsDevice(app); // refused by both environments
      apns.script(mixedUp.token, { ...APNS_SCRIPTS.badDeviceToken(), times: 1 });
      apns.script(broken.token, APNS_SCRIPTS.badDeviceToken());
      const messageId = await createMessage(app.app.app.id);
      const items = await fanOut(app.app.app.id, messageId, [mixedUp, broken], 'apns');
      expect(items.map((i) => i.reason)).toEqual(['BadDeviceToken', 'BadDeviceToken']);
      const counters = () =>
        ctx.db.query(
          `SELECT c.sent::int, c.failed::int, c.targets::int, f.count::int AS bad_device_token
             FROM message_counters c
             JOIN message_failures f ON f.message_id = c.message_id AND f.channel = c.channel
            WHERE c.message_id = $1 AND c.channel = 'apns' AND f.reason = 'BadDeviceToken'`,
          [messageId],
        );
      expect(await counters()).toEqual([{ sent: 0, failed: 2, targets: 2, bad_device_token: 2 }]);

      expect(await handle({ appId: app.app.app.id, items })).toEqual({
        invalidated: 0,
        quarantined: 1,
        ignored: 0,
        unchanged: 0,
        corrected: 1,
      });
      const tries = (token: string) =>
        apns.requests.filter((r) => r.token === token).map((r) => ({ status: r.status, auth: r.auth }));
      const mixedTries = tries(mixedUp.token);
      expect(mixedTries.map((t) => t.status)).toEqual([400, 200]);
      expect(mixedTries[0].auth).not.toBe(mixedTries[1].auth); // the sandbox key, on its own connection
      expect(tries(broken.token).map((t) => t.status)).toEqual([400, 400]);
      expect(await device(mixedUp.id)).toMatchObject({ status: 'active', apns_environment: 'sandbox' });
      expect(await device(broken.id)).toMatchObject({
        status: 'quarantined',
        status_reason: 'BadDeviceToken',
        apns_environment: 'production',
      });
      const ledger = await ctx.db.query(
        `SELECT state, reason, provider_status FROM deliveries WHERE message_id = $1 AND device_id = $2`,
        [messageId, mixedUp.id],
      );
      expect(ledger).toEqual([{ state: 'sent', reason: null, provider_status: 200 }]);
      expect(await counters()).toEqual([{ sent: 1, failed: 1, targets: 2, bad_device_token: 1 }]);

      // The job runs again: no second resend, no second count, no second event.
      expect(await handle({ appId: app.app.app.id, items })).toMatchObject({ corrected: 0, unchanged: 1 });
      expect(tries(mixedUp.token)).toHaveLength(2);
      expect(await counters()).toEqual([{ sent: 1, failed: 1, targets: 2, bad_device_token: 1 }]);
      const audit = await ctx.db.query<{ action: string; target_id: string }[]>(
        `SELECT action, target_id FROM audit_log WHERE app_id = $1 ORDER BY action`,
        [app.app.app.id],
      );
      expect(audit).toEqual([
        { action: 'device.apns_environment_corrected', target_id: mixedUp.rid },
        { action: 'device.quarantined', target_id: broken.rid },
      ]);
    });

    it('a transient answer on the other environment runs the job again; a refused credential there changes no device', async () => {
      const app = await createTenantFixture(ctx.db, ctx.config);
      const appId = app.app.app.id;
      await saveApns(appId, 'production', prodKey);
      await saveApns(appId, 'sandbox', sandboxKey);
      const busy = await apnsDevice(app); // the sandbox answers 503, then accepts
      const throttled = await apnsDevice(app); // the sandbox answers 429, then accepts
      const keyRefused = await apnsDevice(app); // the sandbox refuses the provider token (403)
      const broken = await apnsDevice(app); // refused by both environments
      for (const d of [busy, throttled, keyRefused]) {
        apns.script(d.token, { ...APNS_SCRIPTS.badDeviceToken(), times: 1 });
      }
      apns.script(broken.token, APNS_SCRIPTS.badDeviceToken());
      const messageId = await createMessage(appId);
      const items = await fanOut(appId, messageId, [busy, throttled, keyRefused, broken], 'apns');
      expect(items.map((i) => i.reason)).toEqual(Array(4).fill('BadDeviceToken'));
      apns.script(busy.token, { ...APNS_SCRIPTS.unavailable(), times: 1 });
      apns.script(throttled.token, { ...APNS_SCRIPTS.tooManyRequests(), times: 1 });
      apns.script(keyRefused.token, { status: 403, reason: 'InvalidProviderToken' });

      // The job fails, for BullMQ to run it again; what is known is applied first.
      await expect(handle({ appId, items })).rejects.toThrow(
        /2 resend\(s\) answered transiently \(sandbox: 503 ServiceUnavailable, sandbox: 429 TooManyRequests\)/,
      );
      for (const d of [busy, throttled, keyRefused]) {
        expect(await device(d.id)).toMatchObject({
          status: 'active',
          status_reason: null,
          apns_environment: 'production',
        });
      }
      expect(await device(broken.id)).toMatchObject({
        status: 'quarantined',
        status_reason: 'BadDeviceToken',
      });

      // BullMQ's next attempt: the sandbox accepts the two now; the refused key is refused again.
      expect(await handle({ appId, items })).toEqual({
        invalidated: 0,
        quarantined: 0,
        ignored: 0,
        unchanged: 1,
        corrected: 2,
      });
      const statuses = (token: string) => apns.requests.filter((r) => r.token === token).map((r) => r.status);
      expect(statuses(busy.token)).toEqual([400, 503, 200]);
      expect(statuses(throttled.token)).toEqual([400, 429, 200]);
      expect(statuses(keyRefused.token)).toEqual([400, 403, 403]);
      expect(statuses(broken.token)).toEqual([400, 400]);
      expect(await device(busy.id)).toMatchObject({ status: 'active', apns_environment: 'sandbox' });
      expect(await device(throttled.id)).toMatchObject({ status: 'active', apns_environment: 'sandbox' });
      expect(await device(keyRefused.id)).toMatchObject({
        status: 'active',
        status_reason: null,
        apns_environment: 'production',
      });
      const events = await ctx.db.query<{ registration_id: string; action: string }[]>(
        `SELECT registration_id, action FROM feedback_events WHERE app_id = $1`,
        [appId],
      );
      expect(events).toEqual([{ registration_id: broken.rid, action: 'quarantined' }]);
      expect(moduleRef.get(FeedbackMetrics).snapshot()).toEqual(
        expect.arrayContaining([
          { channel: 'apns', reason: 'BadDeviceToken', action: 'environment_retry_deferred', count: 2 },
          { channel: 'apns', reason: 'BadDeviceToken', action: 'environment_retry_failed', count: 2 },
        ]),
      );
    });

    it('without credentials for the other environment: quarantined, nothing resent; DeviceTokenNotForTopic: quarantined', async () => {
      const app = await createTenantFixture(ctx.db, ctx.config);
      await saveApns(app.app.app.id, 'production', prodKey);
      const bad = await apnsDevice(app);
      const otherTopic = await apnsDevice(app);
      apns.script(bad.token, APNS_SCRIPTS.badDeviceToken());
      apns.script(otherTopic.token, APNS_SCRIPTS.notForTopic());
      const messageId = await createMessage(app.app.app.id);
      const items = await fanOut(app.app.app.id, messageId, [bad, otherTopic], 'apns');
      expect(await handle({ appId: app.app.app.id, items })).toMatchObject({ quarantined: 2, corrected: 0 });
      expect(apns.requests.filter((r) => r.token === bad.token)).toHaveLength(1);
      expect(await device(bad.id)).toMatchObject({ status: 'quarantined', status_reason: 'BadDeviceToken' });
      expect(await device(otherTopic.id)).toMatchObject({
        status: 'quarantined',
        status_reason: 'DeviceTokenNotForTopic',
      });
      // A later 410 for a quarantined device makes it invalid; a later quarantine never weakens invalid.
      const later = await handle({
        appId: app.app.app.id,
        items: [{ deviceId: bad.id, messageId, channel: 'apns', reason: 'Unregistered', status: 410 }],
      });
      expect(later.invalidated).toBe(1);
      expect((await device(bad.id)).status).toBe('invalid');
    });
  });

  it('FCM UNREGISTERED, SENDER_ID_MISMATCH and token INVALID_ARGUMENT invalidate the device', async () => {
    const app = await createTenantFixture(ctx.db, ctx.config);
    await store.saveFcm(app.app.app.id, account);
    const devices = [];
    for (let i = 0; i < 4; i++) {
      const { device: d } = await createDevice(ctx.db, ctx.config, app.app.app, {
        channel: 'fcm',
        tokenUpdatedAt: new Date(Date.now() - DAY),
      });
      devices.push({ id: d.id, token: d.token! });
    }
    fcm.script(devices[0].token, { errorCode: 'UNREGISTERED' });
    fcm.script(devices[1].token, { errorCode: 'SENDER_ID_MISMATCH' });
    fcm.script(devices[2].token, { errorCode: 'INVALID_ARGUMENT' });
    const messageId = await createMessage(app.app.app.id);
    const items = await fanOut(app.app.app.id, messageId, devices, 'fcm');
    expect(items.map((i) => i.reason)).toEqual(['UNREGISTERED', 'SENDER_ID_MISMATCH', 'INVALID_ARGUMENT']);
    expect(await handle({ appId: app.app.app.id, items })).toMatchObject({ invalidated: 3 });
    const states = await Promise.all(
      devices.map(async (d) => (await device(d.id)).status_reason ?? 'active'),
    );
    expect(states).toEqual(['UNREGISTERED', 'SENDER_ID_MISMATCH', 'INVALID_ARGUMENT', 'active']);
    expect(moduleRef.get(FeedbackMetrics).snapshot()).toEqual(
      expect.arrayContaining([
        { channel: 'fcm', reason: 'UNREGISTERED', action: 'invalidated', count: 1 },
        { channel: 'fcm', reason: 'SENDER_ID_MISMATCH', action: 'invalidated', count: 1 },
      ]),
    );
  });

  it('turns devices quarantined longer than HERALD_QUARANTINE_DAYS invalid, in batches', async () => {
    const app = await createTenantFixture(ctx.db, ctx.config);
    const make = async (status: 'active' | 'quarantined' | 'invalid', daysAgo: number) =>
      (
        await createDevice(ctx.db, ctx.config, app.app.app, {
          status,
          statusReason: 'BadDeviceToken',
          statusChangedAt: new Date(Date.now() - daysAgo * DAY),
        })
      ).device;
    const expired = [
      await make('quarantined', 8),
      await make('quarantined', 30),
      await make('quarantined', 7.1),
    ];
    const fresh = await make('quarantined', 6);
    const result = await moduleRef
      .get(QuarantineExpiryHandler)
      .handle(parseJobPayload('feedback.expire-quarantine', { batchSize: 2 }));
    expect(result).toEqual({ invalidated: 3 });
    for (const d of expired) {
      expect(await device(d.id)).toMatchObject({ status: 'invalid', status_reason: 'quarantine_expired' });
    }
    expect((await device(fresh.id)).status).toBe('quarantined');
    const events = await ctx.db.query<{ registration_id: string; reason: string; action: string }[]>(
      `SELECT registration_id, reason, action FROM feedback_events WHERE app_id = $1 ORDER BY registration_id`,
      [app.app.app.id],
    );
    expect(events).toEqual(
      expired
        .map((d) => ({
          registration_id: d.registrationId,
          reason: 'quarantine_expired',
          action: 'invalidated',
        }))
        .sort((a, b) => a.registration_id.localeCompare(b.registration_id)),
    );
  });

  it('purges only invalid devices older than the retention, in batches', async () => {
    const app = await createTenantFixture(ctx.db, ctx.config);
    const make = async (status: 'active' | 'quarantined' | 'invalid', daysAgo: number) =>
      (
        await createDevice(ctx.db, ctx.config, app.app.app, {
          status,
          statusChangedAt: new Date(Date.now() - daysAgo * DAY),
        })
      ).device.id;
    for (let i = 0; i < 5; i++) await make('invalid', 31 + i);
    const keep = [await make('invalid', 29), await make('quarantined', 90), await make('active', 90)];
    const result = await moduleRef
      .get(PurgeInvalidHandler)
      .handle(parseJobPayload('feedback.purge-invalid', { batchSize: 2 }));
    expect(result).toEqual({ deleted: 5, batches: 3 });
    const left = await ctx.db.query<{ id: string }[]>(
      `SELECT id::text FROM devices WHERE app_id = $1 ORDER BY id`,
      [app.app.app.id],
    );
    expect(left.map((r) => r.id)).toEqual(keep);
    const [audit] = await ctx.db.query<{ n: number }[]>(
      `SELECT sum((details->>'count')::int)::int AS n FROM audit_log WHERE app_id = $1 AND action = 'devices.purged'`,
      [app.app.app.id],
    );
    expect(audit.n).toBe(5);
  });

  describe('token.invalidated webhook', () => {
    let server: Server;
    const received: { body: string; signature: string | undefined; event: string | undefined }[] = [];
    const answers: number[] = [];
    beforeAll(async () => {
      server = createServer((req: IncomingMessage, res) => {
        const chunks: Buffer[] = [];
        req.on('data', (c: Buffer) => chunks.push(c));
        req.on('end', () => {
          received.push({
            body: Buffer.concat(chunks).toString('utf8'),
            signature: req.headers['x-herald-signature'] as string | undefined,
            event: req.headers['x-herald-event'] as string | undefined,
          });
          res.statusCode = answers.shift() ?? 200;
          res.end('{}');
        });
      });
      await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
    });
    afterAll(() => new Promise<void>((r) => server.close(() => r())));

    it('is signed with the app’s webhook secret and retried with back-off until accepted', async () => {
      const app = await createTenantFixture(ctx.db, ctx.config);
      const appId = app.app.app.id;
      const secret = 'whsec_test-secret';
      const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/hooks/herald`;
      await ctx.db.query(`UPDATE apps SET webhook_url = $2, webhook_secret = $3 WHERE id = $1`, [
        appId,
        url,
        new EnvelopeCipher(ctx.config.crypto).encrypt(secret, webhookSecretAad(appId)),
      ]);
      const { device: d } = await createDevice(ctx.db, ctx.config, app.app.app, {
        channel: 'fcm',
        tokenUpdatedAt: new Date(Date.now() - DAY),
      });
      const messageId = await createMessage(appId);
      await handle({ appId, items: [{ deviceId: d.id, messageId, channel: 'fcm', reason: 'UNREGISTERED' }] });

      const dispatch = () =>
        moduleRef.get(WebhookDispatchHandler).handle(parseJobPayload('feedback.webhooks', {}));
      answers.push(500);
      expect(await dispatch()).toEqual({ sent: 0, failed: 1 });
      const [pending] = await ctx.db.query<{ attempts: number; last_error: string; wait_s: number }[]>(
        `SELECT attempts, last_error, extract(epoch FROM next_attempt_at - now())::int AS wait_s
           FROM webhook_events WHERE app_id = $1`,
        [appId],
      );
      expect(pending).toMatchObject({ attempts: 1, last_error: 'http 500' });
      expect(pending.wait_s).toBeGreaterThanOrEqual(20); // 30 s ± 20 %
      expect(await dispatch()).toEqual({ sent: 0, failed: 0 }); // not due yet

      await ctx.db.query(`UPDATE webhook_events SET next_attempt_at = now() WHERE app_id = $1`, [appId]);
      expect(await dispatch()).toEqual({ sent: 1, failed: 0 });
      expect(received).toHaveLength(2);
      const last = received[1];
      expect(last.event).toBe('token.invalidated');
      expect(last.signature).toBe(`sha256=${createHmac('sha256', secret).update(last.body).digest('hex')}`);
      expect(JSON.parse(last.body)).toEqual({
        event: 'token.invalidated',
        app_key: app.app.appKey,
        items: [
          {
            registration_id: d.registrationId,
            channel: 'fcm',
            token_hash: sha256(d.token!),
            token_suffix: d.token!.slice(-8),
            reason: 'UNREGISTERED',
            action: 'invalidated',
            provider_timestamp: null,
            at: expect.stringMatching(/^\d{4}-\d\d-\d\dT/),
          },
        ],
      });
      expect(received[0].body).toBe(last.body);
      const [{ n }] = await ctx.db.query<{ n: number }[]>(
        `SELECT count(*)::int AS n FROM webhook_events WHERE app_id = $1`,
        [appId],
      );
      expect(n).toBe(0);
    });

    it('gives up after the last attempt and keeps the event marked failed', async () => {
      const app = await createTenantFixture(ctx.db, ctx.config);
      const appId = app.app.app.id;
      const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/down`;
      await ctx.db.query(`UPDATE apps SET webhook_url = $2, webhook_secret = $3 WHERE id = $1`, [
        appId,
        url,
        new EnvelopeCipher(ctx.config.crypto).encrypt('s', webhookSecretAad(appId)),
      ]);
      const { device: d } = await createDevice(ctx.db, ctx.config, app.app.app, { channel: 'fcm' });
      const messageId = await createMessage(appId);
      await handle({ appId, items: [{ deviceId: d.id, messageId, channel: 'fcm', reason: 'UNREGISTERED' }] });
      await ctx.db.query(`UPDATE webhook_events SET attempts = 9 WHERE app_id = $1`, [appId]);
      answers.push(503);
      const dispatch = () =>
        moduleRef.get(WebhookDispatchHandler).handle(parseJobPayload('feedback.webhooks', {}));
      expect(await dispatch()).toEqual({ sent: 0, failed: 1 });
      await ctx.db.query(
        `UPDATE webhook_events SET next_attempt_at = now() - interval '1 day' WHERE app_id = $1`,
        [appId],
      );
      expect(await dispatch()).toEqual({ sent: 0, failed: 0 });
      const rows = await ctx.db.query(
        `SELECT attempts, last_error, failed_at IS NOT NULL AS failed FROM webhook_events WHERE app_id = $1`,
        [appId],
      );
      expect(rows).toEqual([{ attempts: 10, last_error: 'http 503', failed: true }]);
    });
  });

  it('processes 100,000 invalid outcomes in short statements: a device row is never locked for long', async () => {
    const app = await createTenantFixture(ctx.db, ctx.config);
    const appId = app.app.app.id;
    const messageId = await createMessage(appId);
    const ids = await ctx.db.query<{ id: string }[]>(
      `INSERT INTO devices (app_id, registration_id, device_secret_hash, platform, channel, token, token_updated_at)
       SELECT $1, 'bulk' || i, 'x', 'android', 'fcm', 'bulk-token-' || i, now() - interval '1 day'
         FROM generate_series(1, 100000) i
       RETURNING id::text`,
      [appId],
    );
    // A probe that keeps touching devices of the batch, as registrations would, with a lock timeout.
    let probing = true;
    let probes = 0;
    const probe = (async () => {
      const runner = ctx.db.createQueryRunner();
      await runner.connect();
      try {
        await runner.query(`SET lock_timeout = '3s'`);
        while (probing) {
          const id = ids[Math.floor(Math.random() * ids.length)].id;
          await runner.query(`UPDATE devices SET last_seen_at = now() WHERE id = $1`, [id]);
          probes++;
          await new Promise((r) => setTimeout(r, 20));
        }
      } finally {
        await runner.release();
      }
    })();
    let invalidated = 0;
    try {
      for (let i = 0; i < ids.length; i += 10_000) {
        const items = ids
          .slice(i, i + 10_000)
          .map((r) => ({ deviceId: r.id, messageId, channel: 'fcm' as const, reason: 'UNREGISTERED' }));
        invalidated += (await handle({ appId, items })).invalidated;
      }
    } finally {
      probing = false;
    }
    await probe; // rejects if a probe waited past its lock timeout
    expect(invalidated).toBe(100_000);
    expect(probes).toBeGreaterThan(0);
    const [{ n }] = await ctx.db.query<{ n: number }[]>(
      `SELECT count(*)::int AS n FROM devices WHERE app_id = $1 AND status = 'invalid'`,
      [appId],
    );
    expect(n).toBe(100_000);
  }, 120_000);
});
