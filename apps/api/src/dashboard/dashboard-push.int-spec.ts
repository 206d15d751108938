import { randomUUID } from 'node:crypto';
import type { INestApplication } from '@nestjs/common';
import request from 'supertest';
import { AppEntity } from '@herald/db';
import { createDevice, createTestContext, type TestContext } from '@herald/testing';
import { createApiApp } from '../api.bootstrap';

/** The console's push routes: /v3/push's validation and acceptance, for an app of the caller's tenant. */
describe('dashboard push and validate (real PostgreSQL and Redis)', () => {
  let ctx: TestContext;
  let app: INestApplication;
  const http = () => request(app.getHttpServer());

  const account = async () => {
    const s = await http()
      .post('/dashboard/v1/auth/signup')
      .send({ email: `${randomUUID()}@example.test`, password: 'correct horse battery', tenant_name: 'T' })
      .expect(201);
    const auth = `Bearer ${s.body.access_token}`;
    const created = await http()
      .post('/dashboard/v1/apps')
      .set('Authorization', auth)
      .send({ name: 'Main' })
      .expect(201);
    const entity = await ctx.db.getRepository(AppEntity).findOneByOrFail({ id: created.body.id });
    for (const channel of ['apns', 'apns', 'fcm'] as const)
      await createDevice(ctx.db, ctx.config, entity, { channel });
    return { auth, base: `/dashboard/v1/apps/${entity.id}/push`, appId: entity.id };
  };
  const messages = async (appId: string) =>
    (await ctx.db.query<{ id: string }[]>(`SELECT id FROM messages WHERE app_id = $1`, [appId])).map(
      (r) => r.id,
    );

  beforeAll(async () => {
    ctx = await createTestContext();
    app = await createApiApp(ctx.config);
    await app.init();
  });
  afterAll(async () => {
    await app.close();
    await ctx.close();
  });

  const push = { platform: 'all', audience: 'all', notification: { alert: 'Hello' } };

  it('validates: the audience per channel and the payload sizes, nothing stored', async () => {
    const a = await account();
    const res = await http().post(`${a.base}/validate`).set('Authorization', a.auth).send(push).expect(200);
    expect(res.body).toMatchObject({
      msg_id: '0',
      audience_size: 3,
      channels: {
        apns: { count: 2, payload_bytes: expect.any(Number) },
        fcm: { count: 1, payload_bytes: expect.any(Number) },
      },
    });
    expect(await messages(a.appId)).toEqual([]);
  });

  it('answers an audience no device matches as an estimate of 0 (the /v3 route refuses it with 1011)', async () => {
    const a = await account();
    const res = await http()
      .post(`${a.base}/validate`)
      .set('Authorization', a.auth)
      .send({ ...push, audience: { alias: ['nobody'] } })
      .expect(200);
    expect(res.body).toMatchObject({ msg_id: '0', audience_size: 0 });
  });

  it('sends once per Idempotency-Key and audits the send', async () => {
    const a = await account();
    const first = await http()
      .post(a.base)
      .set('Authorization', a.auth)
      .set('Idempotency-Key', 'console-1')
      .send(push)
      .expect(200);
    expect(first.body).toEqual({ sendno: '0', msg_id: expect.stringMatching(/^[1-9]\d*$/) });
    const again = await http()
      .post(a.base)
      .set('Authorization', a.auth)
      .set('Idempotency-Key', 'console-1')
      .send(push)
      .expect(200);
    expect(again.body).toEqual(first.body);
    expect(await messages(a.appId)).toEqual([first.body.msg_id]);
    const audit = await ctx.db.query(
      `SELECT action, target_type, target_id, details FROM audit_log WHERE app_id = $1 AND action = 'push.send'`,
      [a.appId],
    );
    expect(audit).toEqual([
      {
        action: 'push.send',
        target_type: 'message',
        target_id: first.body.msg_id,
        details: { platform: 'all', audience: 'all' },
      },
    ]);
  });

  it('refuses what /v3/push refuses, and callbacks (no master secret to sign them), storing nothing', async () => {
    const a = await account();
    const cases: [object, RegExp][] = [
      [{ platform: 'all', audience: 'all' }, /notification|message/],
      [{ ...push, notification: { alert: 'x'.repeat(5000) } }, /payload|bytes|4096/i],
      [{ ...push, callback: { url: 'https://example.com/hook' } }, /callback/],
    ];
    for (const [body, message] of cases) {
      const res = await http().post(a.base).set('Authorization', a.auth).send(body);
      expect({ status: res.status, message: message.test(res.body.message) }).toEqual({
        status: 400,
        message: true,
      });
    }
    expect(await messages(a.appId)).toEqual([]);
  });

  it("answers another tenant's app 404", async () => {
    const a = await account();
    const b = await account();
    await http().post(`${b.base}/validate`).set('Authorization', a.auth).send(push).expect(404);
    await http().post(b.base).set('Authorization', a.auth).send(push).expect(404);
    expect(await messages(b.appId)).toEqual([]);
  });
});
