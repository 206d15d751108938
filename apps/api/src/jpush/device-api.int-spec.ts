import type { INestApplication } from '@nestjs/common';
import request from 'supertest';
import { SecretHasher } from '@herald/crypto';
import { AppEntity, DeviceEntity } from '@herald/db';
import {
  createDevice,
  createTenantFixture,
  createTestContext,
  type CreatedDevice,
  type TenantFixture,
  type TestContext,
} from '@herald/testing';
import { createApiApp } from '../api.bootstrap';

describe('JPush device, tag and alias APIs (real PostgreSQL and Redis)', () => {
  let ctx: TestContext;
  let app: INestApplication;
  let t: TenantFixture;
  let other: TenantFixture;
  let ios: CreatedDevice;
  let android: CreatedDevice;
  const http = () => request(app.getHttpServer());
  const auth = () => t.app.basicAuth;
  const device = (d: CreatedDevice) =>
    ctx.db.getRepository(DeviceEntity).findOneByOrFail({ id: d.device.id });

  beforeAll(async () => {
    ctx = await createTestContext();
    app = await createApiApp(ctx.config);
    await app.init();
    t = await createTenantFixture(ctx.db, ctx.config);
    other = await createTenantFixture(ctx.db, ctx.config, { devices: [{ channel: 'fcm', tags: ['vip'] }] });
  });
  beforeEach(async () => {
    await ctx.db.getRepository(DeviceEntity).delete({ appId: t.app.app.id });
    ios = await createDevice(ctx.db, ctx.config, t.app.app, {
      channel: 'apns',
      tags: ['vip', '北京'],
      alias: 'alice',
      mobile: '13012345678',
    });
    android = await createDevice(ctx.db, ctx.config, t.app.app, { channel: 'fcm', tags: ['vip'] });
  });
  afterAll(async () => {
    await app.close();
    await ctx.close();
  });

  it('refuses missing and wrong credentials with the device family codes (7001, 7004)', async () => {
    const none = await http().get(`/v3/devices/${ios.device.registrationId}`).expect(401);
    expect(none.body).toEqual({ error: { code: 7001, message: expect.any(String) } });
    const wrong = await http()
      .get(`/v3/devices/${ios.device.registrationId}`)
      .set('Authorization', `Basic ${Buffer.from(`${t.app.appKey}:${'x'.repeat(24)}`).toString('base64')}`)
      .expect(401);
    expect(wrong.body.error.code).toBe(7004);
    // another app's secret with this app key
    await http()
      .get(`/v3/devices/${ios.device.registrationId}`)
      .set(
        'Authorization',
        `Basic ${Buffer.from(`${t.app.appKey}:${other.app.masterSecret}`).toString('base64')}`,
      )
      .expect(401);
  });

  it('reads a device, with X-Rate-Limit headers on the answer', async () => {
    const res = await http()
      .get(`/v3/devices/${ios.device.registrationId}`)
      .set('Authorization', auth())
      .expect(200);
    expect(res.body).toEqual({ tags: ['vip', '北京'], alias: 'alice', mobile: '13012345678' });
    expect(res.headers['x-rate-limit-limit']).toBe('600');
    expect(res.headers.etag).toBeUndefined();
    expect(Number(res.headers['x-rate-limit-remaining'])).toBeLessThan(600);
    expect(Number(res.headers['x-rate-limit-reset'])).toBeGreaterThanOrEqual(0);
    const bare = await http()
      .get(`/v3/devices/${android.device.registrationId}`)
      .set('Authorization', auth())
      .expect(200);
    expect(bare.body).toEqual({ tags: ['vip'], alias: null, mobile: null });
  });

  it('answers another app’s or an unknown device with 400 and 7002, as JPush documents it, never its data', async () => {
    for (const rid of [other.devices[0].device.registrationId, 'nosuchdevice']) {
      const res = await http().get(`/v3/devices/${rid}`).set('Authorization', auth()).expect(400);
      expect(res.body).toEqual({ error: { code: 7002, message: expect.stringMatching(/^no device/) } });
      await http().post(`/v3/devices/${rid}`).set('Authorization', auth()).send({ alias: 'x' }).expect(400);
    }
  });

  it('refuses an eleventh device on an alias with 400 and 7002', async () => {
    const bound = [];
    for (let i = 0; i < 11; i++)
      bound.push(await createDevice(ctx.db, ctx.config, t.app.app, { channel: 'fcm' }));
    const res = [];
    for (const d of bound) {
      res.push(
        await http()
          .post(`/v3/devices/${d.device.registrationId}`)
          .set('Authorization', auth())
          .send({ alias: 'eleven' }),
      );
    }
    expect(res.map((r) => r.status)).toEqual([...Array(10).fill(200), 400]);
    expect(res[10].body).toEqual({ error: { code: 7002, message: 'alias: already bound to 10 devices' } });
    expect((await device(bound[10])).alias).toBeNull();
  });

  it('updates tags, alias and mobile as JPush does, and all or nothing', async () => {
    await http()
      .post(`/v3/devices/${ios.device.registrationId}`)
      .set('Authorization', auth())
      .send({ tags: { add: ['new_tag'], remove: ['vip'] }, alias: 'bob', mobile: '13800000000' })
      .expect(200, {});
    expect(await device(ios)).toMatchObject({
      tags: ['北京', 'new_tag'],
      alias: 'bob',
      mobile: '13800000000',
    });

    const bad = await http()
      .post(`/v3/devices/${ios.device.registrationId}`)
      .set('Authorization', auth())
      .send({ tags: { add: ['fine', 'not fine!'] }, alias: 'carol' })
      .expect(400);
    expect(bad.body.error.code).toBe(7002);
    expect(await device(ios)).toMatchObject({ tags: ['北京', 'new_tag'], alias: 'bob' });

    await http()
      .post(`/v3/devices/${ios.device.registrationId}`)
      .set('Authorization', auth())
      .send({ tags: '', alias: '', mobile: '' })
      .expect(200);
    expect(await device(ios)).toMatchObject({ tags: [], alias: null, mobile: null });

    const tooMany = await http()
      .post(`/v3/devices/${ios.device.registrationId}`)
      .set('Authorization', auth())
      .send({ tags: { add: Array.from({ length: 101 }, (_, i) => `t${i}`) } })
      .expect(400);
    expect(tooMany.body.error.message).toMatch(/at most 100 tags/);
    const unknown = await http()
      .post(`/v3/devices/${ios.device.registrationId}`)
      .set('Authorization', auth())
      .send({ tagz: [] })
      .expect(400);
    expect(unknown.body.error).toEqual({ code: 7002, message: expect.stringMatching(/unknown field/) });
  });

  it('sets an alias through this API and the SDK at once without a deadlock: both answer 200', async () => {
    for (let i = 0; i < 10; i++) {
      const d = await createDevice(ctx.db, ctx.config, t.app.app, { channel: 'fcm' });
      const alias = `both_${i}`;
      const res = await Promise.all([
        http().post(`/v3/devices/${d.device.registrationId}`).set('Authorization', auth()).send({ alias }),
        http()
          .post(`/sdk/v1/devices/${d.device.registrationId}/alias`)
          .set('Authorization', d.bearer)
          .send({ alias }),
      ]);
      expect(res.map((r) => r.status)).toEqual([200, 200]);
      expect((await device(d)).alias).toBe(alias);
    }
  });

  it('lists tags and answers tag membership', async () => {
    expect((await http().get('/v3/tags/').set('Authorization', auth()).expect(200)).body).toEqual({
      tags: ['vip', '北京'],
    });
    const tag = encodeURIComponent('北京');
    await http()
      .get(`/v3/tags/${tag}/registration_ids/${ios.device.registrationId}`)
      .set('Authorization', auth())
      .expect(200, { result: true });
    await http()
      .get(`/v3/tags/${tag}/registration_ids/${android.device.registrationId}`)
      .set('Authorization', auth())
      .expect(200, { result: false });
  });

  it('routes the doubled slashes JPush’s own client sends', async () => {
    await http()
      .get(`/v3/tags//vip/registration_ids/${ios.device.registrationId}`)
      .set('Authorization', auth())
      .expect(200, { result: true });
  });

  it('adds devices to and removes them from a tag; an unknown or foreign id changes nothing', async () => {
    await http()
      .post('/v3/tags/sale')
      .set('Authorization', auth())
      .send({ registration_ids: { add: [ios.device.registrationId, android.device.registrationId] } })
      .expect(200, {});
    expect((await device(android)).tags).toEqual(['vip', 'sale']);
    await http()
      .post('/v3/tags/sale')
      .set('Authorization', auth())
      .send({ registration_ids: { remove: [android.device.registrationId] } })
      .expect(200);
    expect((await device(android)).tags).toEqual(['vip']);

    const foreign = await http()
      .post('/v3/tags/promo')
      .set('Authorization', auth())
      .send({
        registration_ids: { add: [ios.device.registrationId, other.devices[0].device.registrationId] },
      })
      .expect(400);
    expect(foreign.body.error.code).toBe(7002);
    expect((await device(ios)).tags).not.toContain('promo');
  });

  it('deletes a tag from every device, or only those of some platforms', async () => {
    await http().delete('/v3/tags/vip?platform=ios').set('Authorization', auth()).expect(200, {});
    expect((await device(ios)).tags).toEqual(['北京']);
    expect((await device(android)).tags).toEqual(['vip']);
    await http().delete('/v3/tags/vip').set('Authorization', auth()).expect(200);
    expect((await device(android)).tags).toEqual([]);
    // another app's tag is untouched
    const theirs = await ctx.db
      .getRepository(DeviceEntity)
      .findOneByOrFail({ id: other.devices[0].device.id });
    expect(theirs.tags).toEqual(['vip']);
    await http().delete('/v3/tags/vip?platform=toaster').set('Authorization', auth()).expect(400);
  });

  it('reads and deletes aliases', async () => {
    await http()
      .get('/v3/aliases/alice')
      .set('Authorization', auth())
      .expect(200, { registration_ids: [ios.device.registrationId] });
    await http()
      .get('/v3/aliases/alice?platform=android')
      .set('Authorization', auth())
      .expect(200, { registration_ids: [] });
    await http().delete('/v3/aliases/alice').set('Authorization', auth()).expect(200, {});
    expect((await device(ios)).alias).toBeNull();
  });

  it('answers online status: offline with the last contact, and empty for unknown or foreign ids', async () => {
    await ctx.db
      .getRepository(DeviceEntity)
      .update(ios.device.id, { lastSeenAt: new Date('2026-11-20T08:09:10Z') });
    const res = await http()
      .post('/v3/devices/status/')
      .set('Authorization', auth())
      .send({
        registration_ids: [
          ios.device.registrationId,
          android.device.registrationId,
          other.devices[0].device.registrationId,
          'nope',
        ],
      })
      .expect(200);
    expect(res.body).toEqual({
      [ios.device.registrationId]: { online: false, last_online_time: '2026-11-20 08:09:10' },
      [android.device.registrationId]: { online: false },
      [other.devices[0].device.registrationId]: {},
      nope: {},
    });
    const missing = await http().post('/v3/devices/status').set('Authorization', auth()).send({}).expect(400);
    expect(missing.body.error.code).toBe(7002);
  });

  it('answers 429 with code 2002 over the app’s per-minute limit', async () => {
    const limited = await createTenantFixture(ctx.db, ctx.config);
    await ctx.db.getRepository(AppEntity).update(limited.app.app.id, { rateLimitPerMinute: 2 });
    const call = () => http().get('/v3/tags').set('Authorization', limited.app.basicAuth);
    await call().expect(200);
    await call().expect(200);
    const res = await call().expect(429);
    expect(res.body).toEqual({ error: { code: 2002, message: expect.any(String) } });
    expect(res.headers['x-rate-limit-remaining']).toBe('0');
  });

  it('accepts the previous master secret during its overlap window, and not after', async () => {
    const rotated = await createTenantFixture(ctx.db, ctx.config);
    const oldSecret = 'OldSecretOldSecretOldSec';
    const basic = `Basic ${Buffer.from(`${rotated.app.appKey}:${oldSecret}`).toString('base64')}`;
    await ctx.db.getRepository(AppEntity).update(rotated.app.app.id, {
      previousSecretHash: new SecretHasher(ctx.config.crypto).hash(oldSecret),
      previousSecretExpiresAt: new Date(Date.now() + 60_000),
    });
    await http().get('/v3/tags').set('Authorization', basic).expect(200);
    await http().get('/v3/tags').set('Authorization', rotated.app.basicAuth).expect(200);
    await ctx.db
      .getRepository(AppEntity)
      .update(rotated.app.app.id, { previousSecretExpiresAt: new Date(Date.now() - 1) });
    await http().get('/v3/tags').set('Authorization', basic).expect(401);
  });
});
