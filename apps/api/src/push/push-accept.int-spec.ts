import type { INestApplication } from '@nestjs/common';
import { HeraldError } from '@herald/common';
import { QueueService } from '@herald/platform';
import { parsePushRequest, planJobId, shardJobId } from '@herald/push';
import {
  createTenantFixture,
  createTestContext,
  type TenantFixture,
  type TestContext,
} from '@herald/testing';
import { createApiApp } from '../api.bootstrap';
import { PushService } from './push.service';

/**
 * Pushes accepted together share one insert statement and one bulk enqueue (PushService); each must
 * still get its own answer, its own row and its own first job, as if it had come alone.
 */
describe('accepting pushes together (real PostgreSQL and Redis)', () => {
  let ctx: TestContext;
  let api: INestApplication;
  let tenant: TenantFixture;

  beforeAll(async () => {
    ctx = await createTestContext();
    api = await createApiApp(ctx.config);
    await api.init();
    tenant = await createTenantFixture(ctx.db, ctx.config, {
      devices: [{ channel: 'gateway' }, { channel: 'gateway' }, { channel: 'gateway', platform: 'ios' }],
    });
  });
  afterAll(async () => {
    await api.close();
    await ctx.close();
  });

  const spec = (body: Record<string, unknown>) =>
    parsePushRequest(
      { platform: 'all', message: { msg_content: 'together' }, ...body },
      { appKey: tenant.app.appKey },
    );

  it('answers each push of one batch on its own audience: a message and a job each, or 1011 alone', async () => {
    const [a, b, ios] = tenant.devices.map((d) => d.device.registrationId);
    const service = api.get(PushService);
    const specs = [
      spec({ audience: { registration_id: [a] }, options: { sendno: 1 } }),
      spec({ audience: { registration_id: ['nobody-has-this-id'] }, options: { sendno: 2 } }),
      spec({ audience: { registration_id: [b, ios] }, options: { sendno: 3 } }),
      // Matches a device by id, but not by platform: no device, so no message.
      spec({ platform: ['android'], audience: { registration_id: [ios] }, options: { sendno: 4 } }),
      spec({ audience: 'all', options: { sendno: 5 } }),
    ];
    // Submitted in one turn of the event loop: one statement, one bulk enqueue.
    const settled = await Promise.allSettled(specs.map((s) => service.accept(tenant.app.app, s)));
    expect(settled.map((s) => s.status)).toEqual([
      'fulfilled',
      'rejected',
      'fulfilled',
      'rejected',
      'fulfilled',
    ]);
    for (const i of [1, 3]) {
      const reason = (settled[i] as PromiseRejectedResult).reason as HeraldError;
      expect(reason).toBeInstanceOf(HeraldError);
      expect(reason.jpushCode).toBe(1011);
    }
    const answers = [0, 2, 4].map(
      (i) => (settled[i] as PromiseFulfilledResult<{ sendno: string; msg_id: string }>).value,
    );
    expect(answers.map((r) => r.sendno)).toEqual(['1', '3', '5']);
    expect(new Set(answers.map((r) => r.msg_id)).size).toBe(3);

    const rows = await ctx.db.query<{ id: string; sendno: string; status: string; shards: number }[]>(
      `SELECT m.id::text, m.sendno::text, m.status, (SELECT count(*)::int FROM message_shards s WHERE s.message_id = m.id) AS shards
         FROM messages m WHERE m.app_id = $1 ORDER BY m.sendno`,
      [tenant.app.app.id],
    );
    expect(rows).toEqual([
      { id: answers[0].msg_id, sendno: '1', status: 'sending', shards: 1 },
      { id: answers[1].msg_id, sendno: '3', status: 'sending', shards: 1 },
      { id: answers[2].msg_id, sendno: '5', status: 'accepted', shards: 0 },
    ]);
    const queue = api.get(QueueService).queue('push');
    const jobs = await Promise.all([
      queue.getJob(shardJobId(answers[0].msg_id, 0)),
      queue.getJob(shardJobId(answers[1].msg_id, 0)),
      queue.getJob(planJobId(answers[2].msg_id)),
    ]);
    expect(jobs.map((j) => [j?.name, j?.data])).toEqual([
      ['push.shard', { messageId: answers[0].msg_id, shardNo: 0 }],
      ['push.shard', { messageId: answers[1].msg_id, shardNo: 0 }],
      ['push.plan', { messageId: answers[2].msg_id }],
    ]);
  });
});
