import type { INestApplication } from '@nestjs/common';
import request from 'supertest';
import {
  createDevice,
  createTenantFixture,
  createTestContext,
  type TenantFixture,
  type TestContext,
} from '@herald/testing';
import { createApiApp } from '../api.bootstrap';

/**
 * The push and schedule routes over HTTP through the real api app (real PostgreSQL and Redis; no
 * worker: what is checked is what the api answers and stores).
 */
describe('push and schedule routes (real PostgreSQL and Redis)', () => {
  let ctx: TestContext;
  let api: INestApplication;

  beforeAll(async () => {
    ctx = await createTestContext();
    api = await createApiApp(ctx.config);
    await api.init();
  });
  afterAll(async () => {
    await api?.close();
    await ctx?.close();
  });

  const http = () => request(api.getHttpServer());
  const tenant = () =>
    createTenantFixture(ctx.db, ctx.config, { devices: [{ channel: 'gateway', alias: 'al' }] });
  const post = (t: TenantFixture, path: string, body: unknown, key?: string) => {
    const req = http().post(path).set('Authorization', t.app.basicAuth);
    if (key !== undefined) req.set('Idempotency-Key', key);
    return req.send(body as object);
  };
  const count = async (table: 'messages' | 'schedules', t: TenantFixture) => {
    const [{ n }] = await ctx.db.query<{ n: number }[]>(
      `SELECT count(*)::int AS n FROM ${table} WHERE app_id = $1`,
      [t.app.app.id],
    );
    return n;
  };
  const pushBody = (patch: Record<string, unknown> = {}) => ({
    platform: 'all',
    audience: 'all',
    notification: { alert: 'hello' },
    ...patch,
  });
  const scheduleBody = (patch: Record<string, unknown> = {}) => ({
    name: 'n1',
    enabled: true,
    trigger: { single: { time: '2099-01-01 12:00:00' } },
    push: pushBody(),
    ...patch,
  });

  describe('POST /v3/push/validate', () => {
    it('refuses an audience no device matches with 1011, as the push does', async () => {
      const t = await tenant();
      const nobody = pushBody({ audience: { alias: ['nobody'] } });
      const validated = await post(t, '/v3/push/validate', nobody).expect(400);
      const pushed = await post(t, '/v3/push', nobody).expect(400);
      expect(validated.body).toEqual({ error: { code: 1011, message: expect.any(String) } });
      expect(validated.body).toEqual(pushed.body);

      const ok = await post(t, '/v3/push/validate', pushBody({ audience: { alias: ['al'] } })).expect(200);
      expect(ok.body).toMatchObject({ msg_id: '0', audience_size: 1, channels: { gateway: { count: 1 } } });
      expect(await count('messages', t)).toBe(0);
    });
  });

  describe('cid shared by pushes and schedules', () => {
    it("a push reusing a schedule's cid is refused with 1003 and sends nothing", async () => {
      const t = await tenant();
      const cid = `${t.app.appKey}-00000000-0000-4000-8000-000000000001`;
      const created = await post(t, '/v3/schedules', scheduleBody({ cid })).expect(200);
      expect(created.body).toEqual({ schedule_id: expect.any(String), name: 'n1' });

      const res = await post(t, '/v3/push', pushBody({ cid })).expect(400);
      expect(res.body).toEqual({ error: { code: 1003, message: expect.stringMatching(/cid.*schedule/) } });
      expect(await count('messages', t)).toBe(0);
    });

    it("a batch entry reusing a schedule's cid gets its own 1003; the others are sent", async () => {
      const t = await tenant();
      const used = `${t.app.appKey}-00000000-0000-4000-8000-000000000002`;
      const fresh = `${t.app.appKey}-00000000-0000-4000-8000-000000000003`;
      await post(t, '/v3/schedules', scheduleBody({ cid: used })).expect(200);
      const entry = { platform: 'all', target: 'al', notification: { alert: 'hi' } };
      const res = await post(t, '/v3/push/batch/alias/single', {
        pushlist: { [used]: entry, [fresh]: entry },
      }).expect(200);
      expect(res.body).toEqual({
        [used]: { error: { code: 1003, message: expect.stringMatching(/cid.*schedule/) } },
        [fresh]: { sendno: '0', msg_id: expect.any(String) },
      });
      expect(await count('messages', t)).toBe(1);
    });

    it("a schedule reusing a push's cid is refused with 8100 and creates nothing", async () => {
      const t = await tenant();
      const cid = `${t.app.appKey}-00000000-0000-4000-8000-000000000004`;
      await post(t, '/v3/push', pushBody({ cid })).expect(200);
      const res = await post(t, '/v3/schedules', scheduleBody({ cid })).expect(400);
      expect(res.body).toEqual({ error: { code: 8100, message: expect.stringMatching(/cid.*push/) } });
      expect(await count('schedules', t)).toBe(0);
    });
  });

  describe('Idempotency-Key on every POST that creates something', () => {
    it('POST /v3/schedules: the same key and body return the first schedule; another body is 409', async () => {
      const t = await tenant();
      const first = await post(t, '/v3/schedules', scheduleBody(), 'k-1').expect(200);
      const again = await post(t, '/v3/schedules', scheduleBody(), 'k-1').expect(200);
      expect(again.body).toEqual(first.body);
      expect(await count('schedules', t)).toBe(1);

      const other = await post(t, '/v3/schedules', scheduleBody({ name: 'n2' }), 'k-1').expect(409);
      expect(other.body).toEqual({
        error: { code: 8100, message: expect.stringMatching(/Idempotency-Key/) },
      });
      expect(await count('schedules', t)).toBe(1);
      // Without a key, or with another one, the same body is a new schedule.
      await post(t, '/v3/schedules', scheduleBody(), 'k-2').expect(200);
      await post(t, '/v3/schedules', scheduleBody()).expect(200);
      expect(await count('schedules', t)).toBe(3);
      await post(t, '/v3/schedules', scheduleBody(), 'not ascii é').expect(400);
    });

    it('POST /v3/schedules: concurrent duplicates create one schedule', async () => {
      const t = await tenant();
      const answers = await Promise.all(
        [1, 2, 3].map(() => post(t, '/v3/schedules', scheduleBody(), 'k-race').expect(200)),
      );
      expect(new Set(answers.map((a) => a.body.schedule_id as string)).size).toBe(1);
      expect(await count('schedules', t)).toBe(1);
    });

    it('a replayed schedule creation answers before the other checks (its trigger time may be past by then)', async () => {
      const t = await tenant();
      const cid = `${t.app.appKey}-00000000-0000-4000-8000-000000000006`;
      const first = await post(t, '/v3/schedules', scheduleBody({ cid })).expect(200);
      const past = { single: { time: '2000-01-01 12:00:00' } };
      const again = await post(t, '/v3/schedules', scheduleBody({ cid, trigger: past })).expect(200);
      expect(again.body).toEqual(first.body);
    });

    it('a schedule key and cid are written with the schedule, in its transaction', async () => {
      const t = await tenant();
      const cid = `${t.app.appKey}-00000000-0000-4000-8000-000000000005`;
      const res = await post(t, '/v3/schedules', scheduleBody({ cid }), 'k-both').expect(200);
      const rows = await ctx.db.query<{ kind: string; response: unknown; days: number }[]>(
        `SELECT kind, response, round(extract(epoch FROM expires_at - now()) / 86400)::int AS days
           FROM idempotency_records WHERE app_id = $1 ORDER BY kind`,
        [t.app.app.id],
      );
      expect(rows).toEqual([
        { kind: 'cid', response: res.body, days: 1 },
        { kind: 'key', response: res.body, days: 30 },
      ]);
    });

    it('POST /v3/push/batch/*/single: the same key and body return the first answer; another body is 409', async () => {
      const t = await tenant();
      const cid = (n: number) => `${t.app.appKey}-00000000-0000-4000-8000-00000000010${n}`;
      const entry = { platform: 'all', target: 'al', notification: { alert: 'hi' } };
      const batch = { pushlist: { [cid(1)]: entry, [cid(2)]: { ...entry, target: 'nobody' } } };
      const first = await post(t, '/v3/push/batch/alias/single', batch, 'b-1').expect(200);
      expect(first.body).toEqual({
        [cid(1)]: { sendno: '0', msg_id: expect.any(String) },
        [cid(2)]: { error: { code: 1011, message: expect.any(String) } },
      });
      // A device for the second entry now exists: a replay still answers as the first time.
      await createDevice(ctx.db, ctx.config, t.app.app, { channel: 'gateway', alias: 'nobody' });
      const again = await post(t, '/v3/push/batch/alias/single', batch, 'b-1').expect(200);
      expect(again.body).toEqual(first.body);
      expect(await count('messages', t)).toBe(1);

      const other = { pushlist: { [cid(3)]: entry } };
      const refused = await post(t, '/v3/push/batch/alias/single', other, 'b-1').expect(409);
      expect(refused.body).toEqual({
        error: { code: 1003, message: expect.stringMatching(/Idempotency-Key/) },
      });
      // The same body on the other batch route is another request.
      await post(t, '/v3/push/batch/regid/single', batch, 'b-1').expect(409);
      expect(await count('messages', t)).toBe(1);

      // Without a key the batch runs again: its cids replay the sent entry, the other is now sent.
      const unkeyed = await post(t, '/v3/push/batch/alias/single', batch).expect(200);
      expect(unkeyed.body[cid(1)]).toEqual(first.body[cid(1)]);
      expect(unkeyed.body[cid(2)]).toEqual({ sendno: '0', msg_id: expect.any(String) });
      expect(await count('messages', t)).toBe(2);
    });

    it('a key is one request on one route: reused on another route it is 409 and nothing is created', async () => {
      const t = await tenant();
      const pushed = await post(t, '/v3/push', pushBody(), 'k-shared').expect(200);
      const sched = await post(t, '/v3/schedules', scheduleBody(), 'k-shared').expect(409);
      expect(sched.body.error.code).toBe(8100);
      const batch = {
        pushlist: {
          [`${t.app.appKey}-00000000-0000-4000-8000-000000000201`]: {
            platform: 'all',
            target: 'al',
            notification: { alert: 'hello' },
          },
        },
      };
      await post(t, '/v3/push/batch/alias/single', batch, 'k-shared').expect(409);
      await post(t, '/v3/schedules', scheduleBody(), 'k-s').expect(200);
      const push = await post(t, '/v3/push', pushBody(), 'k-s').expect(409);
      expect(push.body.error.code).toBe(1003);
      // The push's own key still replays it.
      const again = await post(t, '/v3/push', pushBody(), 'k-shared').expect(200);
      expect(again.body).toEqual(pushed.body);
      expect(await count('messages', t)).toBe(1);
      expect(await count('schedules', t)).toBe(1);
    });
  });

  describe('expiry', () => {
    it('a cid or key whose time is up (not purged yet) is a new one: the request is sent again', async () => {
      const t = await tenant();
      const cid = `${t.app.appKey}-00000000-0000-4000-8000-000000000301`;
      const first = await post(t, '/v3/push', pushBody({ cid }), 'k-exp').expect(200);
      expect((await post(t, '/v3/push', pushBody({ cid }), 'k-exp').expect(200)).body).toEqual(first.body);
      await ctx.db.query(
        `UPDATE idempotency_records SET expires_at = now() - interval '1 second' WHERE app_id = $1`,
        [t.app.app.id],
      );
      const later = await post(t, '/v3/push', pushBody({ cid }), 'k-exp').expect(200);
      expect(later.body.msg_id).not.toBe(first.body.msg_id);
      // …and that answer is the one replayed from now on.
      expect((await post(t, '/v3/push', pushBody({ cid }), 'k-exp').expect(200)).body).toEqual(later.body);
      const batch = {
        pushlist: {
          [`${t.app.appKey}-00000000-0000-4000-8000-000000000302`]: {
            platform: 'all',
            target: 'al',
            notification: { alert: 'hello' },
          },
        },
      };
      await post(t, '/v3/push/batch/alias/single', batch, 'k-exp-batch').expect(200);
      await ctx.db.query(
        `UPDATE idempotency_records SET expires_at = now() - interval '1 second' WHERE app_id = $1 AND key = 'k-exp-batch'`,
        [t.app.app.id],
      );
      // A different body under the expired key is no conflict.
      const other = {
        pushlist: {
          [`${t.app.appKey}-00000000-0000-4000-8000-000000000303`]: {
            platform: 'all',
            target: 'al',
            notification: { alert: 'hello again' },
          },
        },
      };
      await post(t, '/v3/push/batch/alias/single', other, 'k-exp-batch').expect(200);
      expect(await count('messages', t)).toBe(4);
    });
  });
});
