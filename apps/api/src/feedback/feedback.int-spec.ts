import { createHash } from 'node:crypto';
import type { INestApplication } from '@nestjs/common';
import request from 'supertest';
import { EnvelopeCipher } from '@herald/crypto';
import {
  createDevice,
  createTenantFixture,
  createTestContext,
  type TenantFixture,
  type TestContext,
} from '@herald/testing';
import { createApiApp } from '../api.bootstrap';
import { FeedbackService } from './feedback.service';

const sha256 = (s: string) => createHash('sha256').update(s).digest('hex');

describe('GET /v3/feedback and device restoration (real PostgreSQL and Redis)', () => {
  let ctx: TestContext;
  let app: INestApplication;
  let tenant: TenantFixture;
  const http = () => request(app.getHttpServer());
  const feed = (query: string, auth = tenant.app.basicAuth) =>
    http().get(`/v3/feedback${query}`).set('Authorization', auth);

  beforeAll(async () => {
    ctx = await createTestContext({ HERALD_SDK_REGISTER_PER_MINUTE: '1000' });
    app = await createApiApp(ctx.config);
    await app.init();
    tenant = await createTenantFixture(ctx.db, ctx.config);
  });
  afterAll(async () => {
    await app.close();
    await ctx.close();
  });

  /** Events as the worker writes them, at chosen times. */
  async function insertEvents(
    appId: string,
    rows: { rid: string; action: string; at: string }[],
  ): Promise<void> {
    await ctx.db.query(
      `INSERT INTO feedback_events (app_id, registration_id, channel, token_hash, token_suffix, reason, action,
                                    provider_timestamp, created_at)
       SELECT $1, r.rid, 'apns', 'hash-' || r.rid, right(r.rid, 8), 'Unregistered', r.action,
              '2025-03-01T00:00:00Z', r.at
         FROM unnest($2::text[], $3::text[], $4::timestamptz[]) AS r(rid, action, at)`,
      [appId, rows.map((r) => r.rid), rows.map((r) => r.action), rows.map((r) => r.at)],
    );
  }

  it('pages through the feed in order with a cursor, skipping internal events and other apps', async () => {
    const own = await createTenantFixture(ctx.db, ctx.config);
    const other = await createTenantFixture(ctx.db, ctx.config);
    await insertEvents(own.app.app.id, [
      { rid: 'rid-before', action: 'invalidated', at: '2025-02-28T23:59:59.999Z' },
      { rid: 'rid-a', action: 'invalidated', at: '2025-03-02T10:00:00.000001Z' },
      // Same instant: the id breaks the tie, so neither is skipped nor repeated across pages.
      { rid: 'rid-b', action: 'quarantined', at: '2025-03-02T10:00:00.000002Z' },
      { rid: 'rid-c', action: 'quarantined', at: '2025-03-02T10:00:00.000002Z' },
      { rid: 'rid-ignored', action: 'ignored', at: '2025-03-02T11:00:00Z' },
      { rid: 'rid-d', action: 'restored', at: '2025-03-03T00:00:00Z' },
    ]);
    await insertEvents(other.app.app.id, [
      { rid: 'rid-foreign', action: 'invalidated', at: '2025-03-02T12:00:00Z' },
    ]);

    const first = await feed('?since=2025-03-01T00:00:00Z&limit=2', own.app.basicAuth).expect(200);
    expect(first.body).toEqual({
      items: [
        {
          registration_id: 'rid-a',
          channel: 'apns',
          token_hash: 'hash-rid-a',
          token_suffix: 'rid-a',
          reason: 'Unregistered',
          action: 'invalidated',
          provider_timestamp: '2025-03-01T00:00:00.000Z',
          at: '2025-03-02T10:00:00.000Z',
        },
        expect.objectContaining({ registration_id: 'rid-b', action: 'quarantined' }),
      ],
      next_cursor: expect.any(String),
    });
    const second = await feed(`?cursor=${first.body.next_cursor}&limit=2`, own.app.basicAuth).expect(200);
    expect(second.body.items.map((i: { registration_id: string }) => i.registration_id)).toEqual([
      'rid-c',
      'rid-d',
    ]);
    // The last page says there is no more: the next walk starts again from a `since`.
    expect(second.body.next_cursor).toBeNull();
    const all = await feed('?since=2025-03-01', own.app.basicAuth).expect(200);
    expect(all.body.items).toHaveLength(4);
    expect(all.body.next_cursor).toBeNull();
    const foreign = await feed('?since=2025-03-01', other.app.basicAuth).expect(200);
    expect(foreign.body.items.map((i: { registration_id: string }) => i.registration_id)).toEqual([
      'rid-foreign',
    ]);
  });

  it.each([
    ['', 400, 1002],
    ['?limit=10', 400, 1002],
    ['?since=yesterday', 400, 1003],
    ['?since=2025-03-01T00:00:00Z&limit=0', 400, 1003],
    ['?since=2025-03-01T00:00:00Z&limit=1001', 400, 1003],
    ['?since=2025-03-01T00:00:00Z&limit=ten', 400, 1003],
    ['?cursor=not-a-cursor!', 400, 1003],
    [`?cursor=${Buffer.from('12:0').toString('base64url')}`, 400, 1003],
    ['?since=2025-03-01&since=2025-03-02', 400, 1003],
  ])('answers %s with %i and JPush code %i', async (query, status, code) => {
    const res = await feed(query).expect(status);
    expect(res.headers['content-type']).toMatch(/application\/json/);
    expect(res.body).toEqual({ error: { code, message: expect.any(String) } });
  });

  it('refuses a request without the app’s credentials', async () => {
    const res = await http().get('/v3/feedback?since=2025-03-01').expect(401);
    expect(res.body.error.code).toBe(1004);
  });

  it('a re-registration or a new token through the SDK API makes a pruned device active again, and says so', async () => {
    const app0 = tenant.app.app;
    const invalid = await createDevice(ctx.db, ctx.config, app0, {
      status: 'invalid',
      statusReason: 'Unregistered',
      statusChangedAt: new Date(),
    });
    const quarantined = await createDevice(ctx.db, ctx.config, app0, {
      status: 'quarantined',
      statusReason: 'BadDeviceToken',
      statusChangedAt: new Date(),
    });
    const since = new Date(Date.now() - 1000).toISOString();
    const reg = await http()
      .post('/sdk/v1/register')
      .set('X-App-Key', tenant.app.appKey)
      .send({ platform: 'ios', channel: 'apns', token: invalid.device.token, apns_environment: 'sandbox' })
      .expect(200);
    expect(reg.body.registration_id).toBe(invalid.device.registrationId);
    const newToken = 'ab'.repeat(32);
    await http()
      .put(`/sdk/v1/devices/${quarantined.device.registrationId}`)
      .set('Authorization', quarantined.bearer)
      .send({ token: newToken })
      .expect(200);

    const status = await ctx.db.query<
      { registration_id: string; status: string; status_reason: string | null }[]
    >(`SELECT registration_id, status, status_reason FROM devices WHERE id = ANY($1::bigint[]) ORDER BY id`, [
      [invalid.device.id, quarantined.device.id],
    ]);
    expect(status.map((s) => [s.status, s.status_reason])).toEqual([
      ['active', null],
      ['active', null],
    ]);
    const res = await feed(`?since=${encodeURIComponent(since)}`).expect(200);
    expect(res.body.items).toEqual([
      {
        registration_id: invalid.device.registrationId,
        channel: 'apns',
        token_hash: sha256(invalid.device.token!),
        token_suffix: invalid.device.token!.slice(-8),
        reason: 're_registered',
        action: 'restored',
        provider_timestamp: null,
        at: expect.any(String),
      },
      {
        registration_id: quarantined.device.registrationId,
        channel: 'apns',
        token_hash: sha256(newToken),
        token_suffix: newToken.slice(-8),
        reason: 'token_updated',
        action: 'restored',
        provider_timestamp: null,
        at: expect.any(String),
      },
    ]);
    const audit = await ctx.db.query<{ action: string; target_id: string; from: string }[]>(
      `SELECT action, target_id, details->>'from' AS from FROM audit_log
        WHERE app_id = $1 AND action = 'device.restored' ORDER BY id`,
      [app0.id],
    );
    expect(audit).toEqual([
      { action: 'device.restored', target_id: invalid.device.registrationId, from: 'invalid' },
      { action: 'device.restored', target_id: quarantined.device.registrationId, from: 'quarantined' },
    ]);
    // An active device re-registering is not a restoration.
    const before = (await feed(`?since=${encodeURIComponent(since)}`).expect(200)).body.items.length;
    await http()
      .post('/sdk/v1/register')
      .set('X-App-Key', tenant.app.appKey)
      .send({ platform: 'ios', channel: 'apns', token: invalid.device.token })
      .expect(200);
    expect((await feed(`?since=${encodeURIComponent(since)}`).expect(200)).body.items).toHaveLength(before);
  });

  it('configures the webhook URL with a fresh secret, stored encrypted, and removes it', async () => {
    const service = app.get(FeedbackService);
    const appId = tenant.app.app.id;
    const set = await service.configureWebhook(appId, 'https://hooks.example.com/herald');
    expect(set).toEqual({
      url: 'https://hooks.example.com/herald',
      secret: expect.stringMatching(/^whsec_/),
    });
    const [row] = await ctx.db.query<{ webhook_url: string; webhook_secret: string }[]>(
      `SELECT webhook_url, webhook_secret FROM apps WHERE id = $1`,
      [appId],
    );
    expect(row.webhook_url).toBe('https://hooks.example.com/herald');
    expect(row.webhook_secret).not.toContain(set!.secret);
    const cipher = new EnvelopeCipher(ctx.config.crypto);
    expect(cipher.decrypt(row.webhook_secret, `app_webhook:${appId}`).toString()).toBe(set!.secret);
    await expect(service.configureWebhook(appId, 'ftp://example.com')).rejects.toMatchObject({
      code: 'invalid_parameter',
    });
    await expect(
      service.configureWebhook('00000000-0000-4000-8000-000000000000', 'https://x.example'),
    ).rejects.toMatchObject({ code: 'not_found' });
    await service.configureWebhook(appId, null);
    const [cleared] = await ctx.db.query(`SELECT webhook_url, webhook_secret FROM apps WHERE id = $1`, [
      appId,
    ]);
    expect(cleared).toEqual({ webhook_url: null, webhook_secret: null });
  });
});
