import { join } from 'node:path';
import type { INestApplication, INestApplicationContext } from '@nestjs/common';
import request from 'supertest';
import { EnvelopeCipher } from '@herald/crypto';
import { QueueService } from '@herald/platform';
import { InboxStore } from '@herald/providers';
import { CredentialStore, shardJobId } from '@herald/push';
import { ScheduleFirer } from '@herald/schedules';
import {
  APNS_SCRIPTS,
  createFakeApnsKey,
  createFakeServiceAccount,
  createTenantFixture,
  createTestContext,
  FakeApnsServer,
  FakeFcmServer,
  type CreatedDevice,
  type DeviceOverrides,
  type TenantFixture,
  type TestContext,
} from '@herald/testing';
import { createApiApp } from '../../apps/api/src/api.bootstrap';
import { PushRuntime } from '../../apps/worker/src/push/push.runtime';
import { ReconcilerService } from '../../apps/worker/src/push/reconciler.service';
import { startWorker } from '../../apps/worker/src/worker.bootstrap';

/**
 * The unified push in one process: the real API and worker modules, real PostgreSQL and Redis, the
 * real APNs and FCM client libraries against the fake servers, gateway inboxes read back from Redis.
 * (The multi-process flows — real gateway processes, a killed worker — are in test/e2e.)
 */
const CA_FILE = join(__dirname, '../../libs/testing/src/fakes/certs/ca.pem');
let ctx: TestContext;
let api: INestApplication;
let worker: INestApplicationContext;
let apns: FakeApnsServer;
let fcm: FakeFcmServer;
let inbox: InboxStore;
const apnsKey = createFakeApnsKey('com.herald.push');
const account = createFakeServiceAccount('herald-push');

const http = () => request(api.getHttpServer());

beforeAll(async () => {
  [apns, fcm] = await Promise.all([FakeApnsServer.start(), FakeFcmServer.start()]);
  apns.registerKey(apnsKey);
  fcm.registerServiceAccount(account);
  ctx = await createTestContext({
    HERALD_APNS_ENDPOINT: apns.url,
    HERALD_FCM_ENDPOINT: fcm.url,
    NODE_EXTRA_CA_CERTS: CA_FILE,
    HERALD_SHARD_SIZE: '100',
    HERALD_RECONCILE_INTERVAL_MS: '3600000',
  });
  api = await createApiApp(ctx.config);
  await api.init();
  worker = await startWorker(ctx.config);
  inbox = new InboxStore(ctx.redis, ctx.namespace);
}, 60_000);

afterAll(async () => {
  await worker?.close();
  await api?.close();
  await ctx?.close();
  await Promise.all([apns?.close(), fcm?.close()]);
});

async function tenantWith(devices: DeviceOverrides[]): Promise<TenantFixture> {
  const t = await createTenantFixture(ctx.db, ctx.config, { devices });
  const store = new CredentialStore(ctx.db, new EnvelopeCipher(ctx.config.crypto));
  await store.saveApns(
    t.app.app.id,
    'both',
    { kind: 'token', key: apnsKey.key, keyId: apnsKey.keyId, teamId: apnsKey.teamId },
    apnsKey.bundleId,
  );
  await store.saveFcm(t.app.app.id, account);
  return t;
}

async function push(t: TenantFixture, body: Record<string, unknown>, expectStatus = 200) {
  return http().post('/v3/push').set('Authorization', t.app.basicAuth).send(body).expect(expectStatus);
}

async function settled(msgId: string, timeoutMs = 20_000): Promise<string> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const [row] = await ctx.db.query<{ status: string }[]>(`SELECT status FROM messages WHERE id = $1`, [
      msgId,
    ]);
    if (row && (row.status === 'completed' || row.status === 'cancelled' || row.status === 'failed'))
      return row.status;
    if (Date.now() > deadline) throw new Error(`message ${msgId} still ${row?.status}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

async function counters(msgId: string) {
  const rows = await ctx.db.query<{ channel: string; targets: string; sent: string; failed: string }[]>(
    `SELECT channel, targets::text, sent::text, failed::text FROM message_counters WHERE message_id = $1 ORDER BY channel`,
    [msgId],
  );
  return Object.fromEntries(
    rows.map((r) => [
      r.channel,
      { targets: Number(r.targets), sent: Number(r.sent), failed: Number(r.failed) },
    ]),
  );
}

async function failures(msgId: string) {
  const rows = await ctx.db.query<{ channel: string; reason: string; count: string }[]>(
    `SELECT channel, reason, count::text FROM message_failures WHERE message_id = $1 ORDER BY channel, reason`,
    [msgId],
  );
  return rows.map((r) => `${r.channel}:${r.reason}:${r.count}`);
}

const apnsTo = (msgId: string) => apns.requests.filter((r) => r.body.includes(`"_hmid":"${msgId}"`));
const fcmTo = (msgId: string) =>
  fcm.requests.filter((r) => (r.message.data as Record<string, string> | undefined)?._hmid === msgId);
const inboxOf = async (d: CreatedDevice) =>
  (await inbox.fetch(d.device.registrationId, 100)).map((e) => e.id);

describe('POST /v3/push to all devices', () => {
  it('reaches every device once on its channel, counts exactly and completes', async () => {
    const t = await tenantWith([
      { channel: 'apns' },
      { channel: 'apns', apnsEnvironment: 'sandbox' },
      { channel: 'apns' },
      { channel: 'fcm' },
      { channel: 'fcm' },
      { channel: 'gateway' },
      { channel: 'gateway' },
    ]);
    const gone = t.devices[2];
    apns.script(gone.device.token!, APNS_SCRIPTS.unregistered(Date.now() - 1000));
    const res = await push(t, {
      platform: 'all',
      audience: 'all',
      notification: { alert: 'hello', android: { title: 'Hi' }, ios: { badge: '+1' } },
      options: { sendno: 7 },
    });
    expect(res.body).toEqual({ sendno: '7', msg_id: expect.stringMatching(/^\d+$/) });
    expect(res.headers['x-rate-limit-limit']).toBeDefined();
    // No ETag: nothing asks for an API answer again by it (Express hashed every body to make one).
    expect(res.headers.etag).toBeUndefined();
    const id = res.body.msg_id as string;
    expect(await settled(id)).toBe('completed');

    expect(await counters(id)).toEqual({
      apns: { targets: 3, sent: 2, failed: 1 },
      fcm: { targets: 2, sent: 2, failed: 0 },
      gateway: { targets: 2, sent: 2, failed: 0 },
    });
    expect(await failures(id)).toEqual(['apns:Unregistered:1']);
    const apnsTokens = apnsTo(id)
      .map((r) => r.token)
      .sort();
    expect(apnsTokens).toEqual(
      t.devices
        .slice(0, 3)
        .map((d) => d.device.token)
        .sort(),
    );
    expect(apnsTo(id).find((r) => r.token === t.devices[0].device.token)?.body).toContain('"badge":1');
    expect(
      fcmTo(id)
        .map((r) => r.token)
        .sort(),
    ).toEqual(
      t.devices
        .slice(3, 5)
        .map((d) => d.device.token)
        .sort(),
    );
    expect(await inboxOf(t.devices[5])).toEqual([id]);
    expect(await inboxOf(t.devices[6])).toEqual([id]);

    const ledger = await ctx.db.query<{ device_id: string; state: string; reason: string | null }[]>(
      `SELECT device_id::text, state, reason FROM deliveries WHERE message_id = $1 ORDER BY device_id`,
      [id],
    );
    expect(ledger).toHaveLength(7);
    expect(ledger.find((l) => l.device_id === gone.device.id)).toMatchObject({
      state: 'invalid_token',
      reason: 'Unregistered',
    });
    // The stored badge moved for the devices APNs accepted.
    const [{ badge }] = await ctx.db.query<{ badge: number }[]>(`SELECT badge FROM devices WHERE id = $1`, [
      t.devices[0].device.id,
    ]);
    expect(badge).toBe(1);
    // The invalid token went to the feedback queue.
    const jobs = await worker
      .get(QueueService)
      .queue('feedback')
      .getJobs(['waiting', 'active', 'completed', 'failed', 'delayed']);
    const items = jobs.flatMap((j) => (j.data as { items: { deviceId: string; reason: string }[] }).items);
    expect(items).toEqual([
      expect.objectContaining({
        deviceId: gone.device.id,
        messageId: id,
        channel: 'apns',
        reason: 'Unregistered',
      }),
    ]);
  });
});

describe('audiences', () => {
  let t: TenantFixture;
  beforeAll(async () => {
    t = await tenantWith([
      { channel: 'apns', tags: ['vip', 'beijing'], alias: 'alice' },
      { channel: 'fcm', tags: ['vip'], alias: 'bob', language: 'zh-hans-cn' },
      { channel: 'gateway', tags: ['beijing'], language: 'en' },
      { channel: 'gateway', tags: ['vip', 'beijing', 'muted'] },
    ]);
  });
  const reached = async (body: Record<string, unknown>) => {
    const res = await push(t, { platform: 'all', notification: { alert: 'x' }, ...body });
    const id = res.body.msg_id as string;
    await settled(id);
    const rows = await ctx.db.query<{ device_id: string }[]>(
      `SELECT device_id::text FROM deliveries WHERE message_id = $1 ORDER BY device_id`,
      [id],
    );
    return rows.map((r) => t.devices.findIndex((d) => d.device.id === r.device_id)).sort();
  };

  it('tags OR, tag_and AND, tag_not NOT', async () => {
    expect(await reached({ audience: { tag: ['vip', 'beijing'] } })).toEqual([0, 1, 2, 3]);
    expect(await reached({ audience: { tag_and: ['vip', 'beijing'] } })).toEqual([0, 3]);
    expect(await reached({ audience: { tag: ['vip'], tag_not: ['muted'] } })).toEqual([0, 1]);
  });

  it('alias, registration id, platform and the Herald filter', async () => {
    expect(await reached({ audience: { alias: ['bob'] } })).toEqual([1]);
    expect(await reached({ audience: { registration_id: [t.devices[2].device.registrationId] } })).toEqual([
      2,
    ]);
    expect(await reached({ platform: ['ios'], audience: 'all' })).toEqual([0]);
    expect(await reached({ audience: { filter: { language: ['zh'] } } })).toEqual([1]);
  });

  it('a saved segment', async () => {
    const [seg] = await ctx.db.query<{ id: string }[]>(
      `INSERT INTO segments (app_id, name, filter) VALUES ($1, 'gw', '{"channel": ["gateway"]}') RETURNING id`,
      [t.app.app.id],
    );
    expect(await reached({ audience: { segment: [seg.id] } })).toEqual([2, 3]);
  });
});

describe('errors: nothing is stored for a refused push', () => {
  let t: TenantFixture;
  beforeAll(async () => {
    t = await tenantWith([{ channel: 'apns', tags: ['a'] }]);
  });
  const messages = async () =>
    Number(
      (
        await ctx.db.query<{ n: string }[]>(`SELECT count(*) AS n FROM messages WHERE app_id = $1`, [
          t.app.app.id,
        ])
      )[0].n,
    );

  it.each([
    ['no audience', { platform: 'all', notification: { alert: 'x' } }, 1002],
    ['no notification or message', { platform: 'all', audience: 'all' }, 1002],
    ['a bad platform', { platform: 'symbian', audience: 'all', notification: { alert: 'x' } }, 1003],
    [
      'a negative time_to_live',
      { platform: 'all', audience: 'all', notification: { alert: 'x' }, options: { time_to_live: -1 } },
      1003,
    ],
    [
      'an APNs payload over 4096 bytes',
      { platform: ['ios'], audience: 'all', notification: { alert: 'x'.repeat(5000) } },
      1005,
    ],
    [
      'an unknown tag',
      { platform: 'all', audience: { tag: ['nobody'] }, notification: { alert: 'x' } },
      1011,
    ],
    // PostgreSQL's jsonb cannot hold U+0000: refused by the parser, not by a failed insert (was a 500).
    [
      'a NUL character in the alert',
      { platform: 'all', audience: 'all', notification: { alert: 'a\u0000b' } },
      1003,
    ],
    [
      'a NUL character in an extras key',
      {
        platform: 'all',
        audience: 'all',
        notification: { alert: 'x', android: { extras: { 'k\u0000': 1 } } },
      },
      1003,
    ],
  ])('%s → 400 with its JPush code', async (_what, body, code) => {
    const before = await messages();
    const res = await push(t, body, 400);
    expect(res.body).toEqual({ error: { code, message: expect.any(String) } });
    expect(await messages()).toBe(before);
  });

  it('a wrong secret → 401 with 1004', async () => {
    const res = await http()
      .post('/v3/push')
      .set('Authorization', `Basic ${Buffer.from(`${t.app.appKey}:${'y'.repeat(24)}`).toString('base64')}`)
      .send({ platform: 'all', audience: 'all', notification: { alert: 'x' } })
      .expect(401);
    expect(res.body.error.code).toBe(1004);
  });
});

describe('idempotency', () => {
  it('a cid and an Idempotency-Key return the first answer and send nothing twice', async () => {
    const t = await tenantWith([{ channel: 'fcm' }]);
    const cids = await http().get('/v3/push/cid?count=2').set('Authorization', t.app.basicAuth).expect(200);
    expect(cids.body.cidlist).toHaveLength(2);
    expect(cids.body.cidlist[0]).toMatch(new RegExp(`^${t.app.appKey}-[0-9a-f-]{36}$`));
    const body = {
      cid: cids.body.cidlist[0],
      platform: 'all',
      audience: 'all',
      notification: { alert: 'once' },
    };
    const [a, b] = await Promise.all([push(t, body), push(t, body)]);
    expect(b.body).toEqual(a.body);
    await settled(a.body.msg_id);
    expect(fcmTo(a.body.msg_id)).toHaveLength(1);

    const keyed = () =>
      http()
        .post('/v3/push')
        .set('Authorization', t.app.basicAuth)
        .set('Idempotency-Key', 'order-42')
        .send({ platform: 'all', audience: 'all', notification: { alert: 'keyed' } });
    const first = await keyed().expect(200);
    const again = await keyed().expect(200);
    expect(again.body).toEqual(first.body);
    const reused = await http()
      .post('/v3/push')
      .set('Authorization', t.app.basicAuth)
      .set('Idempotency-Key', 'order-42')
      .send({ platform: 'all', audience: 'all', notification: { alert: 'different' } })
      .expect(409);
    expect(reused.body.error.code).toBe(1003);
    const [{ n }] = await ctx.db.query<{ n: string }[]>(
      `SELECT count(*) AS n FROM messages WHERE app_id = $1`,
      [t.app.app.id],
    );
    expect(Number(n)).toBe(2);
  });
});

describe('options', () => {
  it('time_to_live 0 reaches only connected gateway devices; the rest fail as offline', async () => {
    const t = await tenantWith([{ channel: 'gateway' }]);
    const res = await push(t, {
      platform: ['android'],
      audience: 'all',
      message: { msg_content: 'now' },
      options: { time_to_live: 0 },
    });
    await settled(res.body.msg_id);
    expect(await counters(res.body.msg_id)).toEqual({ gateway: { targets: 1, sent: 0, failed: 1 } });
    expect(await failures(res.body.msg_id)).toEqual(['gateway:offline:1']);
    expect(await inboxOf(t.devices[0])).toEqual([]);
  });

  it('override_msg_id replaces the undelivered gateway copy', async () => {
    const t = await tenantWith([{ channel: 'gateway' }]);
    const first = await push(t, { platform: 'all', audience: 'all', notification: { alert: 'v1' } });
    await settled(first.body.msg_id);
    const second = await push(t, {
      platform: 'all',
      audience: 'all',
      notification: { alert: 'v2' },
      options: { override_msg_id: Number(first.body.msg_id) },
    });
    await settled(second.body.msg_id);
    expect(await inboxOf(t.devices[0])).toEqual([second.body.msg_id]);
  });

  it('an i18n notification leaves each offline gateway device its own language, several devices per language', async () => {
    const t = await tenantWith([
      { channel: 'gateway', language: 'en' },
      { channel: 'gateway', language: 'en' },
      { channel: 'gateway', language: 'zh-hans' },
      { channel: 'gateway', language: 'zh-hans' },
      { channel: 'gateway' },
    ]);
    const res = await push(t, {
      platform: 'all',
      audience: 'all',
      notification: { alert: 'default', i18n: { en: { alert: 'hello' }, 'zh-hans': { alert: '你好' } } },
    });
    await settled(res.body.msg_id);
    const alerts = await Promise.all(
      t.devices.map(async (d) => {
        const [e] = await inbox.fetch(d.device.registrationId, 10);
        return (JSON.parse(e.frame) as { body: { alert: string } }).body.alert;
      }),
    );
    expect(alerts).toEqual(['hello', 'hello', '你好', '你好', 'default']);
  });

  it('a custom message goes to FCM as data and to APNs as a background push', async () => {
    const t = await tenantWith([{ channel: 'apns' }, { channel: 'fcm' }]);
    const res = await push(t, {
      platform: 'all',
      audience: 'all',
      message: { msg_content: 'sync', extras: { k: 1 } },
    });
    const id = res.body.msg_id as string;
    await settled(id);
    const [a] = apnsTo(id);
    expect(a.pushType).toBe('background');
    expect(a.priority).toBe('5');
    expect(JSON.parse(a.body)).toMatchObject({ aps: { 'content-available': 1 }, msg_content: 'sync', k: 1 });
    const [f] = fcmTo(id);
    expect(f.message.notification).toBeUndefined();
    expect(f.message.data).toMatchObject({ msg_content: 'sync', k: '1' });
  });

  it('a transient APNs failure is retried for that token only, honouring Retry-After', async () => {
    const t = await tenantWith([{ channel: 'apns' }, { channel: 'apns' }]);
    apns.script(t.devices[0].device.token!, { ...APNS_SCRIPTS.unavailable(1), times: 1 });
    const res = await push(t, { platform: ['ios'], audience: 'all', notification: { alert: 'retry' } });
    const id = res.body.msg_id as string;
    await settled(id);
    expect(await counters(id)).toEqual({ apns: { targets: 2, sent: 2, failed: 0 } });
    const tries = apnsTo(id).map((r) => r.token);
    expect(tries.filter((x) => x === t.devices[0].device.token)).toHaveLength(2);
    expect(tries.filter((x) => x === t.devices[1].device.token)).toHaveLength(1);
    const [row] = await ctx.db.query<{ attempts: number }[]>(
      `SELECT attempts FROM deliveries WHERE message_id = $1 AND device_id = $2`,
      [id, t.devices[0].device.id],
    );
    expect(row.attempts).toBe(2);
  });

  it("a resend counts against the push's throttle_per_minute as its first try did", async () => {
    const t = await tenantWith([{ channel: 'apns' }, { channel: 'apns' }, { channel: 'apns' }]);
    apns.script(t.devices[0].device.token!, { ...APNS_SCRIPTS.unavailable(1), times: 1 });
    const res = await push(t, {
      platform: ['ios'],
      audience: 'all',
      notification: { alert: 'throttled retry' },
      options: { throttle_per_minute: 1000 },
    });
    const id = res.body.msg_id as string;
    await settled(id);
    expect(await counters(id)).toEqual({ apns: { targets: 3, sent: 3, failed: 0 } });
    // The per-minute counters of this push (one per clock minute it spanned) hold every send: 3 + 1.
    const keys = await ctx.redis.keys(`${ctx.namespace}:thr:${id}:*`);
    const used = (await Promise.all(keys.map((k) => ctx.redis.get(k)))).reduce((n, v) => n + Number(v), 0);
    expect(used).toBe(4);
  });
});

describe("a unicast's shard end", () => {
  it('rides with its last page only when nothing of the page is written after it', async () => {
    const t = await tenantWith([
      { channel: 'gateway' },
      { channel: 'apns', platform: 'ios' },
      { channel: 'apns', platform: 'ios' },
    ]);
    const [gw, ios, gone] = t.devices.map((d) => d.device.registrationId);
    apns.script(t.devices[2].device.token!, APNS_SCRIPTS.unregistered(Date.now() - 1000));
    // Observed, not replaced: the shard ends the worker records on their own (after the page).
    const ends = jest.spyOn(worker.get(PushRuntime).statements.ends, 'submit');
    const endedApart = (msgId: string) => ends.mock.calls.some(([end]) => end.messageId === msgId);
    try {
      // Nothing after the page's statement: the message completes in it, no separate end.
      const plain = await push(t, {
        platform: 'all',
        audience: { registration_id: [gw] },
        message: { msg_content: 'a' },
      });
      expect(await settled(plain.body.msg_id)).toBe('completed');
      expect(endedApart(plain.body.msg_id)).toBe(false);
      // Callback events are written in the page's statement: the message completes in it, and whoever
      // sees it completed finds its "sent" event already queued.
      const called = await push(t, {
        platform: 'all',
        audience: { registration_id: [gw] },
        message: { msg_content: 'b' },
        callback: { url: 'http://127.0.0.1:9/herald-callback', type: 8 },
      });
      expect(await settled(called.body.msg_id)).toBe('completed');
      expect(endedApart(called.body.msg_id)).toBe(false);
      const events = await ctx.db.query<{ event: string }[]>(
        `SELECT event FROM callback_events WHERE message_id = $1`,
        [called.body.msg_id],
      );
      expect(events.map((e) => e.event)).toEqual(['sent']);
      // A badge is written in it too.
      const badged = await push(t, {
        platform: 'all',
        audience: { registration_id: [ios] },
        notification: { ios: { alert: 'c', badge: '+1' } },
      });
      expect(await settled(badged.body.msg_id)).toBe('completed');
      expect(endedApart(badged.body.msg_id)).toBe(false);
      // An invalid token goes to the feedback queue after it: the end waits for the enqueue, so a
      // failed enqueue leaves the shard open for a redelivered job to hand the token again.
      const invalid = await push(t, {
        platform: 'all',
        audience: { registration_id: [gone] },
        notification: { ios: { alert: 'd' } },
      });
      expect(await settled(invalid.body.msg_id)).toBe('completed');
      expect(endedApart(invalid.body.msg_id)).toBe(true);
    } finally {
      ends.mockRestore();
    }
  });
});

describe('a shard job that fails right after its page is recorded', () => {
  it('loses nothing of the page when BullMQ runs it again: feedback, callbacks, badges, pushed-out entries', async () => {
    const t = await tenantWith([{ channel: 'apns' }, { channel: 'apns' }, { channel: 'gateway' }]);
    const [ok, gone, gw] = t.devices;
    apns.script(gone.device.token!, APNS_SCRIPTS.unregistered(Date.now() - 1000));
    // An earlier push whose gateway copy expires unread: the next push's inbox insert purges it and
    // reports it, once, for the worker to record.
    const early = await push(t, {
      platform: 'all',
      audience: { registration_id: [gw.device.registrationId] },
      message: { msg_content: 'early' },
      options: { time_to_live: 1 },
    });
    const earlyId = early.body.msg_id as string;
    expect(await settled(earlyId)).toBe('completed');
    await new Promise((r) => setTimeout(r, 1_200));

    // The worker "dies" right after the page's ledger statement commits: the job fails, and BullMQ
    // runs it again as a redelivered shard that skips every device the ledger holds.
    const runtime = worker.get(PushRuntime);
    const outcomes = runtime.statements.outcomes;
    const record = outcomes.submit.bind(outcomes);
    let crashes = 0;
    const spy = jest.spyOn(outcomes, 'submit').mockImplementation(async (page) => {
      const sent = await record(page);
      if (page.appId === t.app.app.id && page.rows.length > 0 && crashes++ === 0) {
        throw new Error('worker died after the ledger statement');
      }
      return sent;
    });
    // Callback events stay in the outbox for this test to read (no dispatcher takes them meanwhile).
    const callbacksQueue = worker.get(QueueService).queue('callbacks');
    await callbacksQueue.pause();
    try {
      const res = await push(t, {
        platform: 'all',
        audience: 'all',
        notification: { alert: 'again', ios: { badge: '+1' } },
        callback: { url: 'http://127.0.0.1:9/herald-callback', type: 8 },
      });
      const id = res.body.msg_id as string;
      expect(await settled(id)).toBe('completed');
      expect(crashes).toBeGreaterThan(0);
      const [shard] = await ctx.db.query<{ attempts: number }[]>(
        `SELECT attempts FROM message_shards WHERE message_id = $1`,
        [id],
      );
      expect(shard.attempts).toBe(2);

      // Sent once, counted once.
      expect(apnsTo(id).map((r) => r.token)).toHaveLength(2);
      expect(await counters(id)).toEqual({
        apns: { targets: 2, sent: 1, failed: 1 },
        gateway: { targets: 1, sent: 1, failed: 0 },
      });
      // The "sent" callback events of the page.
      const events = await ctx.db.query<{ device_id: string; event: string }[]>(
        `SELECT device_id::text, event FROM callback_events WHERE message_id = $1 ORDER BY device_id`,
        [id],
      );
      expect(events).toEqual(
        [ok, gw]
          .map((d) => ({ device_id: d.device.id, event: 'sent' }))
          .sort((a, b) => Number(a.device_id) - Number(b.device_id)),
      );
      // The stored badge APNs was sent.
      const [{ badge }] = await ctx.db.query<{ badge: number }[]>(`SELECT badge FROM devices WHERE id = $1`, [
        ok.device.id,
      ]);
      expect(badge).toBe(1);
      // The earlier message's copy the push purged from the inbox: failed as expired, counted once.
      const [dropped] = await ctx.db.query<{ state: string; reason: string }[]>(
        `SELECT state, reason FROM deliveries WHERE message_id = $1 AND device_id = $2`,
        [earlyId, gw.device.id],
      );
      expect(dropped).toEqual({ state: 'expired', reason: 'expired' });
      expect(await counters(earlyId)).toEqual({ gateway: { targets: 1, sent: 0, failed: 1 } });
      // The 410 reached the feedback queue: the device is invalidated.
      const deadline = Date.now() + 15_000;
      for (;;) {
        const [{ status }] = await ctx.db.query<{ status: string }[]>(
          `SELECT status FROM devices WHERE id = $1`,
          [gone.device.id],
        );
        if (status === 'invalid') break;
        if (Date.now() > deadline) throw new Error(`device with the 410 still ${status}`);
        await new Promise((r) => setTimeout(r, 100));
      }
    } finally {
      spy.mockRestore();
      await callbacksQueue.resume();
    }
  });
});

describe('recall and recovery', () => {
  it('recall stops pending shards and removes undelivered gateway copies', async () => {
    const t = await tenantWith(Array.from({ length: 250 }, () => ({ channel: 'gateway' as const })));
    // Three shards of ~100 devices, spread over 10 minutes: only the first goes out now.
    const res = await push(t, {
      platform: 'all',
      audience: 'all',
      notification: { alert: 'oops' },
      options: { big_push_duration: 10 },
    });
    const id = res.body.msg_id as string;
    const deadline = Date.now() + 15_000;
    while (
      (
        await ctx.db.query<{ n: number }[]>(
          `SELECT count(*)::int AS n FROM message_shards WHERE message_id = $1 AND status = 'done'`,
          [id],
        )
      )[0].n < 1
    ) {
      if (Date.now() > deadline) throw new Error('first shard never finished');
      await new Promise((r) => setTimeout(r, 50));
    }
    await http().delete(`/v3/push/${id}`).set('Authorization', t.app.basicAuth).expect(200).expect({});
    expect(await settled(id)).toBe('cancelled');
    const until = Date.now() + 15_000;
    for (;;) {
      const [{ n }] = await ctx.db.query<{ n: number }[]>(
        `SELECT count(*)::int AS n FROM deliveries WHERE message_id = $1 AND state = 'sent'`,
        [id],
      );
      if (n === 0) break;
      if (Date.now() > until) throw new Error(`${n} copies still in inboxes`);
      await new Promise((r) => setTimeout(r, 50));
    }
    const shards = await ctx.db.query<{ status: string }[]>(
      `SELECT status FROM message_shards WHERE message_id = $1 ORDER BY shard_no`,
      [id],
    );
    expect(shards.map((s) => s.status)).toEqual(['done', 'cancelled', 'cancelled']);
    for (const d of t.devices.slice(0, 5)) expect(await inboxOf(d)).toEqual([]);
    await http().delete(`/v3/push/99999999`).set('Authorization', t.app.basicAuth).expect(404);
  });

  it('Redis flushed after accept: the reconciler finishes the message', async () => {
    const t = await tenantWith([{ channel: 'fcm' }, { channel: 'gateway' }]);
    await worker.close();
    const res = await push(t, { platform: 'all', audience: 'all', notification: { alert: 'survive' } });
    const id = res.body.msg_id as string;
    // Everything this test's namespace holds in Redis is gone, the queued job with it.
    const keys = await ctx.redis.keys(`*${ctx.namespace}*`);
    if (keys.length > 0) await ctx.redis.del(...keys);
    await ctx.db.query(`UPDATE messages SET created_at = now() - interval '1 hour' WHERE id = $1`, [id]);
    worker = await startWorker(ctx.config);
    expect(await worker.get(ReconcilerService).run()).toEqual({ requeued: 1 });
    expect(await settled(id)).toBe('completed');
    expect(await counters(id)).toEqual({
      fcm: { targets: 1, sent: 1, failed: 0 },
      gateway: { targets: 1, sent: 1, failed: 0 },
    });
  });
});

describe("a push's audience is the one accepted, however late its shards run", () => {
  let t: TenantFixture;
  beforeAll(async () => {
    t = await tenantWith([
      { channel: 'fcm', tags: ['a'] },
      { channel: 'gateway', tags: ['a'] },
      { channel: 'gateway', tags: ['b'] },
      { channel: 'apns', tags: ['b'] },
    ]);
  });
  const segment = async (name: string, filter: object) =>
    (
      await ctx.db.query<{ id: string }[]>(
        `INSERT INTO segments (app_id, name, filter) VALUES ($1, $2, $3) RETURNING id::text`,
        [t.app.app.id, name, JSON.stringify(filter)],
      )
    )[0].id;
  const reachedBy = async (id: string) => {
    const rows = await ctx.db.query<{ device_id: string }[]>(
      `SELECT device_id::text FROM deliveries WHERE message_id = $1`,
      [id],
    );
    return rows.map((r) => t.devices.findIndex((d) => d.device.id === r.device_id)).sort();
  };
  const send = async (audience: unknown) =>
    (await push(t, { platform: 'all', audience, notification: { alert: 'x' } })).body.msg_id as string;
  /** Runs `meanwhile` between the accept and the first shard (no worker takes the jobs until then). */
  const withWorkerStopped = async <T>(meanwhile: () => Promise<T>): Promise<T> => {
    await worker.close();
    try {
      return await meanwhile();
    } finally {
      worker = await startWorker(ctx.config);
    }
  };

  it('a segment edited or deleted after the accept changes nothing of the push', async () => {
    const edited = await segment('edited', { tag: ['a'] });
    const deleted = await segment('deleted', { channel: ['gateway'] });
    const [p1, p2, both, unicast] = await withWorkerStopped(async () => {
      const ids = [
        await send({ segment: [edited] }),
        await send({ segment: [deleted] }),
        await send({ segment: [edited, deleted] }),
        // One shard, claimed with its message (the unicast path).
        await send({ registration_id: [t.devices[2].device.registrationId], segment: [deleted] }),
      ];
      await ctx.db.query(`UPDATE segments SET filter = '{"tag": ["b"]}' WHERE id = $1`, [edited]);
      await ctx.db.query(`DELETE FROM segments WHERE id = $1`, [deleted]);
      return ids;
    });
    expect(await settled(p1)).toBe('completed');
    expect(await settled(p2)).toBe('completed');
    expect(await settled(both)).toBe('completed');
    expect(await settled(unicast)).toBe('completed');
    expect(await reachedBy(p1)).toEqual([0, 1]);
    expect(await reachedBy(p2)).toEqual([1, 2]);
    expect(await reachedBy(both)).toEqual([0, 1, 2]);
    expect(await reachedBy(unicast)).toEqual([2]);
  });

  it('a scheduled push keeps the segments as they were when it fired', async () => {
    const seg = await segment('scheduled', { channel: ['gateway'] });
    const time = new Date(Date.now() + 7 * 86_400_000).toISOString().slice(0, 19).replace('T', ' ');
    const res = await http()
      .post('/v3/schedules')
      .set('Authorization', t.app.basicAuth)
      .send({
        name: 'seg',
        enabled: true,
        trigger: { single: { time } },
        push: { platform: 'all', audience: { segment: [seg] }, notification: { alert: 'x' } },
      })
      .expect(200);
    const scheduleId = res.body.schedule_id as string;
    const id = await withWorkerStopped(async () => {
      await ctx.db.query(`UPDATE schedules SET next_fire_at = now() - interval '1 second' WHERE id = $1`, [
        scheduleId,
      ]);
      const fires = await new ScheduleFirer(ctx.db, api.get(QueueService)).fireDue(new Date());
      const fire = fires.find((f) => f.scheduleId === scheduleId);
      expect(fire?.messageId).toEqual(expect.any(String));
      await ctx.db.query(`DELETE FROM segments WHERE id = $1`, [seg]);
      return fire!.messageId!;
    });
    expect(await settled(id)).toBe('completed');
    expect(await reachedBy(id)).toEqual([1, 2]);
  });

  it('a message stored without its segments, whose segment is gone, fails once and for all', async () => {
    const seg = await segment('gone', { tag: ['a'] });
    const id = await withWorkerStopped(async () => {
      const msgId = await send({ segment: [seg] });
      // As a message accepted before the segments were kept with it; old enough for the reconciler.
      await ctx.db.query(
        `UPDATE messages SET request = request - 'segment_filters', created_at = now() - interval '1 hour'
          WHERE id = $1`,
        [msgId],
      );
      await ctx.db.query(`DELETE FROM segments WHERE id = $1`, [seg]);
      return msgId;
    });
    expect(await settled(id)).toBe('failed');
    const [msg] = await ctx.db.query<{ error: string }[]>(`SELECT error FROM messages WHERE id = $1`, [id]);
    expect(msg.error).toContain(`no segment "${seg}"`);
    const shards = await ctx.db.query<{ status: string; attempts: number }[]>(
      `SELECT status, attempts FROM message_shards WHERE message_id = $1`,
      [id],
    );
    expect(shards).toEqual([{ status: 'cancelled', attempts: 1 }]);
    const queue = worker.get(QueueService).queue('push');
    const job = await queue.getJob(shardJobId(id, 0));
    expect(job?.attemptsMade).toBe(1);
    expect(await job?.getState()).toBe('failed');
    // The reconciler leaves it be: nothing of a failed message is unfinished.
    await worker.get(ReconcilerService).run();
    expect(await job?.getState()).toBe('failed');
    expect(await reachedBy(id)).toEqual([]);
  });

  it('last_active is measured from the accept in every shard, however late it starts', async () => {
    const u = await tenantWith([{ channel: 'gateway' }, { channel: 'gateway' }]);
    const ids = u.devices.map((d) => d.device.id);
    await ctx.db.query(
      `UPDATE devices SET last_seen_at = now() - CASE WHEN id = $1 THEN interval '20 hours' ELSE interval '30 hours' END
        WHERE id = ANY($2::bigint[])`,
      [ids[0], ids],
    );
    const id = await withWorkerStopped(async () => {
      const res = await push(u, {
        platform: 'all',
        audience: { filter: { last_active: { within_days: 1 } } },
        notification: { alert: 'x' },
      });
      const msgId = res.body.msg_id as string;
      // Five hours pass before the shard runs (as with a long big_push_duration): the device seen 20
      // hours before the accept was seen 25 hours before the shard.
      await ctx.db.query(`UPDATE messages SET created_at = created_at - interval '5 hours' WHERE id = $1`, [
        msgId,
      ]);
      await ctx.db.query(
        `UPDATE devices SET last_seen_at = last_seen_at - interval '5 hours' WHERE id = ANY($1::bigint[])`,
        [ids],
      );
      return msgId;
    });
    expect(await settled(id)).toBe('completed');
    const rows = await ctx.db.query<{ device_id: string }[]>(
      `SELECT device_id::text FROM deliveries WHERE message_id = $1`,
      [id],
    );
    expect(rows.map((r) => r.device_id)).toEqual([ids[0]]);
  });
});
