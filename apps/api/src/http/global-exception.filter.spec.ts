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

  @Get(['v3/boom', 'dashboard/v1/boom'])
  boom(): never {
    throw new Error('database password is hunter2');
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
    expect(errorLog.mock.calls.map((c) => c[0])).toContainEqual(
      expect.objectContaining({ errorId: herald.body.error_id }),
    );

    const jpush = await request(app.getHttpServer()).get('/v3/boom').expect(500);
    expect(jpush.body).toEqual({ error: { code: 1000, message: 'internal error' } });
  });
});
