import type { INestApplication } from '@nestjs/common';
import request from 'supertest';
import {
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
});
