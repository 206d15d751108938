import type { INestApplication } from '@nestjs/common';
import request from 'supertest';
import { createTestContext, testConfig, type TestContext } from '@herald/testing';
import { createApiApp } from './api.bootstrap';

describe('api (real PostgreSQL and Redis)', () => {
  let ctx: TestContext;
  let app: INestApplication;

  beforeAll(async () => {
    ctx = await createTestContext();
    app = await createApiApp(ctx.config);
    await app.init();
  });
  afterAll(async () => {
    await app.close();
    await ctx.close();
  });

  it('answers liveness and readiness', async () => {
    await request(app.getHttpServer()).get('/healthz').expect(200, { status: 'ok' });
    // Boot waits for the Redis connection, so the api is ready as soon as it serves.
    const ready = await request(app.getHttpServer()).get('/readyz').expect(200);
    expect(ready.body).toEqual({
      status: 'ok',
      checks: { postgres: { status: 'up' }, redis: { status: 'up' } },
    });
  });

  it('serves the OpenAPI document at /docs', async () => {
    const doc = await request(app.getHttpServer()).get('/docs/openapi.json').expect(200);
    expect(doc.body.openapi).toMatch(/^3\./);
    expect(Object.keys(doc.body.paths)).toEqual(expect.arrayContaining(['/healthz', '/readyz']));
    await request(app.getHttpServer()).get('/docs').expect(200).expect('Content-Type', /html/);
  });

  it('answers malformed JSON on /v3 with a JPush 1003 error body, never a 500', async () => {
    const res = await request(app.getHttpServer())
      .post('/v3/push')
      .set('Content-Type', 'application/json')
      .set('X-Request-Id', 'bad-json-1')
      .send('{"platform": ')
      .expect(400)
      .expect('Content-Type', /json/);
    expect(res.body).toEqual({ error: { code: 1003, message: expect.any(String) } });
    expect(res.headers['x-request-id']).toBe('bad-json-1');
  });

  it('answers malformed JSON elsewhere with {code, message}', async () => {
    const res = await request(app.getHttpServer())
      .post('/dashboard/v1/auth/login')
      .set('Content-Type', 'application/json')
      .send('{nope')
      .expect(400);
    expect(res.body).toEqual({ code: 'invalid_parameter', message: expect.any(String) });
  });

  it('answers an unknown /v3 path with a JSON 404 in JPush shape, and others in Herald shape', async () => {
    const jpush = await request(app.getHttpServer())
      .get('/v3/nothing-here')
      .expect(404)
      .expect('Content-Type', /json/);
    expect(jpush.body).toEqual({ error: { code: 1003, message: 'no such resource' } });
    const herald = await request(app.getHttpServer()).get('/sdk/v1/nothing-here').expect(404);
    expect(herald.body).toEqual({ code: 'not_found', message: 'no such resource' });
  });

  it('refuses a body over the limit: 400/1005 on /v3 as JPush does, 413 elsewhere', async () => {
    const huge = JSON.stringify({ pad: 'x'.repeat(11 * 1024 * 1024) });
    const jpush = await request(app.getHttpServer())
      .post('/v3/push')
      .set('Content-Type', 'application/json')
      .send(huge)
      .expect(400);
    expect(jpush.body.error.code).toBe(1005);
    const herald = await request(app.getHttpServer())
      .post('/sdk/v1/register')
      .set('Content-Type', 'application/json')
      .send(huge)
      .expect(413);
    expect(herald.body.code).toBe('body_too_large');
  });

  it('echoes a sane X-Request-Id and replaces an unsafe one', async () => {
    const given = await request(app.getHttpServer())
      .get('/healthz')
      .set('X-Request-Id', 'abc-123')
      .expect(200);
    expect(given.headers['x-request-id']).toBe('abc-123');
    const unsafe = await request(app.getHttpServer())
      .get('/healthz')
      .set('X-Request-Id', 'a b\tc')
      .expect(200);
    expect(unsafe.headers['x-request-id']).toMatch(/^[0-9a-f-]{36}$/);
  });
});

describe('api readiness with Redis down', () => {
  let ctx: TestContext;
  let app: INestApplication;

  beforeAll(async () => {
    ctx = await createTestContext();
    // Port 1 on loopback: nothing listens there, so every Redis call fails fast.
    app = await createApiApp(
      testConfig({ DATABASE_URL: ctx.config.database.url, REDIS_URL: 'redis://127.0.0.1:1' }),
    );
    await app.init();
  });
  afterAll(async () => {
    await app.close();
    await ctx.close();
  });

  it('answers 503 and names the dependency that is down', async () => {
    const res = await request(app.getHttpServer()).get('/readyz').expect(503);
    expect(res.body.status).toBe('unavailable');
    expect(res.body.checks.postgres).toEqual({ status: 'up' });
    expect(res.body.checks.redis.status).toBe('down');
    await request(app.getHttpServer()).get('/healthz').expect(200);
  });
});
