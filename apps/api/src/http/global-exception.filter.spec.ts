import { Controller, Get, type INestApplication, Logger, Module } from '@nestjs/common';
import { APP_FILTER } from '@nestjs/core';
import { Test } from '@nestjs/testing';
import request from 'supertest';
import { HeraldError } from '@herald/common';
import { GlobalExceptionFilter } from './global-exception.filter';

const rateLimited = () =>
  new HeraldError('rate_limited', 'over the limit', {
    headers: { 'Retry-After': '7' },
    details: { limit: 600 },
  });

@Controller()
class ThrowingController {
  @Get(['v3/limited', 'sdk/v1/limited'])
  limited(): never {
    throw rateLimited();
  }

  @Get('v3/tags/bad')
  deviceApiCode(): never {
    throw new HeraldError('invalid_parameter', 'tag too long', { jpushCode: 7002 });
  }

  @Get(['v3/devices/missing', 'v3/aliases/full', 'sdk/v1/missing'])
  deviceApiStatus(): never {
    throw new HeraldError('not_found', 'no device x in this app', { jpushCode: 7002 });
  }

  @Get(['v3/boom', 'dashboard/v1/boom', 'v3/devices/boom'])
  boom(): never {
    // the shape of a TypeORM QueryFailedError: it carries the query's parameters
    throw Object.assign(new Error('database password is hunter2'), { parameters: ['device-token-abc'] });
  }

  @Get('sdk/v1/bad-uuid')
  badUuid(): never {
    throw Object.assign(new Error('invalid input syntax for type uuid: "x"'), { code: '22P02' });
  }

  @Get('sdk/v1/index-row-too-large')
  indexRowTooLarge(): never {
    throw Object.assign(new Error('index row size 2816 exceeds btree version 4 maximum 2704'), {
      code: '54000',
    });
  }

  @Get(['v3/db-down', 'sdk/v1/db-down', 'v3/tags/db-down'])
  dbDown(): never {
    throw Object.assign(new Error('terminating connection due to administrator command'), { code: '57P01' });
  }

  @Get(['v3/push/validate-slow', 'dashboard/v1/slow'])
  statementTimeout(): never {
    throw Object.assign(new Error('canceling statement due to statement timeout'), { code: '57014' });
  }

  @Get('sdk/v1/deadlock')
  deadlock(): never {
    throw Object.assign(new Error('deadlock detected'), { code: '40P01' });
  }

  @Get('sdk/v1/redis-down')
  redisDown(): never {
    throw new Error("Stream isn't writeable and enableOfflineQueue options is false");
  }
}

@Module({
  controllers: [ThrowingController],
  providers: [{ provide: APP_FILTER, useClass: GlobalExceptionFilter }],
})
class ProbeModule {}

describe('GlobalExceptionFilter (real HTTP through Nest)', () => {
  let app: INestApplication;
  const errorLog = jest.spyOn(Logger.prototype, 'error');

  beforeAll(async () => {
    const moduleRef = await Test.createTestingModule({ imports: [ProbeModule] }).compile();
    app = moduleRef.createNestApplication({ logger: false });
    await app.init();
  });
  afterAll(async () => {
    errorLog.mockRestore();
    await app.close();
  });

  it('maps a domain error to JPush status, code and headers on /v3', async () => {
    const res = await request(app.getHttpServer()).get('/v3/limited').expect(429);
    expect(res.body).toEqual({ error: { code: 2002, message: 'over the limit' } });
    expect(res.headers['retry-after']).toBe('7');
  });

  it('uses the per-API JPush code a service chose (7xxx for devices)', async () => {
    const res = await request(app.getHttpServer()).get('/v3/tags/bad').expect(400);
    expect(res.body).toEqual({ error: { code: 7002, message: 'tag too long' } });
  });

  it('answers every 7002 on the device, tag and alias APIs with 400, as JPush documents it', async () => {
    for (const path of ['/v3/devices/missing', '/v3/aliases/full']) {
      const res = await request(app.getHttpServer()).get(path).expect(400);
      expect(res.body).toEqual({ error: { code: 7002, message: 'no device x in this app' } });
    }
    const sdk = await request(app.getHttpServer()).get('/sdk/v1/missing').expect(404);
    expect(sdk.body).toEqual({ code: 'not_found', message: 'no device x in this app' });
  });

  it('answers its own failures on the device, tag and alias APIs with 7000', async () => {
    const boom = await request(app.getHttpServer()).get('/v3/devices/boom').expect(500);
    expect(boom.body).toEqual({ error: { code: 7000, message: 'internal error' } });
    const down = await request(app.getHttpServer()).get('/v3/tags/db-down').expect(503);
    expect(down.body).toEqual({ error: { code: 7000, message: 'a dependency is unavailable, retry later' } });
    expect(down.headers['retry-after']).toBe('1');
  });

  it('answers Herald shape with details outside /v3', async () => {
    const res = await request(app.getHttpServer()).get('/sdk/v1/limited').expect(429);
    expect(res.body).toEqual({ code: 'rate_limited', message: 'over the limit', details: { limit: 600 } });
  });

  it('turns an unexpected error into a 500 with an error id that is also logged, leaking nothing', async () => {
    const herald = await request(app.getHttpServer()).get('/dashboard/v1/boom').expect(500);
    expect(herald.body).toEqual({
      code: 'internal',
      message: 'internal error',
      error_id: expect.any(String),
    });
    expect(JSON.stringify(herald.body)).not.toContain('hunter2');
    const entry = errorLog.mock.calls
      .map((c) => c[0] as Record<string, unknown>)
      .find((e) => e.errorId === herald.body.error_id);
    expect(entry).toBeDefined();
    expect(JSON.stringify(entry)).toContain('hunter2');
    expect(JSON.stringify(entry)).not.toContain('device-token-abc');

    const jpush = await request(app.getHttpServer()).get('/v3/boom').expect(500);
    expect(jpush.body).toEqual({ error: { code: 1000, message: 'internal error' } });
  });

  it('answers a value the database rejects as 400, not 500', async () => {
    const res = await request(app.getHttpServer()).get('/sdk/v1/bad-uuid').expect(400);
    expect(res.body).toEqual({ code: 'invalid_parameter', message: 'invalid parameter value' });
  });

  it('answers a value too large for an index entry (54000) as 400, not 500', async () => {
    const res = await request(app.getHttpServer()).get('/sdk/v1/index-row-too-large').expect(400);
    expect(res.body).toEqual({ code: 'invalid_parameter', message: 'invalid parameter value' });
  });

  it('answers an unavailable database or Redis as 503 with Retry-After', async () => {
    const db = await request(app.getHttpServer()).get('/sdk/v1/db-down').expect(503);
    expect(db.body).toMatchObject({ code: 'unavailable', error_id: expect.any(String) });
    expect(db.headers['retry-after']).toBe('1');
    const jpush = await request(app.getHttpServer()).get('/v3/db-down').expect(503);
    expect(jpush.body).toEqual({
      error: { code: 1000, message: 'a dependency is unavailable, retry later' },
    });
    await request(app.getHttpServer()).get('/sdk/v1/redis-down').expect(503);
  });

  it('answers a statement the database cancelled at its statement timeout (57014) as 503 with Retry-After', async () => {
    const jpush = await request(app.getHttpServer()).get('/v3/push/validate-slow').expect(503);
    expect(jpush.body).toEqual({
      error: { code: 1000, message: 'a dependency is unavailable, retry later' },
    });
    expect(jpush.headers['retry-after']).toBe('1');
    const dash = await request(app.getHttpServer()).get('/dashboard/v1/slow').expect(503);
    expect(dash.body).toMatchObject({ code: 'unavailable', error_id: expect.any(String) });
    expect(dash.headers['retry-after']).toBe('1');
  });

  it('answers a transaction the database rolled back for a deadlock as 503 with Retry-After', async () => {
    const res = await request(app.getHttpServer()).get('/sdk/v1/deadlock').expect(503);
    expect(res.body).toMatchObject({ code: 'unavailable', error_id: expect.any(String) });
    expect(res.headers['retry-after']).toBe('1');
  });
});
