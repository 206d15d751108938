import { randomUUID } from 'node:crypto';
import type { INestApplication } from '@nestjs/common';
import request from 'supertest';
import { createTestContext, type TestContext } from '@herald/testing';
import { createApiApp } from '../api.bootstrap';

const CONSOLE_CSP =
  "default-src 'self';script-src 'self';style-src 'self';img-src 'self' data:;font-src 'self';" +
  "connect-src 'self';object-src 'none';base-uri 'none';form-action 'self';frame-ancestors 'none'";

describe('security headers on the console, the docs and API answers (real PostgreSQL and Redis)', () => {
  let ctx: TestContext;
  let app: INestApplication;
  const http = () => request(app.getHttpServer());

  beforeAll(async () => {
    ctx = await createTestContext();
    app = await createApiApp(ctx.config);
    await app.init();
  });
  afterAll(async () => {
    await app.close();
    await ctx.close();
  });

  const expectCommon = (res: request.Response) => {
    expect(res.headers['x-content-type-options']).toBe('nosniff');
    expect(res.headers['referrer-policy']).toBe('no-referrer');
    expect(res.headers['x-frame-options']).toBe('DENY');
    expect(res.headers['strict-transport-security']).toBeUndefined();
    expect(res.headers['x-powered-by']).toBeUndefined();
  };

  it('the console may not be framed and loads only its own files', async () => {
    // Built (the app shell) or not (a hint): either way under /console, as are a missing asset's 404s.
    for (const path of ['/console/', '/console/signup', '/Console/apps', '/console/assets/gone-1234.js']) {
      const res = await http().get(path);
      expectCommon(res);
      expect(res.headers['content-security-policy']).toBe(CONSOLE_CSP);
    }
    // A built console's redirect to /console/ keeps serve-static's own (stricter) policy.
    const bare = await http().get('/console');
    expectCommon(bare);
    expect(bare.headers['content-security-policy']).toMatch(/^default-src '(none|self)'/);
  });

  it('API answers, errors and 404s included, are nosniff, no-referrer, no-store and run nothing', async () => {
    const answers = [
      await http().get('/healthz').expect(200),
      await http().get('/nothing-here').expect(404),
      await http().get('/v3/push/validate').expect(404),
      await http().post('/dashboard/v1/auth/login').send({}).expect(400),
      await http().get('/consoles').expect(404),
    ];
    for (const res of answers) {
      expectCommon(res);
      expect(res.headers['content-security-policy']).toBe("default-src 'none';frame-ancestors 'none'");
      expect(res.headers['cache-control']).toBe('no-store');
    }
  });

  it('answers that carry tokens are never stored by a cache', async () => {
    const email = `${randomUUID()}@example.test`;
    const password = 'correct horse battery staple';
    const signup = await http()
      .post('/dashboard/v1/auth/signup')
      .send({ email, password, tenant_name: 'Acme' })
      .expect(201);
    const login = await http().post('/dashboard/v1/auth/login').send({ email, password }).expect(200);
    const refresh = await http()
      .post('/dashboard/v1/auth/refresh')
      .send({ refresh_token: login.body.refresh_token })
      .expect(200);
    for (const res of [signup, login, refresh]) {
      expect(res.body.access_token).toEqual(expect.any(String));
      expect(res.headers['cache-control']).toBe('no-store');
      expect(res.headers['x-content-type-options']).toBe('nosniff');
    }
  });

  it('the docs page keeps working: its inline styles are allowed, nothing else from elsewhere', async () => {
    const page = await http().get('/docs').expect(200).expect('Content-Type', /html/);
    expectCommon(page);
    const policy = page.headers['content-security-policy'];
    expect(policy).toContain("script-src 'self';");
    expect(policy).toContain("style-src 'self' 'unsafe-inline';");
    expect(policy).toContain("frame-ancestors 'none'");
    expect(page.text).toMatch(/<style>/);
    const doc = await http().get('/docs/openapi.json').expect(200);
    expectCommon(doc);
    expect(doc.body.openapi).toMatch(/^3\./);
  });
});
