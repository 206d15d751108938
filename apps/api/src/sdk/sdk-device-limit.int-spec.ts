import type { INestApplication } from '@nestjs/common';
import request from 'supertest';
import { DeviceReceiptEntity } from '@herald/db';
import {
  createDevice,
  createTenantFixture,
  createTestContext,
  type CreatedDevice,
  type TestContext,
} from '@herald/testing';
import { createApiApp } from '../api.bootstrap';

describe('SDK device rate limit (real PostgreSQL and Redis)', () => {
  let ctx: TestContext;
  let app: INestApplication;
  let a: CreatedDevice;
  let b: CreatedDevice;
  const http = () => request(app.getHttpServer());
  const receipt = (d: CreatedDevice, msgId: number, bearer = d.bearer) =>
    http().post('/sdk/v1/receipts').set('Authorization', bearer).send({ msg_id: msgId, event: 'delivered' });
  const tags = (d: CreatedDevice) =>
    http()
      .post(`/sdk/v1/devices/${d.device.registrationId}/tags`)
      .set('Authorization', d.bearer)
      .send({ add: ['x'] });

  beforeAll(async () => {
    ctx = await createTestContext({ HERALD_SDK_DEVICE_PER_MINUTE: '3' });
    app = await createApiApp(ctx.config);
    await app.init();
    const t = await createTenantFixture(ctx.db, ctx.config);
    a = await createDevice(ctx.db, ctx.config, t.app.app, { channel: 'fcm' });
    b = await createDevice(ctx.db, ctx.config, t.app.app, { channel: 'fcm' });
  });
  afterAll(async () => {
    await app.close();
    await ctx.close();
  });

  it('answers 429 rate_limited with Retry-After once a device is over its limit, storing nothing more', async () => {
    // The counters are fixed one-minute windows: keep the test inside one.
    const second = new Date().getSeconds();
    if (second >= 55) await new Promise((r) => setTimeout(r, (61 - second) * 1000));

    // Failed authentication spends nobody's quota, not even that of the device it names.
    const wrong = `Bearer ${b.device.registrationId}:${'x'.repeat(32)}`;
    for (let i = 0; i < 4; i++) await receipt(b, 1, wrong).expect(401);

    await receipt(a, 1).expect(200);
    await tags(a).expect(200);
    await receipt(a, 2).expect(200);
    const res = await receipt(a, 3).expect(429);
    expect(res.body).toEqual({
      code: 'rate_limited',
      message: expect.stringMatching(/at most 3 per minute/),
    });
    expect(Number(res.headers['retry-after'])).toBeGreaterThan(0);
    await tags(a).expect(429);
    const stored = await ctx.db
      .getRepository(DeviceReceiptEntity)
      .find({ where: { deviceId: a.device.id }, order: { messageId: 'ASC' } });
    expect(stored.map((r) => r.messageId)).toEqual(['1', '2']);

    // Another device has its own quota.
    for (let i = 1; i <= 3; i++) await receipt(b, i).expect(200);
    await receipt(b, 4).expect(429);
  });
});
