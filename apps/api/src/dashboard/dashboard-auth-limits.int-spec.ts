import { randomUUID } from 'node:crypto';
import type { INestApplication } from '@nestjs/common';
import request from 'supertest';
import { createTenant, createTestContext, createUser, type TestContext } from '@herald/testing';
import { createApiApp } from '../api.bootstrap';
import { AccountService } from './auth/account.service';

const PER_ADDRESS = 5;
const PER_EMAIL = 3;
const PASSWORD = 'correct horse battery staple';

describe('dashboard sign-in rate limits (real PostgreSQL and Redis)', () => {
  let ctx: TestContext;
  let app: INestApplication;
  let argon: { verify: jest.SpyInstance; hash: jest.SpyInstance };
  let lastOctet = 0;
  /** A client address of its own (the test's loopback is a trusted proxy). */
  const newAddress = () => `198.51.100.${++lastOctet}`;
  const post = (path: string, from: string, body: object) =>
    request(app.getHttpServer()).post(`/dashboard/v1/auth/${path}`).set('X-Forwarded-For', from).send(body);

  beforeAll(async () => {
    ctx = await createTestContext({
      HERALD_TRUSTED_PROXIES: '127.0.0.1,::1,::ffff:127.0.0.1',
      HERALD_DASHBOARD_AUTH_PER_MINUTE: String(PER_ADDRESS),
      HERALD_DASHBOARD_AUTH_PER_EMAIL_PER_MINUTE: String(PER_EMAIL),
    });
    app = await createApiApp(ctx.config);
    await app.init();
    const { passwords } = app.get(AccountService);
    argon = { verify: jest.spyOn(passwords, 'verify'), hash: jest.spyOn(passwords, 'hash') };
  });
  afterAll(async () => {
    await app.close();
    await ctx.close();
  });
  // The windows are fixed minutes: a test that straddles one's end would start counting again.
  beforeEach(async () => {
    const intoMinute = Date.now() % 60_000;
    if (intoMinute > 50_000) await new Promise((r) => setTimeout(r, 60_500 - intoMinute));
    argon.verify.mockClear();
    argon.hash.mockClear();
  }, 15_000);

  const account = async () => {
    const tenant = await createTenant(ctx.db);
    const email = `${randomUUID()}@example.test`;
    const { password } = await createUser(ctx.db, tenant, 'owner', email);
    return { tenant, email, password };
  };

  const expectLimited = (res: request.Response, what: RegExp) => {
    expect(res.status).toBe(429);
    expect(res.body).toEqual({ code: 'rate_limited', message: expect.stringMatching(what) });
    const retryAfter = Number(res.headers['retry-after']);
    expect(retryAfter).toBeGreaterThanOrEqual(1);
    expect(retryAfter).toBeLessThanOrEqual(60);
  };

  it('login: an address gets its attempts, then 429 with Retry-After before any password is checked', async () => {
    const from = newAddress();
    for (let i = 0; i < PER_ADDRESS; i++) {
      await post('login', from, { email: `${randomUUID()}@example.test`, password: 'guess guess 1' }).expect(
        401,
      );
    }
    expect(argon.verify).toHaveBeenCalledTimes(PER_ADDRESS);
    // Even the right password of a real account: the address is over its limit.
    const { email, password } = await account();
    expectLimited(await post('login', from, { email, password }), /this address: at most 5 per minute/);
    expect(argon.verify).toHaveBeenCalledTimes(PER_ADDRESS);
    // Another address is not affected.
    await post('login', newAddress(), { email, password }).expect(200);
  });

  it('login: one e-mail address gets its attempts from all addresses together', async () => {
    const { email, password } = await account();
    for (let i = 0; i < PER_EMAIL; i++) {
      await post('login', newAddress(), { email, password: `wrong password ${i}` }).expect(401);
    }
    // Any case of the address is the same account.
    const res = await post('login', newAddress(), { email: email.toUpperCase(), password });
    expectLimited(res, /this e-mail address: at most 3 per minute/);
    expect(argon.verify).toHaveBeenCalledTimes(PER_EMAIL);
    // Other accounts still sign in from the same addresses.
    const other = await account();
    await post('login', newAddress(), { email: other.email, password: other.password }).expect(200);
  });

  it('signup: limited per address before any password is hashed, and creates nothing', async () => {
    const from = newAddress();
    const signup = () =>
      post('signup', from, { email: `${randomUUID()}@example.test`, password: PASSWORD, tenant_name: 'A' });
    for (let i = 0; i < PER_ADDRESS; i++) await signup().expect(201);
    const [before] = await ctx.db.query<{ n: number }[]>(`SELECT count(*)::int AS n FROM tenants`);
    argon.hash.mockClear();
    expectLimited(await signup(), /this address/);
    expect(argon.hash).not.toHaveBeenCalled();
    const [after] = await ctx.db.query<{ n: number }[]>(`SELECT count(*)::int AS n FROM tenants`);
    expect(after.n).toBe(before.n);
  });

  it('refresh: limited per address', async () => {
    const { email, password } = await account();
    const session = await post('login', newAddress(), { email, password }).expect(200);
    const from = newAddress();
    for (let i = 0; i < PER_ADDRESS; i++) {
      await post('refresh', from, { refresh_token: `hrt_${randomUUID()}` }).expect(401);
    }
    expectLimited(await post('refresh', from, { refresh_token: session.body.refresh_token }), /this address/);
    // The token was not used up by the refused attempt.
    await post('refresh', newAddress(), { refresh_token: session.body.refresh_token }).expect(200);
  });

  it("accept-invite: limited per address, and an existing account's password attempts count for its e-mail", async () => {
    const owner = await account();
    const invitee = await account();
    const session = await post('login', newAddress(), { email: owner.email, password: owner.password });
    const inv = await request(app.getHttpServer())
      .post('/dashboard/v1/invitations')
      .set('Authorization', `Bearer ${session.body.access_token}`)
      .send({ email: invitee.email, role: 'viewer' })
      .expect(201);
    const token = inv.body.invite_token as string;

    // Per address: unknown tokens count too.
    const from = newAddress();
    for (let i = 0; i < PER_ADDRESS; i++) {
      await post('accept-invite', from, { token: `hinv_${randomUUID()}`, password: PASSWORD }).expect(404);
    }
    expectLimited(await post('accept-invite', from, { token, password: invitee.password }), /this address/);

    // Per e-mail: guesses through the invitation and through login share the account's limit.
    argon.verify.mockClear();
    await post('login', newAddress(), { email: invitee.email, password: 'wrong password 1' }).expect(401);
    await post('accept-invite', newAddress(), { token, password: 'wrong password 2' }).expect(401);
    await post('accept-invite', newAddress(), { token, password: 'wrong password 3' }).expect(401);
    const res = await post('accept-invite', newAddress(), { token, password: invitee.password });
    expectLimited(res, /this e-mail address/);
    expect(argon.verify).toHaveBeenCalledTimes(PER_EMAIL);
    const [row] = await ctx.db.query<{ accepted_at: Date | null }[]>(
      `SELECT accepted_at FROM invitations WHERE id = $1`,
      [inv.body.id],
    );
    expect(row.accepted_at).toBeNull();
  });

  it('a forwarded address counts only from a trusted proxy', async () => {
    const untrusted = await createTestContext({ HERALD_DASHBOARD_AUTH_PER_MINUTE: '2' });
    const other = await createApiApp(untrusted.config);
    await other.init();
    try {
      const attempt = (i: number) =>
        request(other.getHttpServer())
          .post('/dashboard/v1/auth/refresh')
          .set('X-Forwarded-For', `203.0.113.${i}`)
          .send({ refresh_token: 'hrt_nope' });
      await attempt(1).expect(401);
      await attempt(2).expect(401);
      expectLimited(await attempt(3), /this address: at most 2 per minute/);
    } finally {
      await other.close();
      await untrusted.close();
    }
  });
});
