import { randomBytes } from 'node:crypto';
import type { INestApplication } from '@nestjs/common';
import request from 'supertest';
import { Like } from 'typeorm';
import { DeviceEntity, DeviceReceiptEntity } from '@herald/db';
import {
  createDevice,
  createTenantFixture,
  createTestContext,
  type CreatedDevice,
  type TenantFixture,
  type TestContext,
} from '@herald/testing';
import { createApiApp } from '../api.bootstrap';
import { DeviceService } from '../devices/device.service';

describe('SDK API (real PostgreSQL and Redis)', () => {
  let ctx: TestContext;
  let app: INestApplication;
  let tenant: TenantFixture;
  const http = () => request(app.getHttpServer());
  const register = (body: Record<string, unknown>, headers: Record<string, string> = {}) =>
    http().post('/sdk/v1/register').set('X-App-Key', tenant.app.appKey).set(headers).send(body);
  const devices = () => ctx.db.getRepository(DeviceEntity);

  beforeAll(async () => {
    // 127.0.0.1 is the test client's address: trusting it lets a test speak for a public address.
    ctx = await createTestContext({
      HERALD_TRUSTED_PROXIES: '127.0.0.1,::1,::ffff:127.0.0.1',
      HERALD_SDK_REGISTER_PER_MINUTE: '1000',
    });
    app = await createApiApp(ctx.config);
    await app.init();
    tenant = await createTenantFixture(ctx.db, ctx.config);
  });
  afterAll(async () => {
    await app.close();
    await ctx.close();
  });

  it('registers a device, normalising what it reports, and hands out a working secret', async () => {
    const res = await register({
      platform: 'ios',
      channel: 'apns',
      token: 'a'.repeat(64),
      apns_environment: 'sandbox',
      language: 'zh-Hans-CN',
      timezone: 'Asia/Shanghai',
      country: 'cn',
      province: 'gd',
      city: 'Shenzhen',
      app_version: '2.10.1-beta.2',
    }).expect(200);
    expect(res.body).toEqual({
      registration_id: expect.stringMatching(/^[0-9a-z]{20}$/),
      device_secret: expect.stringMatching(/^[A-Za-z0-9]{32}$/),
      gateway_url: ctx.config.gateway.publicUrl,
    });
    const d = await devices().findOneByOrFail({ registrationId: res.body.registration_id });
    expect(d).toMatchObject({
      appId: tenant.app.app.id,
      platform: 'ios',
      channel: 'apns',
      apnsEnvironment: 'sandbox',
      language: 'zh-hans-cn',
      timezone: 'Asia/Shanghai',
      country: 'CN',
      province: 'CN-GD',
      city: 'Shenzhen',
      appVersion: '2.10.1-beta.2',
      status: 'active',
    });
    expect(d.appVersionKey).not.toBeNull();
    expect(d.deviceSecretHash).not.toContain(res.body.device_secret);
    await http()
      .put(`/sdk/v1/devices/${res.body.registration_id}`)
      .set('Authorization', `Bearer ${res.body.registration_id}:${res.body.device_secret}`)
      .send({ os_version: '17.1' })
      .expect(200, {});
  });

  it('re-registering with a version that has no sortable key clears the old key, as an update does', async () => {
    const body = { platform: 'android', channel: 'fcm', token: 'fcm-token-versions' };
    const device = async () => devices().findOneByOrFail({ token: body.token });
    const first = await register({ ...body, app_version: '2.1.0' }).expect(200);
    expect((await device()).appVersionKey).not.toBeNull();
    // Four numeric parts: kept as sent, but no key, so no app_version filter matches it — not even as 2.1.0.
    await register({ ...body, app_version: '2.2.0.1' }).expect(200);
    expect(await device()).toMatchObject({ appVersion: '2.2.0.1', appVersionKey: null });
    // A registration that reports no version keeps both.
    await register({ ...body, app_version: '2.3.0' }).expect(200);
    const key = (await device()).appVersionKey;
    expect(key).not.toBeNull();
    const again = await register(body).expect(200);
    expect(again.body.registration_id).toBe(first.body.registration_id);
    expect(await device()).toMatchObject({ appVersion: '2.3.0', appVersionKey: key });
    // The update path, for comparison: the same version clears the key there too.
    await http()
      .put(`/sdk/v1/devices/${again.body.registration_id}`)
      .set('Authorization', `Bearer ${again.body.registration_id}:${again.body.device_secret}`)
      .send({ app_version: '2.2.0.1' })
      .expect(200);
    expect(await device()).toMatchObject({ appVersion: '2.2.0.1', appVersionKey: null });
  });

  it('gives the same device for the same token, even for two registrations at once, and rotates the secret', async () => {
    const body = { platform: 'android', channel: 'fcm', token: 'fcm-token-race' };
    const [a, b] = await Promise.all([register(body), register(body)]);
    expect(a.status).toBe(200);
    expect(b.status).toBe(200);
    expect(a.body.registration_id).toBe(b.body.registration_id);
    expect(await devices().countBy({ token: 'fcm-token-race' })).toBe(1);

    const again = await register(body).expect(200);
    expect(again.body.registration_id).toBe(a.body.registration_id);
    const rid = again.body.registration_id as string;
    // only the newest secret works
    await http()
      .put(`/sdk/v1/devices/${rid}`)
      .set('Authorization', `Bearer ${rid}:${a.body.device_secret}`)
      .send({})
      .expect(401);
    await http()
      .put(`/sdk/v1/devices/${rid}`)
      .set('Authorization', `Bearer ${rid}:${again.body.device_secret}`)
      .send({})
      .expect(200);
  });

  it('answers registrations that arrive together each on its own: a repeated token is one device, a bad one fails alone', async () => {
    const distinct = Array.from({ length: 10 }, (_, i) => `burst-${i}`);
    const bodies = [
      ...distinct.map((token) => ({ platform: 'android', channel: 'fcm', token })),
      ...Array.from({ length: 3 }, () => ({ platform: 'android', channel: 'fcm', token: 'burst-same' })),
      // PostgreSQL refuses a NUL character in text: this one row fails, the others must not.
      { platform: 'android', channel: 'fcm', token: 'burst-\u0000-nul' },
      { platform: 'android', channel: 'gateway' },
    ];
    const res = await Promise.all(bodies.map((b) => register(b)));
    expect(res.map((r) => r.status)).toEqual([...Array(13).fill(200), 400, 200]);
    expect(res[13].body.code).toBe('invalid_parameter');
    const rids = res.map((r) => r.body.registration_id as string | undefined);
    expect(new Set([...rids.slice(0, 10), rids[10], rids[14]]).size).toBe(12);
    expect(rids[11]).toBe(rids[10]);
    expect(rids[12]).toBe(rids[10]);
    for (const [i, token] of distinct.entries()) {
      expect(await devices().findOneByOrFail({ token })).toMatchObject({ registrationId: rids[i] });
    }
    expect(await devices().countBy({ token: 'burst-same' })).toBe(1);
    expect(await devices().countBy({ appId: tenant.app.app.id, token: Like('burst-%-nul') })).toBe(0);
    // Each answer carries its own device's secret: the last registration of the shared token holds it.
    for (const i of [0, 9, 14]) {
      await http()
        .put(`/sdk/v1/devices/${rids[i]}`)
        .set('Authorization', `Bearer ${rids[i]}:${res[i].body.device_secret}`)
        .send({})
        .expect(200);
    }
    const sameSecrets = [10, 11, 12].map((i) => res[i].body.device_secret as string);
    expect(new Set(sameSecrets).size).toBe(3);
    const working = await Promise.all(
      sameSecrets.map((s) =>
        http().put(`/sdk/v1/devices/${rids[10]}`).set('Authorization', `Bearer ${rids[10]}:${s}`).send({}),
      ),
    );
    expect(working.filter((r) => r.status === 200)).toHaveLength(1);
  });

  it('keeps the registrations of one statement apart: each gets its own device or its own error', async () => {
    // Submitted in one turn of the event loop, these share one upsert (HTTP requests may or may not).
    const service = app.get(DeviceService);
    const settled = await Promise.allSettled(
      ['one-a', 'one-b', 'one-\u0000', 'one-a', 'one-c'].map((token) =>
        service.register(tenant.app.app, { platform: 'android', channel: 'fcm', token }),
      ),
    );
    expect(settled.map((s) => s.status)).toEqual([
      'fulfilled',
      'fulfilled',
      'rejected',
      'fulfilled',
      'fulfilled',
    ]);
    const regs = settled.map((s) => (s.status === 'fulfilled' ? s.value : undefined));
    expect(regs[0]!.created).toBe(true);
    expect(regs[3]).toMatchObject({ registrationId: regs[0]!.registrationId, created: false });
    for (const [i, token] of [
      [1, 'one-b'],
      [4, 'one-c'],
    ] as const) {
      expect(regs[i]!.created).toBe(true);
      expect(await devices().findOneByOrFail({ token })).toMatchObject({
        registrationId: regs[i]!.registrationId,
      });
    }
    expect(await devices().countBy({ token: 'one-a' })).toBe(1);
  });

  it('reactivates an invalidated device when it registers again or reports a new token', async () => {
    const first = await register({ platform: 'android', channel: 'fcm', token: 'dead-token' }).expect(200);
    const rid = first.body.registration_id as string;
    await devices().update(
      { registrationId: rid },
      { status: 'invalid', statusReason: 'Unregistered', tokenUpdatedAt: new Date(0) },
    );

    const again = await register({ platform: 'android', channel: 'fcm', token: 'dead-token' }).expect(200);
    let d = await devices().findOneByOrFail({ registrationId: rid });
    expect(d.status).toBe('active');
    expect(d.statusReason).toBeNull();
    expect(d.tokenUpdatedAt!.getTime()).toBeGreaterThan(Date.now() - 60_000);

    await devices().update(
      { registrationId: rid },
      { status: 'quarantined', statusReason: 'BadDeviceToken' },
    );
    await http()
      .put(`/sdk/v1/devices/${rid}`)
      .set('Authorization', `Bearer ${rid}:${again.body.device_secret}`)
      .send({ token: 'fresh-token' })
      .expect(200);
    d = await devices().findOneByOrFail({ registrationId: rid });
    expect(d).toMatchObject({ status: 'active', token: 'fresh-token', statusReason: null });
  });

  describe('a token claimed by two requests at once', () => {
    // Each race is repeated: the window between clearing a token elsewhere and setting it here is short.
    const ROUNDS = 12;
    const fcmDevice = () => createDevice(ctx.db, ctx.config, tenant.app.app, { channel: 'fcm' });
    const putToken = (d: CreatedDevice, token: string) =>
      http().put(`/sdk/v1/devices/${d.device.registrationId}`).set('Authorization', d.bearer).send({ token });
    const holders = (token: string) => devices().findBy({ appId: tenant.app.app.id, token });

    it('two devices updating to one token: both answer 200, one holds it and the other lost it', async () => {
      for (let i = 0; i < ROUNDS; i++) {
        const [a, b] = [await fcmDevice(), await fcmDevice()];
        const token = `moved-${i}-${randomBytes(6).toString('hex')}`;
        const res = await Promise.all([putToken(a, token), putToken(b, token)]);
        expect(res.map((r) => r.status)).toEqual([200, 200]);
        const held = await holders(token);
        expect(held).toHaveLength(1);
        const holder = held[0];
        expect([a.device.id, b.device.id]).toContain(holder.id);
        const loser = await devices().findOneByOrFail({
          id: holder.id === a.device.id ? b.device.id : a.device.id,
        });
        expect(loser).toMatchObject({ token: null, status: 'invalid', statusReason: 'token_reassigned' });
      }
    });

    it('an update and a registration of one token: both answer 200, and one device holds it', async () => {
      for (let i = 0; i < ROUNDS; i++) {
        const a = await fcmDevice();
        const token = `claimed-${i}-${randomBytes(6).toString('hex')}`;
        const [put, reg] = await Promise.all([
          putToken(a, token),
          register({ platform: 'android', channel: 'fcm', token }),
        ]);
        expect([put.status, reg.status]).toEqual([200, 200]);
        expect(await holders(token)).toHaveLength(1);
      }
    });

    it('two devices trading tokens at once: both answer 200, and each ends with the other’s', async () => {
      for (let i = 0; i < ROUNDS; i++) {
        const [a, b] = [await fcmDevice(), await fcmDevice()];
        const res = await Promise.all([putToken(a, b.device.token!), putToken(b, a.device.token!)]);
        expect(res.map((r) => r.status)).toEqual([200, 200]);
        expect(await devices().findOneByOrFail({ id: a.device.id })).toMatchObject({
          token: b.device.token,
          status: 'active',
        });
        expect(await devices().findOneByOrFail({ id: b.device.id })).toMatchObject({
          token: a.device.token,
          status: 'active',
        });
      }
    });
  });

  it('derives the region from a public client address, and leaves private addresses unknown', async () => {
    const pub = await register(
      { platform: 'android', channel: 'gateway' },
      { 'X-Forwarded-For': '114.114.114.114' },
    ).expect(200);
    expect(await devices().findOneByOrFail({ registrationId: pub.body.registration_id })).toMatchObject({
      country: 'CN',
    });
    const priv = await register(
      { platform: 'android', channel: 'gateway' },
      { 'X-Forwarded-For': '192.168.1.20' },
    ).expect(200);
    expect(await devices().findOneByOrFail({ registrationId: priv.body.registration_id })).toMatchObject({
      country: null,
      province: null,
      city: null,
    });
  });

  it.each([
    [{ platform: 'ios', channel: 'apns' }, 'missing_parameter', /token/],
    [{ platform: 'android', channel: 'apns', token: 'x' }, 'invalid_parameter', /apns is for platform ios/],
    [
      { platform: 'ios', channel: 'apns', token: 'x', language: '12345678901' },
      'invalid_parameter',
      /language/,
    ],
    [
      { platform: 'ios', channel: 'apns', token: 'x', timezone: 'Mars/Base' },
      'invalid_parameter',
      /timezone/,
    ],
    [{ platform: 'ios', channel: 'apns', token: 'x', country: 'ZZ' }, 'invalid_parameter', /country/],
    [{ platform: 'toaster', channel: 'gateway' }, 'invalid_parameter', /platform/],
    [{ platform: 'android', channel: 'gateway', colour: 'red' }, 'invalid_parameter', /unknown field/],
  ])('refuses bad registration %# with a clear code, storing nothing', async (body, code, message) => {
    const before = await devices().count();
    const res = await register(body).expect(400);
    expect(res.body.code).toBe(code);
    expect(res.body.message).toMatch(message);
    expect(await devices().count()).toBe(before);
  });

  it('refuses a push token over 1024 UTF-8 bytes with 400 on register and update, storing nothing', async () => {
    // 2800 random characters do not fit the (app_id, channel, token) unique index: PostgreSQL says 54000.
    const huge = randomBytes(2100).toString('base64').slice(0, 2800);
    const multibyte = '北'.repeat(342); // 342 characters, 1026 bytes
    const before = await devices().count();
    for (const token of [huge, multibyte]) {
      const res = await register({ platform: 'android', channel: 'fcm', token }).expect(400);
      expect(res.body).toEqual({ code: 'invalid_parameter', message: 'token: at most 1024 bytes (UTF-8)' });
    }
    expect(await devices().count()).toBe(before);

    const atLimit = `${'a'.repeat(1021)}北`; // 1024 bytes
    const reg = await register({ platform: 'android', channel: 'fcm', token: atLimit }).expect(200);
    const rid = reg.body.registration_id as string;
    const auth = { Authorization: `Bearer ${rid}:${reg.body.device_secret}` };
    for (const token of [huge, multibyte]) {
      const res = await http().put(`/sdk/v1/devices/${rid}`).set(auth).send({ token }).expect(400);
      expect(res.body.code).toBe('invalid_parameter');
      expect(res.body.message).toMatch(/^token: at most 1024 bytes/);
    }
    expect((await devices().findOneByOrFail({ registrationId: rid })).token).toBe(atLimit);
  });

  it('refuses a missing or unknown app key with 401', async () => {
    await http().post('/sdk/v1/register').send({ platform: 'android', channel: 'gateway' }).expect(401);
    const res = await http()
      .post('/sdk/v1/register')
      .set('X-App-Key', 'A'.repeat(24))
      .send({ platform: 'android', channel: 'gateway' })
      .expect(401);
    expect(res.body.code).toBe('unauthorized');
  });

  it('changes tags from the device all or nothing, within the limits', async () => {
    const reg = await register({ platform: 'android', channel: 'gateway' }).expect(200);
    const rid = reg.body.registration_id as string;
    const auth = { Authorization: `Bearer ${rid}:${reg.body.device_secret}` };
    await http()
      .post(`/sdk/v1/devices/${rid}/tags`)
      .set(auth)
      .send({ add: ['vip', '北京', 'a@b.c'] })
      .expect(200, { tags: ['vip', '北京', 'a@b.c'] });
    await http()
      .post(`/sdk/v1/devices/${rid}/tags`)
      .set(auth)
      .send({ remove: ['vip'] })
      .expect(200, { tags: ['北京', 'a@b.c'] });
    const bad = await http()
      .post(`/sdk/v1/devices/${rid}/tags`)
      .set(auth)
      .send({ add: ['ok', 'not ok!'] })
      .expect(400);
    expect(bad.body.code).toBe('invalid_parameter');
    await http()
      .post(`/sdk/v1/devices/${rid}/tags`)
      .set(auth)
      .send({ add: Array.from({ length: 1001 }, (_, i) => `t${i}`) })
      .expect(400);
    expect((await devices().findOneByOrFail({ registrationId: rid })).tags).toEqual(['北京', 'a@b.c']);
    await http().post(`/sdk/v1/devices/${rid}/tags`).set(auth).send({ set: [] }).expect(200, { tags: [] });
  });

  it('binds an alias to at most ten devices, even when they bind at once', async () => {
    const regs = await Promise.all(
      Array.from({ length: 12 }, () => register({ platform: 'android', channel: 'gateway' })),
    );
    const results = await Promise.all(
      regs.map((r) =>
        http()
          .post(`/sdk/v1/devices/${r.body.registration_id}/alias`)
          .set('Authorization', `Bearer ${r.body.registration_id}:${r.body.device_secret}`)
          .send({ alias: 'family' }),
      ),
    );
    expect(results.filter((r) => r.status === 200)).toHaveLength(10);
    expect(results.filter((r) => r.status === 409).map((r) => r.body.code)).toEqual(['conflict', 'conflict']);
    expect(await devices().countBy({ appId: tenant.app.app.id, alias: 'family' })).toBe(10);
  });

  it('lets a device act only on itself', async () => {
    const a = await register({ platform: 'android', channel: 'gateway' }).expect(200);
    const b = await register({ platform: 'android', channel: 'gateway' }).expect(200);
    await http()
      .post(`/sdk/v1/devices/${b.body.registration_id}/alias`)
      .set('Authorization', `Bearer ${a.body.registration_id}:${a.body.device_secret}`)
      .send({ alias: 'hijack' })
      .expect(403);
  });

  it('stores a receipt once, however often the device repeats it', async () => {
    const reg = await register({ platform: 'ios', channel: 'apns', token: 'b'.repeat(64) }).expect(200);
    const auth = { Authorization: `Bearer ${reg.body.registration_id}:${reg.body.device_secret}` };
    for (let i = 0; i < 3; i++) {
      await http()
        .post('/sdk/v1/receipts')
        .set(auth)
        .send({ msg_id: '1000000042', event: 'opened' })
        .expect(200, {});
    }
    await http()
      .post('/sdk/v1/receipts')
      .set(auth)
      .send({ msg_id: 1000000042, event: 'delivered', at: '2026-11-22T10:00:00+08:00' })
      .expect(200);
    const rows = await ctx.db.getRepository(DeviceReceiptEntity).find({ order: { event: 'ASC' } });
    expect(rows.map((r) => [r.messageId, r.event])).toEqual([
      ['1000000042', 'delivered'],
      ['1000000042', 'opened'],
    ]);
    expect(rows[0].occurredAt.toISOString()).toBe('2026-11-22T02:00:00.000Z');
    await http().post('/sdk/v1/receipts').set(auth).send({ msg_id: 'abc', event: 'opened' }).expect(400);
  });

  it('counts each authenticated SDK request as contact, writing last_seen_at at most once a minute', async () => {
    const reg = await register({ platform: 'ios', channel: 'apns', token: 'c'.repeat(64) }).expect(200);
    const rid = reg.body.registration_id as string;
    const auth = { Authorization: `Bearer ${rid}:${reg.body.device_secret}` };
    const seen = async () => (await devices().findOneByOrFail({ registrationId: rid })).lastSeenAt!.getTime();
    const seenAgo = (ago: string) =>
      ctx.db.query(`UPDATE devices SET last_seen_at = now() - $2::interval WHERE registration_id = $1`, [
        rid,
        ago,
      ]);
    const calls = {
      receipt: () =>
        http().post('/sdk/v1/receipts').set(auth).send({ msg_id: '1000000043', event: 'delivered' }),
      tags: () =>
        http()
          .post(`/sdk/v1/devices/${rid}/tags`)
          .set(auth)
          .send({ add: ['daily'] }),
      alias: () => http().post(`/sdk/v1/devices/${rid}/alias`).set(auth).send({ alias: 'seen_daily' }),
    };
    for (const call of Object.values(calls)) {
      await seenAgo('3 days');
      const before = Date.now();
      await call().expect(200);
      expect(await seen()).toBeGreaterThanOrEqual(before - 1000);
    }
    // Seen within the minute: no write.
    await seenAgo('30 seconds');
    const stored = await seen();
    await calls.receipt().expect(200);
    await calls.tags().expect(200);
    expect(await seen()).toBe(stored);
  });
});

describe('SDK registration rate limit', () => {
  let ctx: TestContext;
  let app: INestApplication;

  beforeAll(async () => {
    ctx = await createTestContext({ HERALD_SDK_REGISTER_PER_MINUTE: '3' });
    app = await createApiApp(ctx.config);
    await app.init();
  });
  afterAll(async () => {
    await app.close();
    await ctx.close();
  });

  it('answers 429 with Retry-After once an address is over its limit, and registers nothing more', async () => {
    const { app: created } = await createTenantFixture(ctx.db, ctx.config);
    const send = () =>
      request(app.getHttpServer())
        .post('/sdk/v1/register')
        .set('X-App-Key', created.appKey)
        .send({ platform: 'android', channel: 'gateway' });
    const statuses: number[] = [];
    for (let i = 0; i < 5; i++) statuses.push((await send()).status);
    expect(statuses).toEqual([200, 200, 200, 429, 429]);
    const res = await send().expect(429);
    expect(res.body).toEqual({
      code: 'rate_limited',
      message: expect.stringMatching(/at most 3 per minute/),
    });
    expect(Number(res.headers['retry-after'])).toBeGreaterThan(0);
    expect(await ctx.db.getRepository(DeviceEntity).count()).toBe(3);
  });
});
