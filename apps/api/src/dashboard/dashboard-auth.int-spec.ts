import { randomUUID } from 'node:crypto';
import type { INestApplication } from '@nestjs/common';
import request from 'supertest';
import { createTenant, createTestContext, createUser, type TestContext } from '@herald/testing';
import type { MemberRole } from '@herald/db';
import { createApiApp } from '../api.bootstrap';
import { AccessTokenSigner } from './auth/access-token.signer';
import { PERMISSIONS } from './auth/permissions';

const PASSWORD = 'correct horse battery staple';

describe('dashboard accounts, tokens, members and the role matrix (real PostgreSQL and Redis)', () => {
  let ctx: TestContext;
  let app: INestApplication;
  const http = () => request(app.getHttpServer());
  const bearer = (token: string) => `Bearer ${token}`;

  beforeAll(async () => {
    ctx = await createTestContext();
    app = await createApiApp(ctx.config);
    await app.init();
  });
  afterAll(async () => {
    await app.close();
    await ctx.close();
  });

  const signup = async (email = `${randomUUID()}@example.test`) => {
    const res = await http()
      .post('/dashboard/v1/auth/signup')
      .send({ email, password: PASSWORD, tenant_name: 'Acme' })
      .expect(201);
    return {
      email,
      ...(res.body as { access_token: string; refresh_token: string; tenant_id: string; user_id: string }),
    };
  };

  describe('signup, login, refresh, logout', () => {
    it('signup creates a tenant with its owner and answers the fixed entry point shape', async () => {
      const s = await signup();
      expect(s).toMatchObject({ token_type: 'Bearer', expires_in: 900, role: 'owner' });
      expect(s.refresh_token).toMatch(/^hrt_[A-Za-z0-9_-]{43}$/);
      const me = await http()
        .get('/dashboard/v1/me')
        .set('Authorization', bearer(s.access_token))
        .expect(200);
      expect(me.body).toMatchObject({ tenant_id: s.tenant_id, role: 'owner', user: { email: s.email } });
      const [row] = await ctx.db.query<{ password_hash: string }[]>(
        `SELECT password_hash FROM users WHERE id = $1`,
        [s.user_id],
      );
      expect(row.password_hash).toMatch(/^\$argon2id\$/);
      const [token] = await ctx.db.query<{ token_hash: string }[]>(
        `SELECT token_hash FROM auth_tokens WHERE user_id = $1`,
        [s.user_id],
      );
      expect(token.token_hash).not.toContain(s.refresh_token.slice(4));
    });

    it('refuses a second signup with the same e-mail (any case) and stores nothing', async () => {
      const s = await signup();
      const before = await ctx.db.query<{ n: number }[]>(`SELECT count(*)::int AS n FROM tenants`);
      const res = await http()
        .post('/dashboard/v1/auth/signup')
        .send({ email: s.email.toUpperCase(), password: PASSWORD, tenant_name: 'Dup' })
        .expect(409);
      expect(res.body.code).toBe('conflict');
      const after = await ctx.db.query<{ n: number }[]>(`SELECT count(*)::int AS n FROM tenants`);
      expect(after[0].n).toBe(before[0].n);
      await http()
        .post('/dashboard/v1/auth/signup')
        .send({ email: 'x@example.test', password: 'short', tenant_name: 'A' })
        .expect(400);
    });

    it('login checks the password and answers the same error for an unknown e-mail', async () => {
      const s = await signup();
      const ok = await http()
        .post('/dashboard/v1/auth/login')
        .send({ email: s.email, password: PASSWORD })
        .expect(200);
      expect(ok.body.tenant_id).toBe(s.tenant_id);
      const wrong = await http()
        .post('/dashboard/v1/auth/login')
        .send({ email: s.email, password: 'nope nope nope' });
      const unknown = await http()
        .post('/dashboard/v1/auth/login')
        .send({ email: 'nobody@example.test', password: PASSWORD });
      expect([wrong.status, unknown.status]).toEqual([401, 401]);
      expect(wrong.body).toEqual(unknown.body);
      expect(wrong.body).toEqual({ code: 'unauthorized', message: 'wrong e-mail or password' });
    });

    it('rotates refresh tokens; reusing a rotated one revokes the whole family and its access tokens', async () => {
      const s = await signup();
      const r1 = await http()
        .post('/dashboard/v1/auth/refresh')
        .send({ refresh_token: s.refresh_token })
        .expect(200);
      expect(r1.body.refresh_token).not.toBe(s.refresh_token);
      const r2 = await http()
        .post('/dashboard/v1/auth/refresh')
        .send({ refresh_token: r1.body.refresh_token })
        .expect(200);
      await http().get('/dashboard/v1/me').set('Authorization', bearer(r2.body.access_token)).expect(200);

      // the first token again: a replay → the family is revoked
      const reuse = await http()
        .post('/dashboard/v1/auth/refresh')
        .send({ refresh_token: s.refresh_token })
        .expect(401);
      expect(reuse.body.message).toMatch(/already used/);
      await http()
        .post('/dashboard/v1/auth/refresh')
        .send({ refresh_token: r2.body.refresh_token })
        .expect(401);
      await http().get('/dashboard/v1/me').set('Authorization', bearer(r2.body.access_token)).expect(401);
      // another login of the same user is a different family and still works
      const other = await http()
        .post('/dashboard/v1/auth/login')
        .send({ email: s.email, password: PASSWORD })
        .expect(200);
      await http().get('/dashboard/v1/me').set('Authorization', bearer(other.body.access_token)).expect(200);
      const audit = await ctx.db.query<{ action: string }[]>(
        `SELECT action FROM audit_log WHERE tenant_id = $1 AND action = 'auth.refresh_reuse'`,
        [s.tenant_id],
      );
      expect(audit).toHaveLength(1);
    });

    it('logout ends the login at once: refresh and access tokens stop working', async () => {
      const s = await signup();
      await http().post('/dashboard/v1/auth/logout').set('Authorization', bearer(s.access_token)).expect(204);
      await http().get('/dashboard/v1/me').set('Authorization', bearer(s.access_token)).expect(401);
      await http().post('/dashboard/v1/auth/refresh').send({ refresh_token: s.refresh_token }).expect(401);
    });

    it('refuses forged, expired and malformed access tokens', async () => {
      const s = await signup();
      const [head, body] = s.access_token.split('.');
      const claims = JSON.parse(Buffer.from(body, 'base64url').toString()) as Record<string, unknown>;
      const forged = Buffer.from(JSON.stringify({ ...claims, sub: randomUUID() })).toString('base64url');
      const sig = s.access_token.split('.')[2];
      await http()
        .get('/dashboard/v1/me')
        .set('Authorization', bearer(`${head}.${forged}.${sig}`))
        .expect(401);
      const none = Buffer.from(JSON.stringify({ alg: 'none', kid: 'k1' })).toString('base64url');
      await http()
        .get('/dashboard/v1/me')
        .set('Authorization', bearer(`${none}.${body}.`))
        .expect(401);
      const expired = new AccessTokenSigner(ctx.config.crypto).sign(
        { sub: s.user_id, tid: s.tenant_id, fam: claims.fam as string },
        900,
        Date.now() - 3600_000,
      );
      const res = await http().get('/dashboard/v1/me').set('Authorization', bearer(expired)).expect(401);
      expect(res.headers['www-authenticate']).toMatch(/^Bearer/);
      await http().get('/dashboard/v1/me').expect(401);
    });
  });

  describe('personal API tokens', () => {
    it('are shown once, work as the user, list without the secret, and stop when revoked', async () => {
      const s = await signup();
      const created = await http()
        .post('/dashboard/v1/tokens')
        .set('Authorization', bearer(s.access_token))
        .send({ name: 'ci', expires_in_days: 30 })
        .expect(201);
      expect(created.body.token).toMatch(/^hpat_/);
      // A token cannot mint tokens (a leaked one would outlive its own expiry), and none is unbounded.
      const minted = await http()
        .post('/dashboard/v1/tokens')
        .set('Authorization', bearer(created.body.token))
        .send({ name: 'forever' })
        .expect(403);
      expect(minted.body).toMatchObject({
        code: 'forbidden',
        message: expect.stringMatching(/cannot create tokens/),
      });
      const unbounded = await http()
        .post('/dashboard/v1/tokens')
        .set('Authorization', bearer(s.access_token))
        .send({ name: 'no expiry asked' })
        .expect(201);
      const days = (Date.parse(unbounded.body.expires_at) - Date.now()) / 86_400_000;
      expect(days).toBeGreaterThan(365);
      expect(days).toBeLessThanOrEqual(366);
      await http()
        .delete(`/dashboard/v1/tokens/${unbounded.body.id}`)
        .set('Authorization', bearer(s.access_token))
        .expect(204);
      const me = await http()
        .get('/dashboard/v1/me')
        .set('Authorization', bearer(created.body.token))
        .expect(200);
      expect(me.body).toMatchObject({ auth: 'api_token', role: 'owner', tenant_id: s.tenant_id });
      const list = await http()
        .get('/dashboard/v1/tokens')
        .set('Authorization', bearer(s.access_token))
        .expect(200);
      expect(list.body.items).toHaveLength(1);
      expect(JSON.stringify(list.body)).not.toContain(created.body.token);
      expect(list.body.items[0].last_used_at).not.toBeNull();
      // a change made with the token is audited as the token
      await http()
        .post('/dashboard/v1/apps')
        .set('Authorization', bearer(created.body.token))
        .send({ name: 'viaToken' })
        .expect(201);
      const [audit] = await ctx.db.query<
        { actor_type: string; actor_id: string; details: { token_id: string } }[]
      >(
        `SELECT actor_type, actor_id, details FROM audit_log WHERE tenant_id = $1 AND action = 'app.create'`,
        [s.tenant_id],
      );
      expect(audit).toEqual({
        actor_type: 'api_token',
        actor_id: s.user_id,
        details: expect.objectContaining({ token_id: created.body.id }),
      });
      await http()
        .delete(`/dashboard/v1/tokens/${created.body.id}`)
        .set('Authorization', bearer(s.access_token))
        .expect(204);
      await http().get('/dashboard/v1/me').set('Authorization', bearer(created.body.token)).expect(401);
    });

    it('paginate', async () => {
      const s = await signup();
      for (let i = 0; i < 3; i++) {
        await http()
          .post('/dashboard/v1/tokens')
          .set('Authorization', bearer(s.access_token))
          .send({ name: `t${i}` })
          .expect(201);
      }
      const p1 = await http()
        .get('/dashboard/v1/tokens?limit=2')
        .set('Authorization', bearer(s.access_token))
        .expect(200);
      expect(p1.body.items.map((t: { name: string }) => t.name)).toEqual(['t2', 't1']);
      const p2 = await http()
        .get(`/dashboard/v1/tokens?limit=2&cursor=${p1.body.next_cursor}`)
        .set('Authorization', bearer(s.access_token))
        .expect(200);
      expect(p2.body).toEqual({ items: [expect.objectContaining({ name: 't0' })], next_cursor: null });
      await http()
        .get('/dashboard/v1/tokens?cursor=garbage')
        .set('Authorization', bearer(s.access_token))
        .expect(400);
    });
  });

  describe('members and invitations', () => {
    it('an invitation is accepted once, creating the user and the membership with its role', async () => {
      const owner = await signup();
      const email = `${randomUUID()}@example.test`;
      const inv = await http()
        .post('/dashboard/v1/invitations')
        .set('Authorization', bearer(owner.access_token))
        .send({ email, role: 'developer' })
        .expect(201);
      expect(inv.body).toMatchObject({ email, role: 'developer', status: 'pending' });
      expect(inv.body.invite_token).toMatch(/^hinv_/);
      const joined = await http()
        .post('/dashboard/v1/auth/accept-invite')
        .send({ token: inv.body.invite_token, password: PASSWORD })
        .expect(200);
      expect(joined.body).toMatchObject({ tenant_id: owner.tenant_id, role: 'developer' });
      await http()
        .post('/dashboard/v1/auth/accept-invite')
        .send({ token: inv.body.invite_token, password: PASSWORD })
        .expect(404);
      const members = await http()
        .get('/dashboard/v1/members')
        .set('Authorization', bearer(owner.access_token))
        .expect(200);
      expect(members.body.items.map((m: { email: string; role: string }) => [m.email, m.role])).toEqual([
        [owner.email, 'owner'],
        [email, 'developer'],
      ]);
      const login = await http()
        .post('/dashboard/v1/auth/login')
        .send({ email, password: PASSWORD })
        .expect(200);
      expect(login.body.role).toBe('developer');
    });

    it('an existing account accepts with its own password and then belongs to two tenants', async () => {
      const a = await signup();
      const b = await signup();
      const inv = await http()
        .post('/dashboard/v1/invitations')
        .set('Authorization', bearer(a.access_token))
        .send({ email: b.email, role: 'viewer' })
        .expect(201);
      await http()
        .post('/dashboard/v1/auth/accept-invite')
        .send({ token: inv.body.invite_token, password: 'wrong password!' })
        .expect(401);
      await http()
        .post('/dashboard/v1/auth/accept-invite')
        .send({ token: inv.body.invite_token, password: PASSWORD })
        .expect(200);
      const me = await http()
        .get('/dashboard/v1/me')
        .set('Authorization', bearer(b.access_token))
        .expect(200);
      expect(me.body.tenants.map((t: { id: string; role: string }) => [t.id, t.role])).toEqual([
        [b.tenant_id, 'owner'],
        [a.tenant_id, 'viewer'],
      ]);
      const intoA = await http()
        .post('/dashboard/v1/auth/login')
        .send({ email: b.email, password: PASSWORD, tenant_id: a.tenant_id })
        .expect(200);
      expect(intoA.body).toMatchObject({ tenant_id: a.tenant_id, role: 'viewer' });
    });

    it('admins cannot grant or touch the owner role; the last owner stays; removal revokes access', async () => {
      const owner = await signup();
      const tenant = { id: owner.tenant_id } as Parameters<typeof createUser>[1];
      const admin = await createUser(ctx.db, tenant, 'admin');
      const dev = await createUser(ctx.db, tenant, 'developer');
      const adminLogin = await http()
        .post('/dashboard/v1/auth/login')
        .send({ email: admin.user.email, password: admin.password })
        .expect(200);
      const devLogin = await http()
        .post('/dashboard/v1/auth/login')
        .send({ email: dev.user.email, password: dev.password })
        .expect(200);
      const asAdmin = bearer(adminLogin.body.access_token);
      await http()
        .post('/dashboard/v1/invitations')
        .set('Authorization', asAdmin)
        .send({ email: 'o@example.test', role: 'owner' })
        .expect(403);
      await http()
        .patch(`/dashboard/v1/members/${owner.user_id}`)
        .set('Authorization', asAdmin)
        .send({ role: 'viewer' })
        .expect(403);
      await http()
        .patch(`/dashboard/v1/members/${dev.user.id}`)
        .set('Authorization', asAdmin)
        .send({ role: 'admin' })
        .expect(200);
      const last = await http()
        .patch(`/dashboard/v1/members/${owner.user_id}`)
        .set('Authorization', bearer(owner.access_token))
        .send({ role: 'admin' })
        .expect(409);
      expect(last.body.message).toMatch(/at least one owner/);
      // the role change applies to the developer's existing access token immediately
      const me = await http()
        .get('/dashboard/v1/me')
        .set('Authorization', bearer(devLogin.body.access_token))
        .expect(200);
      expect(me.body.role).toBe('admin');
      await http().delete(`/dashboard/v1/members/${dev.user.id}`).set('Authorization', asAdmin).expect(204);
      await http()
        .get('/dashboard/v1/me')
        .set('Authorization', bearer(devLogin.body.access_token))
        .expect(401);
      await http()
        .post('/dashboard/v1/auth/refresh')
        .send({ refresh_token: devLogin.body.refresh_token })
        .expect(401);
    });

    it("another tenant's member, invitation and token ids are 404", async () => {
      const a = await signup();
      const b = await signup();
      const inv = await http()
        .post('/dashboard/v1/invitations')
        .set('Authorization', bearer(b.access_token))
        .send({ email: 'z@example.test', role: 'viewer' })
        .expect(201);
      const tok = await http()
        .post('/dashboard/v1/tokens')
        .set('Authorization', bearer(b.access_token))
        .send({ name: 'b' })
        .expect(201);
      const asA = bearer(a.access_token);
      await http()
        .patch(`/dashboard/v1/members/${b.user_id}`)
        .set('Authorization', asA)
        .send({ role: 'viewer' })
        .expect(404);
      await http().delete(`/dashboard/v1/members/${b.user_id}`).set('Authorization', asA).expect(404);
      await http().delete(`/dashboard/v1/invitations/${inv.body.id}`).set('Authorization', asA).expect(404);
      await http().delete(`/dashboard/v1/tokens/${tok.body.id}`).set('Authorization', asA).expect(404);
      const list = await http().get('/dashboard/v1/invitations').set('Authorization', asA).expect(200);
      expect(list.body.items).toEqual([]);
      // b's things are untouched
      await http().get('/dashboard/v1/me').set('Authorization', bearer(tok.body.token)).expect(200);
    });
  });

  describe('the permission matrix, cell by cell', () => {
    /** The written matrix (docs/api-guide.md); the code's table must say the same. */
    const MATRIX: Record<string, MemberRole[]> = {
      'tenant.read': ['owner', 'admin', 'developer', 'viewer'],
      'tenant.update': ['owner'],
      'members.read': ['owner', 'admin', 'developer', 'viewer'],
      'members.manage': ['owner', 'admin'],
      'apps.read': ['owner', 'admin', 'developer', 'viewer'],
      'apps.write': ['owner', 'admin'],
      'apps.delete': ['owner'],
      'apps.rotate_secret': ['owner', 'admin'],
      'credentials.write': ['owner', 'admin', 'developer'],
      'push.test': ['owner', 'admin', 'developer'],
      'push.send': ['owner', 'admin', 'developer'],
      'segments.write': ['owner', 'admin', 'developer'],
      'campaigns.write': ['owner', 'admin', 'developer'],
      'messages.cancel': ['owner', 'admin', 'developer'],
      'audit.read': ['owner', 'admin'],
    };
    const nobody = randomUUID();
    /** One request per permission; when allowed it gets past the role check to this status. */
    const PROBES: Record<
      string,
      { method: 'get' | 'post' | 'patch' | 'put' | 'delete'; path: string; body?: object; allowed: number }
    > = {
      'tenant.read': { method: 'get', path: '/tenant', allowed: 200 },
      'tenant.update': { method: 'patch', path: '/tenant', body: {}, allowed: 400 },
      'members.read': { method: 'get', path: '/members', allowed: 200 },
      'members.manage': { method: 'delete', path: `/members/${nobody}`, allowed: 404 },
      'apps.read': { method: 'get', path: '/apps', allowed: 200 },
      'apps.write': { method: 'post', path: '/apps', body: {}, allowed: 400 },
      'apps.delete': { method: 'delete', path: `/apps/${nobody}`, allowed: 404 },
      'apps.rotate_secret': { method: 'post', path: `/apps/${nobody}/rotate-secret`, body: {}, allowed: 404 },
      'credentials.write': { method: 'put', path: `/apps/${nobody}/credentials/fcm`, body: {}, allowed: 404 },
      'push.test': { method: 'post', path: `/apps/${nobody}/credentials/test`, body: {}, allowed: 404 },
      'push.send': { method: 'post', path: `/apps/${nobody}/push`, body: {}, allowed: 404 },
      'segments.write': { method: 'post', path: `/apps/${nobody}/segments`, body: {}, allowed: 404 },
      'campaigns.write': { method: 'post', path: `/apps/${nobody}/campaigns`, body: {}, allowed: 404 },
      'messages.cancel': { method: 'post', path: `/apps/${nobody}/messages/1000000001/cancel`, allowed: 404 },
      'audit.read': { method: 'get', path: '/audit-log', allowed: 200 },
    };
    const tokens = {} as Record<MemberRole, string>;

    beforeAll(async () => {
      const tenant = await createTenant(ctx.db);
      for (const role of ['owner', 'admin', 'developer', 'viewer'] as const) {
        const u = await createUser(ctx.db, tenant, role);
        const res = await http()
          .post('/dashboard/v1/auth/login')
          .send({ email: u.user.email, password: u.password })
          .expect(200);
        tokens[role] = res.body.access_token;
      }
    });

    it('the code enforces exactly the written matrix', () => {
      expect(PERMISSIONS).toEqual(MATRIX);
      expect(Object.keys(PROBES).sort()).toEqual(Object.keys(MATRIX).sort());
    });

    const cells = Object.keys(MATRIX).flatMap((permission) =>
      (['owner', 'admin', 'developer', 'viewer'] as const).map((role) => [permission, role] as const),
    );
    it.each(cells)('%s × %s', async (permission, role) => {
      const probe = PROBES[permission];
      const agent = http();
      const res = await agent[probe.method](`/dashboard/v1${probe.path}`)
        .set('Authorization', bearer(tokens[role]))
        .send(probe.body ?? {});
      if (MATRIX[permission].includes(role)) {
        expect({ status: res.status, code: res.body.code }).toEqual({
          status: probe.allowed,
          code: probe.allowed === 200 ? undefined : expect.not.stringMatching(/^forbidden$/),
        });
      } else {
        expect({ status: res.status, body: res.body }).toEqual({
          status: 403,
          body: {
            code: 'forbidden',
            message: `the ${role} role may not do this (needs ${permission})`,
            details: { permission, role },
          },
        });
      }
    });
  });
});
