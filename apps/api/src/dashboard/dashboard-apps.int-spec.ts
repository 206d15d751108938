import { generateKeyPairSync, randomUUID } from 'node:crypto';
import fs, { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { INestApplication } from '@nestjs/common';
import request from 'supertest';
import { createDevice, createTestContext, type TestContext } from '@herald/testing';
import { AppEntity } from '@herald/db';
import { createApiApp } from '../api.bootstrap';

const PASSWORD = 'correct horse battery staple';
const certDir = join(__dirname, '../../../../libs/testing/src/fakes/certs');
const apnsP12 = readFileSync(join(certDir, 'apns-client.p12'));
const nonApnsP12 = readFileSync(join(__dirname, 'fixtures/non-apns.p12'));
const ecKey = generateKeyPairSync('ec', { namedCurve: 'prime256v1' })
  .privateKey.export({ type: 'pkcs8', format: 'pem' })
  .toString();
const rsaKey = generateKeyPairSync('rsa', { modulusLength: 2048 })
  .privateKey.export({ type: 'pkcs8', format: 'pem' })
  .toString();
const serviceAccount = {
  type: 'service_account',
  project_id: 'herald-demo',
  client_email: 'push@herald-demo.iam.gserviceaccount.com',
  private_key: rsaKey,
};
/** Distinctive pieces of every secret this file uploads: none may appear in a body or a log line. */
const keyBody = (pem: string) => pem.split('\n')[2];
const SECRETS = [keyBody(ecKey), keyBody(rsaKey), apnsP12.toString('base64').slice(100, 140), 'herald-test'];

describe('dashboard apps, credentials, segments, messages, devices, stats and audit (real PostgreSQL and Redis)', () => {
  let ctx: TestContext;
  let app: INestApplication;
  const http = () => request(app.getHttpServer());
  const bodies: string[] = [];
  /** Everything pino writes (it writes to fd 1 itself, not through process.stdout). */
  const writes = jest.spyOn(fs, 'write');
  const writesSync = jest.spyOn(fs, 'writeSync');
  // pino writes through process.stdout itself when its `write` is not the prototype's (as here).
  const stdout = jest.spyOn(process.stdout, 'write');

  interface Account {
    auth: string;
    tenantId: string;
    appId: string;
    appKey: string;
    masterSecret: string;
  }
  let a: Account;
  let b: Account;

  const call = async (
    method: 'get' | 'post' | 'put' | 'patch' | 'delete',
    path: string,
    who: Account,
    body?: object,
    headers: Record<string, string> = {},
  ) => {
    let req = http()[method](`/dashboard/v1${path}`).set('Authorization', who.auth);
    for (const [k, v] of Object.entries(headers)) req = req.set(k, v);
    const res = await (body === undefined ? req : req.send(body));
    bodies.push(res.text);
    return res;
  };

  const account = async (): Promise<Account> => {
    const s = await http()
      .post('/dashboard/v1/auth/signup')
      .send({ email: `${randomUUID()}@example.test`, password: PASSWORD, tenant_name: 'T' })
      .expect(201);
    const auth = `Bearer ${s.body.access_token}`;
    const created = await http()
      .post('/dashboard/v1/apps')
      .set('Authorization', auth)
      .send({ name: 'Main', timezone: 'Asia/Shanghai' })
      .expect(201);
    return {
      auth,
      tenantId: s.body.tenant_id,
      appId: created.body.id,
      appKey: created.body.app_key,
      masterSecret: created.body.master_secret,
    };
  };

  const basic = (key: string, secret: string) =>
    `Basic ${Buffer.from(`${key}:${secret}`).toString('base64')}`;
  const v3 = (key: string, secret: string) =>
    http().get('/v3/received?msg_ids=1000000001').set('Authorization', basic(key, secret));
  const appEntity = async (id: string) => ctx.db.getRepository(AppEntity).findOneByOrFail({ id });

  beforeAll(async () => {
    ctx = await createTestContext({
      HERALD_LOG_LEVEL: 'debug',
      HERALD_TRUSTED_PROXIES: '127.0.0.1,::1,::ffff:127.0.0.1',
    });
    app = await createApiApp(ctx.config);
    await app.init();
    a = await account();
    b = await account();
  });
  afterAll(async () => {
    await app.close();
    await ctx.close();
  });

  describe('apps', () => {
    it('create shows app_key and master_secret once; the secret works on /v3 and is stored hashed', async () => {
      const res = await call('post', '/apps', a, { name: 'Second', rate_limit_per_minute: 100 });
      expect(res.status).toBe(201);
      expect(res.body).toMatchObject({ name: 'Second', timezone: 'UTC', rate_limit_per_minute: 100 });
      expect(res.body.app_key).toMatch(/^[A-Za-z0-9]{24}$/);
      expect(res.body.master_secret).toMatch(/^[A-Za-z0-9]{24}$/);
      await v3(res.body.app_key, res.body.master_secret).expect(200);
      const got = await call('get', `/apps/${res.body.id}`, a);
      expect(got.body).not.toHaveProperty('master_secret');
      expect(JSON.stringify(got.body)).not.toContain(res.body.master_secret);
      const row = await appEntity(res.body.id);
      expect(row.masterSecretHash).toMatch(/^h1\./);
      await call('post', '/apps', a, { name: 'x', timezone: 'Mars/Olympus' }).then((r) =>
        expect(r.status).toBe(400),
      );
    });

    it('list paginates newest first; update changes name, time zone and rate limit; delete removes', async () => {
      const p1 = await call('get', '/apps?limit=1', a);
      expect(p1.body.items).toHaveLength(1);
      expect(p1.body.items[0].name).toBe('Second');
      const p2 = await call('get', `/apps?limit=1&cursor=${p1.body.next_cursor}`, a);
      expect(p2.body.items.map((x: { name: string }) => x.name)).toEqual(['Main']);
      expect(p2.body.next_cursor).toBeNull();
      const upd = await call('patch', `/apps/${p1.body.items[0].id}`, a, {
        name: 'Renamed',
        timezone: 'Europe/Berlin',
        rate_limit_per_minute: 42,
      });
      expect(upd.body).toMatchObject({
        name: 'Renamed',
        timezone: 'Europe/Berlin',
        rate_limit_per_minute: 42,
      });
      expect((await call('delete', `/apps/${p1.body.items[0].id}`, a)).status).toBe(204);
      expect((await call('get', `/apps/${p1.body.items[0].id}`, a)).status).toBe(404);
    });

    it('rotation: both secrets work during the overlap; afterwards, or with overlap 0, only the new one', async () => {
      const old = a.masterSecret;
      const r = await call('post', `/apps/${a.appId}/rotate-secret`, a, { overlap_seconds: 3600 });
      expect(r.status).toBe(200);
      const fresh = r.body.master_secret as string;
      expect(fresh).not.toBe(old);
      expect(Date.parse(r.body.previous_secret_expires_at) - Date.now()).toBeGreaterThan(3500_000);
      await v3(a.appKey, old).expect(200);
      await v3(a.appKey, fresh).expect(200);
      expect((await call('get', `/apps/${a.appId}`, a)).body.previous_secret_expires_at).toBe(
        r.body.previous_secret_expires_at,
      );
      // the window ends: the old secret stops
      await ctx.db.query(
        `UPDATE apps SET previous_secret_expires_at = now() - interval '1 second' WHERE id = $1`,
        [a.appId],
      );
      await v3(a.appKey, old).expect(401);
      await v3(a.appKey, fresh).expect(200);
      // Every /v3 route family reads the same app-key cache: the schedule API (its own module) too.
      const schedules = (secret: string) =>
        http().get('/v3/schedules').set('Authorization', basic(a.appKey, secret));
      await schedules(fresh).expect(200);
      const r0 = await call('post', `/apps/${a.appId}/rotate-secret`, a, { overlap_seconds: 0 });
      expect(r0.body.previous_secret_expires_at).toBeNull();
      await v3(a.appKey, fresh).expect(401);
      await schedules(fresh).expect(401);
      await schedules(r0.body.master_secret).expect(200);
      await v3(a.appKey, r0.body.master_secret).expect(200);
      a.masterSecret = r0.body.master_secret;
      expect((await call('post', `/apps/${a.appId}/rotate-secret`, a, { overlap_seconds: 9e9 })).status).toBe(
        400,
      );
    });
  });

  describe('credentials', () => {
    it('APNs token key: validated, encrypted, and shown back as metadata only', async () => {
      const res = await call('put', `/apps/${a.appId}/credentials/apns`, a, {
        environment: 'both',
        auth: 'token',
        key_id: 'ABC123DEFG',
        team_id: 'TEAM123456',
        bundle_id: 'com.herald.demo',
        key: ecKey,
      });
      expect(res.status).toBe(200);
      expect(res.body).toMatchObject({
        provider: 'apns',
        environment: 'both',
        kind: 'token',
        key_id: 'ABC123DEFG',
        team_id: 'TEAM123456',
        bundle_id: 'com.herald.demo',
      });
      expect(res.body.fingerprint).toMatch(/^[0-9a-f]{64}$/);
      const [row] = await ctx.db.query<{ encrypted_payload: string }[]>(
        `SELECT encrypted_payload FROM app_credentials WHERE app_id = $1 AND provider = 'apns'`,
        [a.appId],
      );
      expect(row.encrypted_payload).not.toContain(keyBody(ecKey));
      expect(row.encrypted_payload).not.toContain('PRIVATE');
    });

    it('APNs certificate per environment, FCM service account; GET lists metadata with the certificate expiry', async () => {
      const cert = await call('put', `/apps/${a.appId}/credentials/apns`, a, {
        environment: 'production',
        auth: 'certificate',
        p12: apnsP12.toString('base64'),
        passphrase: 'herald-test',
      });
      expect(cert.status).toBe(200);
      expect(cert.body).toMatchObject({
        kind: 'certificate',
        environment: 'production',
        bundle_id: 'com.herald.demo',
      });
      expect(cert.body.certificate_expires_at).toMatch(/^2051-/);
      const fcm = await call('put', `/apps/${a.appId}/credentials/fcm`, a, {
        service_account: serviceAccount,
      });
      expect(fcm.status).toBe(200);
      expect(fcm.body).toMatchObject({ provider: 'fcm', kind: 'service_account', project_id: 'herald-demo' });
      const list = await call('get', `/apps/${a.appId}/credentials`, a);
      // the certificate for production replaced the token key's `both` slot
      expect(
        list.body.items.map((c: { provider: string; environment: string; kind: string }) => [
          c.provider,
          c.environment,
          c.kind,
        ]),
      ).toEqual([
        ['apns', 'production', 'certificate'],
        ['fcm', 'both', 'service_account'],
      ]);
      for (const item of list.body.items) {
        expect(Object.keys(item).sort()).toEqual(
          [
            'provider',
            'environment',
            'kind',
            'key_id',
            'team_id',
            'bundle_id',
            'project_id',
            'certificate_expires_at',
            'fingerprint',
            'validated_at',
            'updated_at',
          ].sort(),
        );
      }
    });

    it('refuses a wrong passphrase, a non-APNs certificate, a malformed key and a bad service account, storing nothing', async () => {
      const before = await ctx.db.query<{ n: number }[]>(`SELECT count(*)::int AS n FROM app_credentials`);
      const cases: [object, string][] = [
        [
          {
            environment: 'sandbox',
            auth: 'certificate',
            p12: apnsP12.toString('base64'),
            passphrase: 'wrong',
          },
          'credential rejected: passphrase does not open the .p12',
        ],
        [
          {
            environment: 'sandbox',
            auth: 'certificate',
            p12: nonApnsP12.toString('base64'),
            passphrase: 'herald-test',
          },
          'credential rejected: certificate has no APNs topic (subject UID): not an APNs certificate',
        ],
        [
          { environment: 'sandbox', auth: 'certificate', p12: Buffer.from('not a p12').toString('base64') },
          'credential rejected: file is not a PKCS#12 (.p12) certificate',
        ],
        [
          {
            environment: 'sandbox',
            auth: 'token',
            key_id: 'ABC123DEFG',
            team_id: 'TEAM123456',
            bundle_id: 'com.herald.demo',
            key: '-----BEGIN PRIVATE KEY-----\nbm90IGEga2V5\n-----END PRIVATE KEY-----',
          },
          'credential rejected: key is not a PEM private key',
        ],
        [
          {
            environment: 'sandbox',
            auth: 'token',
            key_id: 'ABC123DEFG',
            team_id: 'TEAM123456',
            bundle_id: 'com.herald.demo',
            key: rsaKey,
          },
          'credential rejected: key must be an EC P-256 key (an APNs .p8 file)',
        ],
      ];
      for (const [body, message] of cases) {
        const res = await call('put', `/apps/${a.appId}/credentials/apns`, a, body);
        expect({ status: res.status, code: res.body.code, message: res.body.message }).toEqual({
          status: 400,
          code: 'invalid_parameter',
          message,
        });
      }
      const fcm = await call('put', `/apps/${a.appId}/credentials/fcm`, a, {
        service_account: { ...serviceAccount, private_key: 'garbage' },
      });
      expect(fcm.status).toBe(400);
      expect(fcm.body.details.errors).toEqual(['private_key is missing or not a PEM private key']);
      const bad = await call('put', `/apps/${a.appId}/credentials/apns`, a, {
        environment: 'both',
        auth: 'token',
      });
      expect(bad.status).toBe(400);
      const after = await ctx.db.query<{ n: number }[]>(`SELECT count(*)::int AS n FROM app_credentials`);
      expect(after[0].n).toBe(before[0].n);
    });

    it('test-send creates a test message to one device through the pipeline', async () => {
      const device = await createDevice(ctx.db, ctx.config, await appEntity(a.appId), {
        channel: 'fcm',
        platform: 'android',
      });
      const res = await call('post', `/apps/${a.appId}/credentials/test`, a, {
        registration_id: device.device.registrationId,
        alert: 'hi',
      });
      expect(res.status).toBe(200);
      expect(res.body).toEqual({ msg_id: expect.stringMatching(/^\d+$/), channel: 'fcm' });
      const [msg] = await ctx.db.query<{ source: string; audience: unknown }[]>(
        `SELECT source, audience FROM messages WHERE id = $1 AND app_id = $2`,
        [res.body.msg_id, a.appId],
      );
      expect(msg).toEqual({
        source: 'test',
        audience: { all: false, registration_id: [device.device.registrationId] },
      });
      const unknown = await call('post', `/apps/${a.appId}/credentials/test`, a, { registration_id: 'nope' });
      expect(unknown.status).toBe(404);
    });
  });

  describe('segments, messages, devices and daily statistics', () => {
    let vip: string;
    let m1: string;
    let m2: string;
    beforeAll(async () => {
      const entity = await appEntity(a.appId);
      const d1 = await createDevice(ctx.db, ctx.config, entity, {
        channel: 'apns',
        alias: 'alice',
        tags: ['vip'],
        token: 'a'.repeat(58) + 'c0ffee',
      });
      const d2 = await createDevice(ctx.db, ctx.config, entity, {
        channel: 'gateway',
        tags: ['vip', 'beta'],
      });
      await createDevice(ctx.db, ctx.config, entity, { channel: 'apns', alias: 'bob' });
      vip = d1.device.registrationId;
      const msg = async (status: string, source: string, shards: [number | null, number]) => {
        const [row] = await ctx.db.query<{ id: string }[]>(
          `INSERT INTO messages (app_id, request, audience, platforms, status, source, shards_total, shards_done)
           VALUES ($1, '{"platform":"all","callback":{"url":"https://x.test","signing_key":"k1.secret"}}', '"all"', '{all}', $2, $3, $4, $5)
           RETURNING id::text AS id`,
          [a.appId, status, source, ...shards],
        );
        return row.id;
      };
      m1 = await msg('completed', 'push', [1, 1]);
      m2 = await msg('sending', 'batch', [8, 3]);
      await ctx.db.query(
        `INSERT INTO message_counters (message_id, channel, targets, sent, failed, delivered, clicked)
         VALUES ($1, 'apns', 10, 8, 2, 7, 3), ($1, 'gateway', 5, 5, 0, 4, 1), ($2, 'apns', 4, 1, 0, 0, 0)`,
        [m1, m2],
      );
      await ctx.db.query(
        `INSERT INTO message_failures (message_id, channel, reason, count) VALUES ($1, 'apns', 'BadDeviceToken', 2)`,
        [m1],
      );
      await ctx.db.query(
        `INSERT INTO deliveries (message_id, device_id, app_id, channel, state, sent_at, delivered_at)
         VALUES ($1, $3, $4, 'apns', 'delivered', now(), now()), ($2, $3, $4, 'apns', 'sent', now(), NULL),
                ($1, $5, $4, 'gateway', 'delivered', now(), now())`,
        [m1, m2, d1.device.id, a.appId, d2.device.id],
      );
    });

    it('segments: CRUD, size estimate and an unsaved filter estimate', async () => {
      const created = await call('post', `/apps/${a.appId}/segments`, a, {
        name: 'VIPs',
        filter: { tag: ['vip'] },
      });
      expect(created.status).toBe(201);
      const est = await call('get', `/apps/${a.appId}/segments/${created.body.id}/estimate`, a);
      expect(est.body).toEqual({
        total: 2,
        by_channel: { apns: 1, fcm: 0, gateway: 1 },
        by_platform: { ios: 1, android: 1 },
      });
      const adhoc = await call('post', `/apps/${a.appId}/segments/estimate`, a, {
        filter: { alias: ['bob'] },
      });
      expect(adhoc.body.total).toBe(1);
      const upd = await call('patch', `/apps/${a.appId}/segments/${created.body.id}`, a, {
        filter: { tag: ['beta'] },
      });
      expect(upd.body.filter).toEqual({ tag: ['beta'] });
      expect((await call('get', `/apps/${a.appId}/segments`, a)).body).toEqual({
        items: [expect.objectContaining({ id: created.body.id, name: 'VIPs' })],
        next_cursor: null,
      });
      expect(
        (await call('post', `/apps/${a.appId}/segments`, a, { name: 'bad', filter: { nope: 1 } })).status,
      ).toBe(400);
      expect((await call('delete', `/apps/${a.appId}/segments/${created.body.id}`, a)).status).toBe(204);
      expect((await call('get', `/apps/${a.appId}/segments/${created.body.id}`, a)).status).toBe(404);
    });

    it('messages: history with filters, progress, stats by channel and reason; cancel', async () => {
      const all = await call(
        'get',
        `/apps/${a.appId}/messages?source=push,batch`.replace('push,batch', 'batch'),
        a,
      );
      expect(all.body.items.map((m: { msg_id: string }) => m.msg_id)).toEqual([m2]);
      const page = await call('get', `/apps/${a.appId}/messages?limit=1&status=completed,sending`, a);
      expect(page.body.items).toHaveLength(1);
      expect(page.body.items[0]).toMatchObject({ msg_id: m2, status: 'sending', progress: 37 });
      const next = await call(
        'get',
        `/apps/${a.appId}/messages?limit=1&status=completed,sending&cursor=${page.body.next_cursor}`,
        a,
      );
      expect(next.body.items.map((m: { msg_id: string }) => m.msg_id)).toEqual([m1]);
      const one = await call('get', `/apps/${a.appId}/messages/${m1}`, a);
      expect(one.body).toMatchObject({
        progress: 100,
        totals: { targets: 15, sent: 13, failed: 2, delivered: 11, clicked: 4, dismissed: 0 },
        by_channel: {
          apns: { targets: 10, sent: 8, failed: 2, delivered: 7, clicked: 3, dismissed: 0 },
          gateway: { targets: 5, sent: 5, failed: 0, delivered: 4, clicked: 1, dismissed: 0 },
        },
        failures: [{ channel: 'apns', reason: 'BadDeviceToken', count: 2 }],
      });
      expect(one.body.request.callback).toEqual({ url: 'https://x.test' });
      expect((await call('get', `/apps/${a.appId}/messages?status=bogus`, a)).status).toBe(400);
      const cancelled = await call('post', `/apps/${a.appId}/messages/${m2}/cancel`, a);
      expect(cancelled.status).toBe(200);
      expect(cancelled.body.status).toBe('cancelled');
      expect((await call('post', `/apps/${a.appId}/messages/${m1}/cancel`, a)).status).toBe(409);
    });

    it('devices: search by registration id, alias, tag, token suffix; a device and its deliveries', async () => {
      const names = async (q: string) =>
        (await call('get', `/apps/${a.appId}/devices?${q}`, a)).body.items.map(
          (d: { alias: string | null; channel: string }) => d.alias ?? d.channel,
        );
      expect(await names(`registration_id=${vip}`)).toEqual(['alice']);
      expect(await names('alias=bob')).toEqual(['bob']);
      expect(await names('tag=vip')).toEqual(['gateway', 'alice']);
      expect(await names('token_suffix=c0ffee')).toEqual(['alice']);
      expect((await call('get', `/apps/${a.appId}/devices?token_suffix=ab`, a)).status).toBe(400);
      // Past 8 characters only the whole token matches: a suffix search cannot be grown a character at
      // a time into the token that the API shows only the last six of.
      expect(await names(`token_suffix=${'a'.repeat(58)}c0ffee`)).toEqual(['alice']);
      expect(await names('token_suffix=aac0ffee')).toEqual(['alice']);
      expect(await names('token_suffix=aaac0ffee')).toEqual([]);
      const one = await call('get', `/apps/${a.appId}/devices/${vip}`, a);
      expect(one.body).toMatchObject({
        registration_id: vip,
        token_suffix: 'c0ffee',
        alias: 'alice',
        tags: ['vip'],
      });
      expect(JSON.stringify(one.body)).not.toContain('a'.repeat(20));
      const dl = await call('get', `/apps/${a.appId}/devices/${vip}/deliveries?limit=1`, a);
      expect(dl.body.items).toHaveLength(1);
      const dl2 = await call(
        'get',
        `/apps/${a.appId}/devices/${vip}/deliveries?limit=1&cursor=${dl.body.next_cursor}`,
        a,
      );
      expect([dl.body.items[0].msg_id, dl2.body.items[0].msg_id].sort()).toEqual([m1, m2].sort());
      expect(dl2.body.next_cursor).toBeNull();
    });

    it("daily statistics in the app's time zone", async () => {
      const [{ today }] = await ctx.db.query<{ today: string }[]>(
        `SELECT to_char((now() AT TIME ZONE 'Asia/Shanghai')::date, 'YYYY-MM-DD') AS today`,
      );
      const res = await call('get', `/apps/${a.appId}/stats/daily?from=${today}&to=${today}`, a);
      expect(res.body).toEqual({
        timezone: 'Asia/Shanghai',
        from: today,
        to: today,
        items: [
          {
            date: today,
            messages: 3, // m1, m2 and the test send
            targets: 19,
            sent: 14,
            failed: 2,
            delivered: 11,
            clicked: 4,
            new_devices: 4, // the test-send device and these three
            active_devices: 4,
          },
        ],
      });
      const month = await call('get', `/apps/${a.appId}/stats/daily`, a);
      expect(month.body.items).toHaveLength(30);
      expect(
        (await call('get', `/apps/${a.appId}/stats/daily?from=2020-01-01&to=2020-12-31`, a)).status,
      ).toBe(400);
    });
  });

  describe('audit log', () => {
    it('records every change with actor, time and source address', async () => {
      await call(
        'patch',
        `/apps/${a.appId}`,
        a,
        { name: 'Main (audited)' },
        { 'X-Forwarded-For': '203.0.113.7' },
      );
      const res = await call('get', `/audit-log?app_id=${a.appId}&limit=200`, a);
      const actions = res.body.items.map((e: { action: string }) => e.action);
      for (const expected of [
        'app.create',
        'app.update',
        'app.rotate_secret',
        'credential.apns.put',
        'credential.fcm.put',
        'credential.test_send',
        'segment.create',
        'segment.update',
        'segment.delete',
        'message.cancel',
      ]) {
        expect(actions).toContain(expected);
      }
      const [latest] = res.body.items;
      expect(latest).toMatchObject({
        action: 'app.update',
        source_ip: '203.0.113.7',
        actor: { type: 'user', email: expect.stringMatching(/@example\.test$/) },
        details: { name: 'Main (audited)' },
      });
      expect(Date.now() - Date.parse(latest.created_at)).toBeLessThan(60_000);
      const filtered = await call('get', `/audit-log?action=credential`, a);
      expect(new Set(filtered.body.items.map((e: { action: string }) => e.action.split('.')[0]))).toEqual(
        new Set(['credential']),
      );
      // b's audit log has none of a's entries
      const other = await call('get', `/audit-log?limit=200`, b);
      expect(other.body.items.every((e: { app_id: string | null }) => e.app_id !== a.appId)).toBe(true);
    });
  });

  describe('tenant isolation: b probing every resource of a', () => {
    it('answers 404 for every id of another tenant and changes nothing', async () => {
      const entity = await appEntity(a.appId);
      const dev = await createDevice(ctx.db, ctx.config, entity, { channel: 'fcm', platform: 'android' });
      const seg = await call('post', `/apps/${a.appId}/segments`, a, {
        name: 'Mine',
        filter: { tag: ['vip'] },
      });
      const [msg] = await ctx.db.query<{ id: string }[]>(
        `SELECT id::text AS id FROM messages WHERE app_id = $1 ORDER BY id LIMIT 1`,
        [a.appId],
      );
      const rid = dev.device.registrationId;
      const A = `/apps/${a.appId}`;
      const probes: ['get' | 'post' | 'put' | 'patch' | 'delete', string, object?][] = [
        ['get', A],
        ['patch', A, { name: 'pwned' }],
        ['delete', A],
        ['post', `${A}/rotate-secret`, {}],
        ['get', `${A}/credentials`],
        ['put', `${A}/credentials/fcm`, { service_account: serviceAccount }],
        [
          'put',
          `${A}/credentials/apns`,
          {
            environment: 'both',
            auth: 'token',
            key_id: 'ABC123DEFG',
            team_id: 'TEAM123456',
            bundle_id: 'a.b',
            key: ecKey,
          },
        ],
        ['delete', `${A}/credentials/fcm`],
        ['post', `${A}/credentials/test`, { registration_id: rid }],
        ['get', `${A}/segments`],
        ['post', `${A}/segments`, { name: 'x', filter: { tag: ['x'] } }],
        ['get', `${A}/segments/${seg.body.id}`],
        ['patch', `${A}/segments/${seg.body.id}`, { name: 'pwned' }],
        ['delete', `${A}/segments/${seg.body.id}`],
        ['get', `${A}/segments/${seg.body.id}/estimate`],
        ['post', `${A}/segments/estimate`, { filter: { tag: ['vip'] } }],
        ['get', `${A}/messages`],
        ['get', `${A}/messages/${msg.id}`],
        ['post', `${A}/messages/${msg.id}/cancel`],
        ['get', `${A}/devices`],
        ['get', `${A}/devices/${rid}`],
        ['get', `${A}/devices/${rid}/deliveries`],
        ['get', `${A}/stats/daily`],
        // b's own app with a's sub-resource ids
        ['get', `/apps/${b.appId}/segments/${seg.body.id}`],
        ['get', `/apps/${b.appId}/messages/${msg.id}`],
        ['post', `/apps/${b.appId}/messages/${msg.id}/cancel`],
        ['get', `/apps/${b.appId}/devices/${rid}`],
        ['get', `/apps/${b.appId}/devices/${rid}/deliveries`],
        ['post', `/apps/${b.appId}/credentials/test`, { registration_id: rid }],
        ['get', `/apps/not-a-uuid`],
      ];
      const statuses = [];
      for (const [method, path, body] of probes) {
        const res = await call(method, path, b, body);
        statuses.push(`${method} ${path} → ${res.status}`);
      }
      expect(statuses).toEqual(probes.map(([m, p]) => `${m} ${p} → 404`));
      const list = await call('get', '/apps', b);
      expect(list.body.items.map((x: { id: string }) => x.id)).toEqual([b.appId]);
      const row = await appEntity(a.appId);
      expect(row.name).toBe('Main (audited)');
      expect((await call('get', `${A}/segments/${seg.body.id}`, a)).body.name).toBe('Mine');
      expect((await call('get', `${A}/credentials`, a)).body.items).toHaveLength(2);
    });
  });

  it('no response body and no log line contains key material or a shown-once secret', () => {
    const logText = [
      ...[...writes.mock.calls, ...writesSync.mock.calls]
        .filter((c) => c[0] === 1 || c[0] === 2)
        .map((c) => String(c[1])),
      ...stdout.mock.calls.map((c) => String(c[0])),
    ].join('\n');
    // the capture works: the access log of this file's requests is in it
    expect(logText).toContain('/dashboard/v1/apps');
    const bodyText = bodies.join('\n');
    for (const secret of SECRETS) {
      expect(bodyText).not.toContain(secret);
      expect(logText).not.toContain(secret);
    }
    for (const text of [bodyText, logText]) {
      expect(text).not.toMatch(/PRIVATE KEY/);
      expect(text).not.toMatch(/encrypted_payload|password_hash|token_hash|master_secret_hash/);
    }
    // shown-once values appear only in the one response that shows them, never in a log
    for (const shown of [a.masterSecret, b.masterSecret]) expect(logText).not.toContain(shown);
    expect(logText).not.toMatch(/hrt_|hpat_|hinv_|eyJhbGciOiJIUzI1Ni/);
  });
});
