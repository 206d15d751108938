import { randomUUID } from 'node:crypto';
import type { INestApplication } from '@nestjs/common';
import request from 'supertest';
import { createTestContext, type TestContext } from '@herald/testing';
import { createApiApp } from '../api.bootstrap';

/** Campaigns through the dashboard: the routes, the role check, tenant isolation, the audit log. */
describe('dashboard campaigns (real PostgreSQL and Redis)', () => {
  let ctx: TestContext;
  let app: INestApplication;
  const http = () => request(app.getHttpServer());
  const PASSWORD = 'correct horse battery staple';

  const account = async () => {
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
    return { auth, appId: created.body.id as string };
  };

  beforeAll(async () => {
    ctx = await createTestContext();
    app = await createApiApp(ctx.config);
    await app.init();
  });
  afterAll(async () => {
    await app.close();
    await ctx.close();
  });

  const body = {
    name: 'weekly_digest',
    push: { platform: 'all', audience: { tag: ['digest'] }, notification: { alert: 'This week' } },
    trigger: {
      periodical: {
        start: '2030-01-01 00:00:00',
        end: '2030-06-01 00:00:00',
        time: '09:00:00',
        time_unit: 'week',
        frequency: 1,
        point: ['MON'],
      },
    },
  };

  it('creates, lists, pauses, resumes and cancels a campaign, each change in the audit log', async () => {
    const a = await account();
    const base = `/dashboard/v1/apps/${a.appId}/campaigns`;
    const created = await http().post(base).set('Authorization', a.auth).send(body).expect(201);
    expect(created.body).toMatchObject({
      name: 'weekly_digest',
      status: 'scheduled',
      timezone: 'Asia/Shanghai',
    });
    // 09:00 in Shanghai on Monday 2030-01-07 is 01:00 UTC.
    expect(created.body.next_fire_at).toBe('2030-01-07T01:00:00.000Z');
    const id = created.body.id as string;

    const list = await http().get(base).set('Authorization', a.auth).expect(200);
    expect(list.body.items.map((c: { id: string }) => c.id)).toEqual([id]);
    const paused = await http().post(`${base}/${id}/pause`).set('Authorization', a.auth).expect(200);
    expect(paused.body.status).toBe('paused');
    const resumed = await http().post(`${base}/${id}/resume`).set('Authorization', a.auth).expect(200);
    expect(resumed.body.status).toBe('scheduled');
    const renamed = await http()
      .patch(`${base}/${id}`)
      .set('Authorization', a.auth)
      .send({ name: 'weekly_digest_v2' })
      .expect(200);
    expect(renamed.body.name).toBe('weekly_digest_v2');
    const runs = await http().get(`${base}/${id}/runs`).set('Authorization', a.auth).expect(200);
    expect(runs.body).toEqual({ items: [], next_cursor: null });
    const cancelled = await http().post(`${base}/${id}/cancel`).set('Authorization', a.auth).expect(200);
    expect(cancelled.body).toMatchObject({ status: 'cancelled', next_fire_at: null });

    const audit = await ctx.db.query<{ action: string }[]>(
      `SELECT action FROM audit_log WHERE target_type = 'campaign' AND target_id = $1 ORDER BY id`,
      [id],
    );
    expect(audit.map((r) => r.action)).toEqual([
      'campaign.create',
      'campaign.pause',
      'campaign.resume',
      'campaign.update',
      'campaign.cancel',
    ]);
  });

  it('refuses a bad campaign with 400 and stores nothing', async () => {
    const a = await account();
    const base = `/dashboard/v1/apps/${a.appId}/campaigns`;
    const res = await http()
      .post(base)
      .set('Authorization', a.auth)
      .send({ ...body, trigger: { periodical: { ...body.trigger.periodical, time_unit: 'year' } } })
      .expect(400);
    expect(res.body).toMatchObject({ code: expect.any(String), message: expect.any(String) });
    const [{ n }] = await ctx.db.query<{ n: number }[]>(
      `SELECT count(*)::int AS n FROM campaigns WHERE app_id = $1`,
      [a.appId],
    );
    expect(n).toBe(0);
  });

  it('refuses a push with a callback, as the dashboard push does (it could never be signed)', async () => {
    const a = await account();
    const base = `/dashboard/v1/apps/${a.appId}/campaigns`;
    const callback = { url: 'https://hooks.example.test/herald', type: 1 };
    const refused = {
      code: 'invalid_parameter',
      message: 'callback: needs the master secret to sign; send pushes with callbacks through POST /v3/push',
      details: { field: 'callback' },
    };
    const direct = await http()
      .post(`/dashboard/v1/apps/${a.appId}/push`)
      .set('Authorization', a.auth)
      .send({ ...body.push, callback })
      .expect(400);
    expect(direct.body).toMatchObject(refused);
    const created = await http()
      .post(base)
      .set('Authorization', a.auth)
      .send({ ...body, push: { ...body.push, callback } })
      .expect(400);
    expect(created.body).toMatchObject(refused);
    const [{ n }] = await ctx.db.query<{ n: number }[]>(
      `SELECT count(*)::int AS n FROM schedules WHERE app_id = $1`,
      [a.appId],
    );
    expect(n).toBe(0);

    const id = (await http().post(base).set('Authorization', a.auth).send(body).expect(201)).body
      .id as string;
    const updated = await http()
      .patch(`${base}/${id}`)
      .set('Authorization', a.auth)
      .send({ push: { ...body.push, callback } })
      .expect(400);
    expect(updated.body).toMatchObject(refused);
    const [row] = await ctx.db.query<{ spec: { callback?: unknown } }[]>(
      `SELECT s.spec FROM schedules s JOIN campaigns c ON c.schedule_id = s.id WHERE c.id = $1`,
      [id],
    );
    expect(row.spec.callback).toBeUndefined();
  });

  it('lists and runs take ?limit=1..200, as every dashboard list', async () => {
    const a = await account();
    const base = `/dashboard/v1/apps/${a.appId}/campaigns`;
    const id = (await http().post(base).set('Authorization', a.auth).send(body).expect(201)).body
      .id as string;
    for (const limit of [101, 200]) {
      const list = await http().get(`${base}?limit=${limit}`).set('Authorization', a.auth).expect(200);
      expect(list.body.items).toHaveLength(1);
      await http().get(`${base}/${id}/runs?limit=${limit}`).set('Authorization', a.auth).expect(200);
    }
    await http().get(`${base}?limit=201`).set('Authorization', a.auth).expect(400);
  });

  it("another tenant's campaign is a 404 on every route, and nothing changes", async () => {
    const a = await account();
    const b = await account();
    const created = await http()
      .post(`/dashboard/v1/apps/${a.appId}/campaigns`)
      .set('Authorization', a.auth)
      .send(body)
      .expect(201);
    const id = created.body.id as string;
    for (const appId of [a.appId, b.appId]) {
      const base = `/dashboard/v1/apps/${appId}/campaigns/${id}`;
      await http().get(base).set('Authorization', b.auth).expect(404);
      await http().post(`${base}/pause`).set('Authorization', b.auth).expect(404);
      await http().post(`${base}/cancel`).set('Authorization', b.auth).expect(404);
      await http().get(`${base}/runs`).set('Authorization', b.auth).expect(404);
    }
    const again = await http()
      .get(`/dashboard/v1/apps/${a.appId}/campaigns/${id}`)
      .set('Authorization', a.auth)
      .expect(200);
    expect(again.body.status).toBe('scheduled');
  });
});
