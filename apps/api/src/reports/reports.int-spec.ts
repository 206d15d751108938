import type { INestApplication } from '@nestjs/common';
import request from 'supertest';
import {
  createTenantFixture,
  createTestContext,
  type TenantFixture,
  type TestContext,
} from '@herald/testing';
import { createApiApp } from '../api.bootstrap';

const day = (ago: number, hour = 12) => {
  const now = new Date();
  return new Date(Date.UTC(now.getUTCFullYear(), now.getUTCMonth(), now.getUTCDate() - ago, hour));
};
const ymd = (d: Date) => d.toISOString().slice(0, 10);

describe('JPush report APIs and the delivery ledger (real PostgreSQL and Redis)', () => {
  let ctx: TestContext;
  let app: INestApplication;
  let t: TenantFixture;
  let other: TenantFixture;
  let m1: string;
  let m2: string;
  let foreign: string;
  const http = () => request(app.getHttpServer());
  const sentAt = new Date('2025-01-02T03:04:05.000Z');
  const deliveredAt = new Date('2025-01-02T03:04:06.000Z');
  const clickedAt = new Date('2025-01-02T03:05:00.000Z');

  const message = async (f: TenantFixture): Promise<string> => {
    const [row]: { id: string }[] = await ctx.db.query(
      `INSERT INTO messages (app_id, request, audience, platforms, status)
       VALUES ($1, '{}', '"all"', '{ios,android}', 'completed') RETURNING id`,
      [f.app.app.id],
    );
    return row.id;
  };
  const counters = (msg: string, channel: string, c: number[]) =>
    ctx.db.query(
      `INSERT INTO message_counters (message_id, channel, targets, sent, failed, delivered, clicked, dismissed)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8)`,
      [msg, channel, ...c],
    );

  beforeAll(async () => {
    ctx = await createTestContext();
    app = await createApiApp(ctx.config);
    await app.init();
    t = await createTenantFixture(ctx.db, ctx.config, {
      devices: [{ channel: 'apns' }, { channel: 'fcm' }, { channel: 'gateway' }],
    });
    other = await createTenantFixture(ctx.db, ctx.config, { devices: [{ channel: 'fcm' }] });
    m1 = await message(t);
    m2 = await message(t);
    foreign = await message(other);
    //                         targets sent failed delivered clicked dismissed
    await counters(m1, 'apns', [3, 2, 1, 1, 1, 0]);
    await counters(m1, 'fcm', [2, 2, 0, 1, 0, 0]);
    await counters(m1, 'gateway', [4, 4, 0, 3, 2, 1]);
    await counters(foreign, 'fcm', [9, 9, 0, 9, 9, 0]);
    await ctx.db.query(
      `INSERT INTO message_failures (message_id, channel, reason, count)
       VALUES ($1, 'apns', 'BadDeviceToken', 1), ($2, 'fcm', 'UNREGISTERED', 5)`,
      [m1, foreign],
    );
    const [ios, fcm] = t.devices;
    await ctx.db.query(
      `INSERT INTO deliveries (message_id, device_id, app_id, channel, state, reason, provider_message_id,
                               provider_status, attempts, sent_at, delivered_at, clicked_at)
       VALUES ($1, $2, $3, 'apns', 'delivered', NULL, 'apns-uuid-1', 200, 1, $5, $6, $7),
              ($1, $4, $3, 'fcm', 'sent', NULL, 'projects/p/messages/1', 200, 2, $5, NULL, NULL),
              ($8, $9, $10, 'fcm', 'delivered', NULL, NULL, 200, 1, $5, $6, NULL)`,
      [
        m1,
        ios.device.id,
        t.app.app.id,
        fcm.device.id,
        sentAt,
        deliveredAt,
        clickedAt,
        foreign,
        other.devices[0].device.id,
        other.app.app.id,
      ],
    );
  });
  afterAll(async () => {
    await app.close();
    await ctx.close();
  });

  describe('received and messages', () => {
    it('GET /v3/received maps the gateway and FCM to Android, and answers null where there is no data', async () => {
      const res = await http()
        .get(`/v3/received?msg_ids=${m1},${m2},${foreign}`)
        .set('Authorization', t.app.basicAuth)
        .expect(200);
      expect(res.headers['content-type']).toMatch(/application\/json/);
      const none = {
        android_received: null,
        ios_apns_sent: null,
        ios_apns_received: null,
        ios_msg_received: null,
        wp_mpns_sent: null,
      };
      expect(res.body).toEqual([
        {
          msg_id: m1,
          android_received: 4,
          ios_apns_sent: 2,
          ios_apns_received: 1,
          ios_msg_received: null,
          wp_mpns_sent: null,
        },
        { msg_id: m2, ...none },
        // another app's message reads like an unknown one
        { msg_id: foreign, ...none },
      ]);
    });

    it('GET /v3/received/detail separates JPush’s channel (gateway) from the vendor channel (FCM)', async () => {
      const res = await http()
        .get(`/v3/received/detail?msg_ids=${m1}`)
        .set('Authorization', t.app.basicAuth)
        .expect(200);
      expect(res.body).toEqual([
        {
          msg_id: m1,
          jpush_received: 3,
          android_pns_sent: 2,
          android_pns_received: 1,
          ios_apns_sent: 2,
          ios_apns_received: 1,
          ios_msg_received: null,
          live_acivity_sent: null,
          live_acivity_received: null,
          wp_mpns_sent: null,
          quickapp_jpush_received: null,
          quickapp_pns_sent: null,
          hmos_hmpns_received: null,
          hmos_hmpns_sent: null,
          hmos_msg_received: null,
          hmos_msg_sent: null,
        },
      ]);
    });

    it('GET /v3/messages answers the old shape', async () => {
      const res = await http()
        .get(`/v3/messages?msg_ids=${m1}`)
        .set('Authorization', t.app.basicAuth)
        .expect(200);
      expect(res.body).toEqual([
        {
          msg_id: m1,
          android: { target: 6, online_push: 6, received: 4, click: 2, msg_click: null },
          ios: { apns_target: 3, apns_sent: 2, apns_received: 1, click: 1, target: null, received: null },
          winphone: { mpns_target: null, mpns_sent: null, click: null },
        },
      ]);
    });

    it('GET /v3/messages/detail answers per channel, with Herald’s failures by reason', async () => {
      const res = await http()
        .get(`/v3/messages/detail?msg_ids=${m1},${foreign}`)
        .set('Authorization', t.app.basicAuth)
        .expect(200);
      const zero = { target: 0, sent: 0, received: 0 };
      const nil = { target: null, sent: null, received: null };
      expect(res.body).toEqual([
        {
          msg_id: m1,
          jpush: { target: 4, online_push: 4, received: 3, click: 2, msg_click: null },
          android_pns: {
            pns_target: 2,
            pns_sent: 2,
            pns_received: 1,
            xm_detail: zero,
            hw_detail: zero,
            mz_detail: zero,
            oppo_detail: zero,
            vivo_detail: zero,
            fcm_detail: { target: 2, sent: 2, received: 1 },
          },
          ios: {
            apns_target: 3,
            apns_sent: 2,
            apns_received: 1,
            apns_click: 1,
            msg_target: null,
            msg_received: null,
          },
          winphone: { mpns_target: null, mpns_sent: null, click: null },
          herald: {
            apns: {
              targets: 3,
              sent: 2,
              failed: 1,
              delivered: 1,
              clicked: 1,
              dismissed: 0,
              failures: { BadDeviceToken: 1 },
            },
            fcm: { targets: 2, sent: 2, failed: 0, delivered: 1, clicked: 0, dismissed: 0, failures: {} },
            gateway: { targets: 4, sent: 4, failed: 0, delivered: 3, clicked: 2, dismissed: 1, failures: {} },
          },
        },
        {
          msg_id: foreign,
          jpush: { target: null, online_push: null, received: null, click: null, msg_click: null },
          android_pns: {
            pns_target: null,
            pns_sent: null,
            pns_received: null,
            xm_detail: nil,
            hw_detail: nil,
            mz_detail: nil,
            oppo_detail: nil,
            vivo_detail: nil,
            fcm_detail: nil,
          },
          ios: {
            apns_target: null,
            apns_sent: null,
            apns_received: null,
            apns_click: null,
            msg_target: null,
            msg_received: null,
          },
          winphone: { mpns_target: null, mpns_sent: null, click: null },
          herald: {},
        },
      ]);
    });

    it('answers a missing, malformed or oversized msg_ids with JPush errors, never a 500', async () => {
      for (const path of ['/v3/received', '/v3/received/detail', '/v3/messages', '/v3/messages/detail']) {
        const none = await http().get(path).set('Authorization', t.app.basicAuth).expect(400);
        expect(none.body).toEqual({ error: { code: 1002, message: expect.stringMatching(/msg_ids/) } });
        const empty = await http().get(`${path}?msg_ids=,`).set('Authorization', t.app.basicAuth).expect(400);
        expect(empty.body.error.code).toBe(1002);
        const bad = await http()
          .get(`${path}?msg_ids=1,abc`)
          .set('Authorization', t.app.basicAuth)
          .expect(400);
        expect(bad.body.error.code).toBe(1003);
      }
      const ids = Array.from({ length: 101 }, (_, i) => String(1000 + i)).join(',');
      const many = await http().get(`/v3/received?msg_ids=${ids}`).set('Authorization', t.app.basicAuth);
      expect(many.status).toBe(400);
      expect(many.body.error.code).toBe(1003);
      const hundred = ids.split(',').slice(0, 100).join(',');
      const ok = await http().get(`/v3/received?msg_ids=${hundred}`).set('Authorization', t.app.basicAuth);
      expect(ok.status).toBe(200);
      expect(ok.body).toHaveLength(100);
      // ids that cannot be Herald messages simply have no data
      const huge = await http()
        .get('/v3/received?msg_ids=0,99999999999999999999')
        .set('Authorization', t.app.basicAuth)
        .expect(200);
      expect(huge.body.map((r: { msg_id: string; android_received: null }) => r.android_received)).toEqual([
        null,
        null,
      ]);
      const anonymous = await http().get(`/v3/received?msg_ids=${m1}`).expect(401);
      expect(anonymous.body.error.code).toBe(1004);
    });
  });

  describe('POST /v3/status/message', () => {
    it('answers per registration id: 0 delivered, 1 not delivered, 2 not this app’s, 3 not a target', async () => {
      const [ios, fcm, gw] = t.devices;
      const res = await http()
        .post('/v3/status/message')
        .set('Authorization', t.app.basicAuth)
        .send({
          msg_id: Number(m1),
          registration_ids: [
            ios.device.registrationId,
            fcm.device.registrationId,
            gw.device.registrationId,
            other.devices[0].device.registrationId,
            'nosuchdevice',
          ],
        })
        .expect(200);
      expect(res.body).toEqual({
        [ios.device.registrationId]: { status: 0 },
        [fcm.device.registrationId]: { status: 1 },
        [gw.device.registrationId]: { status: 3 },
        [other.devices[0].device.registrationId]: { status: 2 },
        nosuchdevice: { status: 2 },
      });
      // another app's message: its target is not a device of this app
      const foreignMsg = await http()
        .post('/v3/status/message')
        .set('Authorization', t.app.basicAuth)
        .send({ msg_id: foreign, registration_ids: [ios.device.registrationId] })
        .expect(200);
      expect(foreignMsg.body).toEqual({ [ios.device.registrationId]: { status: 3 } });
    });

    it('reads `date` as the end of that day: a later delivery was not delivered yet', async () => {
      const rid = t.devices[0].device.registrationId;
      const before = await http()
        .post('/v3/status/message')
        .set('Authorization', t.app.basicAuth)
        .send({ msg_id: m1, registration_ids: [rid], date: '2025-01-01' })
        .expect(200);
      expect(before.body).toEqual({ [rid]: { status: 1 } });
      const on = await http()
        .post('/v3/status/message')
        .set('Authorization', t.app.basicAuth)
        .send({ msg_id: m1, registration_ids: [rid], date: '2025-01-02' })
        .expect(200);
      expect(on.body).toEqual({ [rid]: { status: 0 } });
    });

    it('answers bad requests with 1002 / 1003', async () => {
      const post = (body: unknown) =>
        http()
          .post('/v3/status/message')
          .set('Authorization', t.app.basicAuth)
          .send(body as object);
      expect((await post({ registration_ids: ['a'] }).expect(400)).body.error.code).toBe(1002);
      expect((await post({ msg_id: m1 }).expect(400)).body.error.code).toBe(1002);
      expect((await post({ msg_id: 'x1', registration_ids: ['a'] }).expect(400)).body.error.code).toBe(1003);
      expect((await post({ msg_id: m1, registration_ids: 'a' }).expect(400)).body.error.code).toBe(1003);
      expect((await post({ msg_id: m1, registration_ids: [] }).expect(400)).body.error.code).toBe(1003);
      const many = Array.from({ length: 1001 }, (_, i) => `r${i}`);
      expect((await post({ msg_id: m1, registration_ids: many }).expect(400)).body.error.code).toBe(1003);
      expect(
        (await post({ msg_id: m1, registration_ids: ['a'], date: '2025-02-30' }).expect(400)).body.error.code,
      ).toBe(1003);
      const noBody = await http()
        .post('/v3/status/message')
        .set('Authorization', t.app.basicAuth)
        .expect(400);
      expect(noBody.body.error.code).toBe(1002);
    });
  });

  describe('GET /v3/messages/{msg_id}/devices/{rid}', () => {
    it('answers the ledger row of one message on one device', async () => {
      const rid = t.devices[0].device.registrationId;
      const res = await http()
        .get(`/v3/messages/${m1}/devices/${rid}`)
        .set('Authorization', t.app.basicAuth)
        .expect(200);
      expect(res.body).toEqual({
        msg_id: m1,
        registration_id: rid,
        channel: 'apns',
        state: 'delivered',
        reason: null,
        provider_message_id: 'apns-uuid-1',
        provider_status: 200,
        attempts: 1,
        sent_at: sentAt.toISOString(),
        delivered_at: deliveredAt.toISOString(),
        clicked_at: clickedAt.toISOString(),
        dismissed_at: null,
        created_at: expect.any(String),
        updated_at: expect.any(String),
      });
    });

    it('answers 404 in JPush’s shape for a device the message never reached, another app’s row, or junk', async () => {
      const cases = [
        `/v3/messages/${m1}/devices/${t.devices[2].device.registrationId}`,
        `/v3/messages/${foreign}/devices/${other.devices[0].device.registrationId}`,
        `/v3/messages/abc/devices/${t.devices[0].device.registrationId}`,
      ];
      for (const path of cases) {
        const res = await http().get(path).set('Authorization', t.app.basicAuth).expect(404);
        expect(res.body).toEqual({ error: { code: 1003, message: expect.any(String) } });
      }
    });
  });

  describe('GET /v3/users', () => {
    let u: TenantFixture;

    beforeAll(async () => {
      u = await createTenantFixture(ctx.db, ctx.config, {
        devices: [{ channel: 'fcm' }, { channel: 'fcm' }, { channel: 'apns' }, { channel: 'apns' }],
      });
      const [a1, a2, i1, i2] = u.devices.map((d) => d.device.id);
      const set = (id: string, col: string, at: Date | null) =>
        ctx.db.query(`UPDATE devices SET ${col} = $2 WHERE id = $1`, [id, at]);
      await set(a1, 'created_at', day(2, 9));
      await set(a1, 'last_seen_at', day(2, 15));
      await set(a2, 'created_at', day(1));
      await set(a2, 'last_seen_at', new Date());
      await set(i1, 'created_at', day(70));
      await set(i2, 'created_at', day(2));
      await set(i2, 'token_updated_at', day(1, 8));
      // i1 opened a notification yesterday: the ledger is its sign of life
      const [msg]: { id: string }[] = await ctx.db.query(
        `INSERT INTO messages (app_id, request, audience, platforms, created_at)
         VALUES ($1, '{}', '"all"', '{ios}', $2) RETURNING id`,
        [u.app.app.id, day(1, 6)],
      );
      await ctx.db.query(
        `INSERT INTO deliveries (message_id, device_id, app_id, channel, state, sent_at, delivered_at, clicked_at)
         VALUES ($1, $2, $3, 'apns', 'delivered', $4, $4, $5)`,
        [msg.id, i1, u.app.app.id, day(1, 6), day(1, 7)],
      );
    });

    it('counts new and active devices per day and platform, leaving out what has no data', async () => {
      const start = ymd(day(3));
      const res = await http()
        .get(`/v3/users?time_unit=DAY&start=${start}&duration=4`)
        .set('Authorization', u.app.basicAuth)
        .expect(200);
      expect(res.body).toEqual({
        time_unit: 'DAY',
        start,
        duration: 4,
        items: [
          { time: ymd(day(3)) },
          { time: ymd(day(2)), android: { new: 1, active: 1 }, ios: { new: 1, active: 1 } },
          { time: ymd(day(1)), android: { new: 1, active: 1 }, ios: { active: 2 } },
          { time: ymd(day(0)), android: { active: 1 } },
        ],
      });
    });

    it('answers HOUR for the current day and MONTH', async () => {
      const v = await createTenantFixture(ctx.db, ctx.config, {
        devices: [{ channel: 'fcm' }, { channel: 'fcm' }],
      });
      const now = new Date();
      const hour = `${ymd(now)} ${String(now.getUTCHours()).padStart(2, '0')}`;
      const h = await http()
        .get(`/v3/users?time_unit=HOUR&start=${encodeURIComponent(hour)}&duration=1`)
        .set('Authorization', v.app.basicAuth)
        .expect(200);
      expect(h.body).toEqual({
        time_unit: 'HOUR',
        start: hour,
        duration: 1,
        items: [{ time: hour, android: { new: 2, active: 2 } }],
      });
      const month = ymd(now).slice(0, 7);
      const mo = await http()
        .get(`/v3/users?time_unit=MONTH&start=${month}&duration=1`)
        .set('Authorization', v.app.basicAuth)
        .expect(200);
      expect(mo.body.items).toEqual([{ time: month, android: { new: 2, active: 2 } }]);
    });

    it('answers bad parameters with 1002, 1003, 3004 and 3005', async () => {
      const get = (q: string) => http().get(`/v3/users?${q}`).set('Authorization', u.app.basicAuth);
      const today = ymd(day(0));
      expect((await get(`start=${today}&duration=1`).expect(400)).body.error.code).toBe(1002);
      expect((await get(`time_unit=DAY&start=${today}`).expect(400)).body.error.code).toBe(1002);
      expect((await get(`time_unit=WEEK&start=${today}&duration=1`).expect(400)).body.error.code).toBe(1003);
      expect((await get(`time_unit=DAY&start=${today}&duration=0`).expect(400)).body.error.code).toBe(1003);
      expect(
        (await get(`time_unit=DAY&start=${today.slice(0, 7)}&duration=1`).expect(400)).body.error.code,
      ).toBe(3004);
      expect((await get(`time_unit=DAY&start=2025-02-30&duration=1`).expect(400)).body.error.code).toBe(3004);
      expect((await get(`time_unit=DAY&start=2014-06-10&duration=3`).expect(400)).body.error.code).toBe(3005);
      expect((await get(`time_unit=DAY&start=${today}&duration=61`).expect(400)).body.error.code).toBe(3005);
      expect(
        (await get(`time_unit=HOUR&start=${encodeURIComponent(`${ymd(day(1))} 10`)}&duration=1`).expect(400))
          .body.error.code,
      ).toBe(3005);
    });
  });

  it('lets the app that owns a message read it (the same msg_id is null to others)', async () => {
    const res = await http()
      .get(`/v3/received/detail?msg_ids=${foreign}`)
      .set('Authorization', other.app.basicAuth)
      .expect(200);
    expect(res.body[0]).toMatchObject({ msg_id: foreign, android_pns_sent: 9, android_pns_received: 9 });
  });
});
