import type { INestApplication } from '@nestjs/common';
import { HeraldError } from '@herald/common';
import { QueueService } from '@herald/platform';
import { compileAudience } from '@herald/audience';
import { createDataSource } from '@herald/db';
import {
  insertMessage,
  insertMessages,
  parsePushRequest,
  planJobId,
  shardJobId,
  type PushSpec,
} from '@herald/push';
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
      devices: [
        { channel: 'gateway', alias: '深圳' },
        { channel: 'gateway', alias: 'a@b!#$&*+=.|￥' },
        { channel: 'gateway', platform: 'ios', alias: 'a@b!#$&*+=.|￥' },
      ],
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

  /** The columns a message row is made of, as the general statement and the keyed one must both write them. */
  const stored = (id: string) =>
    ctx.db.query<Record<string, unknown>[]>(
      `SELECT app_id, sendno, source, status, cid, request, audience, platforms, time_to_live, override_message_id,
              schedule_id, correlation_id, shards_total, expires_at - created_at AS ttl,
              (SELECT array_agg(ARRAY[shard_no, from_device_id, to_device_id]) FROM message_shards WHERE message_id = m.id) AS shards
         FROM messages m WHERE id = $1`,
      [id],
    );

  it('writes a batch of registration-id or alias pushes with one set-based statement, row for row as the general one', async () => {
    const [a, b, ios] = tenant.devices.map((d) => d.device.registrationId);
    const app = tenant.app.app;
    // Registration ids that need quoting in an array literal: a device holds each.
    const odd = ['x"y\\z', '{a,b}', 'NULL', ' sp '];
    for (const rid of odd) {
      await ctx.db.query(
        `INSERT INTO devices (app_id, registration_id, device_secret_hash, platform, channel)
         VALUES ($1, $2, 'h', 'android', 'gateway')`,
        [app.id, rid],
      );
    }
    const batches: PushSpec[][] = [
      [
        spec({ audience: { registration_id: [a] }, options: { sendno: 11, time_to_live: 60 } }),
        spec({ audience: { registration_id: ['nobody-has-this-id'] }, options: { sendno: 12 } }),
        spec({
          audience: { registration_id: [b, ios] },
          cid: `${app.appKey}-c0ffee00-0000-4000-8000-000000000001`,
        }),
      ],
      [
        spec({ platform: ['android'], audience: { registration_id: [ios] }, options: { sendno: 21 } }),
        spec({ platform: ['android'], audience: { registration_id: [b, ios] }, options: { sendno: 22 } }),
      ],
      [
        spec({ audience: { alias: ['深圳'] }, options: { sendno: 31 } }),
        spec({
          audience: { alias: ['a@b!#$&*+=.|￥'] },
          options: { sendno: 32, override_msg_id: '1000000001' },
        }),
        spec({ audience: { alias: ['nobody'] }, options: { sendno: 33 } }),
      ],
    ];
    const oddSpec = {
      ...spec({ audience: { registration_id: [a] } }),
      audience: { all: false, registration_id: odd },
    };
    batches.push([oddSpec, { ...oddSpec, audience: { all: false, registration_id: [odd[1]] } }]);
    const expected = [
      [true, false, true],
      [false, true],
      [true, true, false],
      [true, true],
    ];

    // One connection for the keyed statements, so the session they were prepared in can be asked.
    const single = createDataSource({ url: ctx.config.database.url, poolSize: 1 });
    await single.initialize();
    for (const [n, batch] of batches.entries()) {
      const items = batch.map((s, i) => ({
        message: { appId: app.id, spec: s, singleShard: true, correlationId: `req-${n}-${i}` },
        target: compileAudience(app.id, s),
      }));
      expect(items.every((it) => it.target.preparable)).toBe(true);
      const keyed = await insertMessages(single, items);
      expect(keyed.map((id) => id !== undefined)).toEqual(expected[n]);
      // The general statement (inside a transaction, statements stay unnamed) writes the same rows.
      const general = await ctx.db.transaction(async (tx) => {
        const ids: (string | undefined)[] = [];
        for (const it of items) ids.push(await insertMessage(tx, it.message, it.target));
        return ids;
      });
      expect(general.map((id) => id !== undefined)).toEqual(expected[n]);
      for (const [i, id] of keyed.entries()) {
        if (id === undefined) continue;
        const [mine, theirs] = [await stored(id), await stored(general[i]!)];
        expect(mine).toEqual(theirs);
        expect(mine).toHaveLength(1);
      }
    }
    // The keyed path really ran: one prepared insert per audience shape (registration ids for every
    // platform, for Android only, aliases), reused across batches of different sizes.
    const prepared = await single.query<{ n: number }[]>(
      `SELECT count(*)::int AS n FROM pg_prepared_statements WHERE statement LIKE '%OVERRIDING SYSTEM VALUE%'`,
    );
    await single.destroy();
    expect(prepared[0].n).toBe(3);
  });
});
