import { randomUUID } from 'node:crypto';
import type { INestApplication } from '@nestjs/common';
import request from 'supertest';
import { createTestContext, TEST_MASTER_KEY, testConfig, type TestContext } from '@herald/testing';
import { createApiApp } from '../api.bootstrap';

const PASSWORD = 'correct horse battery staple';
const NEW_KEY = Buffer.alloc(32, 9).toString('base64');

/**
 * docs/operations.md, "Rotation without downtime": after step b (a new current key, the old one in
 * HERALD_PREVIOUS_MASTER_KEYS) everything old still reads. Refresh tokens, personal tokens and
 * invitations are looked up by their keyed hash, so the lookup has to try every key of the ring.
 */
describe('dashboard secrets looked up by hash survive a master key rotation (real PostgreSQL and Redis)', () => {
  let ctx: TestContext;
  let app: INestApplication;
  const http = () => request(app.getHttpServer());
  const bearer = (token: string) => `Bearer ${token}`;
  const keyIds = async (sql: string, params: unknown[]) =>
    (await ctx.db.query<{ h: string }[]>(sql, params)).map((r) => r.h.split('.')[1]);

  let owner: { access_token: string; refresh_token: string; tenant_id: string; user_id: string };
  let pat: { id: string; token: string };
  let inv: { id: string; invite_token: string };

  beforeAll(async () => {
    ctx = await createTestContext();
    // Made under k1, the test config's only key.
    app = await createApiApp(ctx.config);
    await app.init();
    owner = (
      await http()
        .post('/dashboard/v1/auth/signup')
        .send({ email: `${randomUUID()}@example.test`, password: PASSWORD, tenant_name: 'Acme' })
        .expect(201)
    ).body;
    pat = (
      await http()
        .post('/dashboard/v1/tokens')
        .set('Authorization', bearer(owner.access_token))
        .send({ name: 'ci' })
        .expect(201)
    ).body;
    inv = (
      await http()
        .post('/dashboard/v1/invitations')
        .set('Authorization', bearer(owner.access_token))
        .send({ email: `${randomUUID()}@example.test`, role: 'developer' })
        .expect(201)
    ).body;
    await app.close();

    // Step b of the rotation: k2 current, k1 still listed.
    app = await createApiApp(
      testConfig({
        DATABASE_URL: ctx.config.database.url,
        HERALD_QUEUE_PREFIX: ctx.namespace,
        HERALD_MASTER_KEY: NEW_KEY,
        HERALD_MASTER_KEY_ID: 'k2',
        HERALD_PREVIOUS_MASTER_KEYS: `k1:${TEST_MASTER_KEY}`,
      }),
    );
    await app.init();
  });
  afterAll(async () => {
    await app?.close();
    await ctx.close();
  });

  it('everything was hashed under k1', async () => {
    expect(
      await keyIds(`SELECT token_hash AS h FROM auth_tokens WHERE user_id = $1 ORDER BY kind`, [
        owner.user_id,
      ]),
    ).toEqual(['k1', 'k1']);
    expect(await keyIds(`SELECT token_hash AS h FROM invitations WHERE id = $1`, [inv.id])).toEqual(['k1']);
  });

  it('a personal token still authenticates, and is re-hashed under k2 on that use', async () => {
    const me = await http().get('/dashboard/v1/me').set('Authorization', bearer(pat.token)).expect(200);
    expect(me.body).toMatchObject({ auth: 'api_token', tenant_id: owner.tenant_id });
    expect(await keyIds(`SELECT token_hash AS h FROM auth_tokens WHERE id = $1`, [pat.id])).toEqual(['k2']);
    await http().get('/dashboard/v1/me').set('Authorization', bearer(pat.token)).expect(200);
  });

  it('a login goes on: its refresh token refreshes once, and the next one is under k2', async () => {
    const refreshed = await http()
      .post('/dashboard/v1/auth/refresh')
      .send({ refresh_token: owner.refresh_token })
      .expect(200);
    expect(
      await keyIds(
        `SELECT token_hash AS h FROM auth_tokens WHERE user_id = $1 AND kind = 'refresh' ORDER BY created_at, id`,
        [owner.user_id],
      ),
    ).toEqual(['k1', 'k2']);
    await http()
      .get('/dashboard/v1/me')
      .set('Authorization', bearer(refreshed.body.access_token))
      .expect(200);
    // Still single-use: replaying the old token is refused and revokes the family, as before the rotation.
    await http().post('/dashboard/v1/auth/refresh').send({ refresh_token: owner.refresh_token }).expect(401);
    await http()
      .post('/dashboard/v1/auth/refresh')
      .send({ refresh_token: refreshed.body.refresh_token })
      .expect(401);
  });

  it('a pending invitation is accepted, once', async () => {
    const joined = await http()
      .post('/dashboard/v1/auth/accept-invite')
      .send({ token: inv.invite_token, password: PASSWORD })
      .expect(200);
    expect(joined.body).toMatchObject({ tenant_id: owner.tenant_id, role: 'developer' });
    await http()
      .post('/dashboard/v1/auth/accept-invite')
      .send({ token: inv.invite_token, password: PASSWORD })
      .expect(404);
  });
});
