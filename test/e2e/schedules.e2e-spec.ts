import type { RequestOptions } from 'node:http';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import { connect as netConnect } from 'node:net';
import type { Duplex } from 'node:stream';
import type { INestApplication } from '@nestjs/common';
import { Test, type TestingModule } from '@nestjs/testing';
import { AudienceService } from '@herald/audience';
import { QueueService } from '@herald/platform';
import type { PushSpec } from '@herald/push';
import { ManualClock, SCHEDULE_CLOCK } from '@herald/schedules';
import {
  createApp,
  createDevice,
  createTenant,
  createTenantFixture,
  createTestContext,
  deleteNamespace,
  type CreatedApp,
  type DeviceOverrides,
  type TestContext,
} from '@herald/testing';
import { ApiModule } from '../../apps/api/src/api.module';
import { CampaignService } from '../../apps/api/src/schedules/campaign.service';
import { ReconcilerService } from '../../apps/worker/src/push/reconciler.service';
import { FireDueSchedulesHandler } from '../../apps/worker/src/schedules/fire-due.handler';
import { WorkerModule } from '../../apps/worker/src/worker.module';

/**
 * Schedules end to end, in one process: the api and two workers share one PostgreSQL, one Redis
 * namespace and one controllable clock (`SCHEDULE_CLOCK`), so minutes and months pass in
 * milliseconds. Workers fire through their recurring BullMQ job as in production; tests also call
 * the handler directly at chosen instants and assert what a user sees: messages and their devices.
 */
// jpush-async is plain JavaScript without types.
// eslint-disable-next-line @typescript-eslint/no-require-imports
const { JPushAsync: JPush } = require('jpush-async') as {
  JPushAsync: {
    buildClient(appKey: string, secret: string, retry: null, debug: boolean): JPushClient;
    ALL: string;
  };
};
interface SchedulePayload {
  setPlatform(p: unknown): SchedulePayload;
  setAudience(...a: unknown[]): SchedulePayload;
  setNotification(...n: unknown[]): SchedulePayload;
  setSingleSchedule(time: string): SchedulePayload;
  setPeriodicalSchedule(
    start: string,
    end: string,
    time: string,
    unit: string,
    frequency: number,
    point: string[] | null,
  ): SchedulePayload;
  setSchedule(name: string, enabled: boolean): Promise<{ schedule_id: string; name: string }>;
  updateSchedule(id: string, name: string | null, enabled: boolean | null): Promise<Record<string, unknown>>;
}
interface JPushClient {
  push(): SchedulePayload;
  getSchedule(id: string): Promise<Record<string, unknown>>;
  getScheduleList(page: number): Promise<Record<string, unknown>>;
  delSchedule(id: string): Promise<unknown>;
}

let ctx: TestContext;
let api: INestApplication;
let apiRef: TestingModule;
let port: number;
const workers: TestingModule[] = [];
const clock = new ManualClock('2027-03-01T00:00:00Z');
const originalAgent = https.globalAgent;

class JPushHostsToHerald extends https.Agent {
  override createConnection(
    options: RequestOptions,
    cb?: (err: Error | null, stream: Duplex) => void,
  ): Duplex | null | undefined {
    if (options.host && /(^|\.)jpush\.cn$/.test(options.host)) return netConnect(port, '127.0.0.1');
    return super.createConnection(options, cb);
  }
}

async function bootWorker(name: string): Promise<TestingModule> {
  const ref = await Test.createTestingModule({ imports: [WorkerModule.forRoot(ctx.config, name)] })
    .overrideProvider(SCHEDULE_CLOCK)
    .useValue(clock)
    .compile();
  await ref.init();
  return ref;
}

beforeAll(async () => {
  ctx = await createTestContext();
  apiRef = await Test.createTestingModule({ imports: [ApiModule.forRoot(ctx.config)] })
    .overrideProvider(SCHEDULE_CLOCK)
    .useValue(clock)
    .compile();
  api = apiRef.createNestApplication({ bodyParser: false });
  await api.listen(0, '127.0.0.1');
  port = (api.getHttpServer().address() as AddressInfo).port;
  workers.push(await bootWorker('worker-a'), await bootWorker('worker-b'));
}, 60_000);

afterAll(async () => {
  https.globalAgent = originalAgent;
  for (const w of workers) await w.close();
  await api?.close();
  await ctx?.close();
});

async function call(
  app: CreatedApp | null,
  method: string,
  path: string,
  body?: unknown,
): Promise<{
  status: number;
  body: Record<string, unknown> & { error?: { code: number; message: string } };
}> {
  const res = await fetch(`http://127.0.0.1:${port}${path}`, {
    method,
    headers: {
      ...(app ? { Authorization: app.basicAuth } : {}),
      ...(body === undefined ? {} : { 'Content-Type': 'application/json' }),
    },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  expect(res.headers.get('content-type')).toMatch(/application\/json/);
  return { status: res.status, body: (await res.json()) as never };
}

/** Both workers evaluate due schedules at the clock's time, concurrently, twice each. */
async function fireNow(): Promise<void> {
  const handlers = workers.map((w) => w.get(FireDueSchedulesHandler));
  await Promise.all([...handlers, ...handlers].map((h) => h.run()));
}

async function at(iso: string): Promise<void> {
  clock.set(iso);
  await fireNow();
}

const fires = (scheduleId: string) =>
  ctx.db
    .query<{ fire_at: Date; utc_offset_minutes: number; message_id: string | null }[]>(
      `SELECT fire_at, utc_offset_minutes, message_id::text AS message_id FROM schedule_fires
        WHERE schedule_id = $1 ORDER BY fire_at, utc_offset_minutes`,
      [scheduleId],
    )
    .then((rows) => rows.map((r) => ({ ...r, fire_at: r.fire_at.toISOString() })));

const messages = (scheduleId: string) =>
  ctx.db.query<{ id: string; source: string; request: PushSpec }[]>(
    `SELECT id::text AS id, source, request FROM messages WHERE schedule_id = $1 ORDER BY id`,
    [scheduleId],
  );

/** The registration ids a message's stored audience reaches. */
async function reached(appId: string, spec: PushSpec): Promise<string[]> {
  const compiled = await new AudienceService(ctx.db).compile(appId, spec);
  const rows = await ctx.db.query<{ rid: string }[]>(
    `SELECT d.registration_id AS rid FROM devices d WHERE ${compiled.where} ORDER BY 1`,
    compiled.params,
  );
  return rows.map((r) => r.rid);
}

async function until(check: () => Promise<boolean>, what: string, timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

async function appWith(devices: DeviceOverrides[], timezone = 'UTC'): Promise<CreatedApp> {
  const tenant = await createTenant(ctx.db);
  const app = await createApp(ctx.db, ctx.config, tenant, { timezone });
  for (const d of devices) await createDevice(ctx.db, ctx.config, app.app, d);
  return app;
}

const gateway = (over: DeviceOverrides = {}): DeviceOverrides => ({
  channel: 'gateway',
  platform: 'android',
  ...over,
});
const PUSH = { platform: 'all', audience: 'all', notification: { alert: 'hello' } };

async function create(
  app: CreatedApp,
  trigger: unknown,
  push: unknown = PUSH,
  name = 'sched',
): Promise<string> {
  const res = await call(app, 'POST', '/v3/schedules', { name, enabled: true, trigger, push });
  expect(res).toEqual({ status: 200, body: { schedule_id: expect.any(String), name } });
  return res.body.schedule_id as string;
}

it('a single schedule fires once at its time, through the real pipeline, and is then expired', async () => {
  const app = await appWith([gateway(), gateway(), gateway()]);
  clock.set('2027-03-01T00:00:00Z');
  const trigger = { single: { time: '2027-03-01 12:00:00' } };
  const id = await create(app, trigger, PUSH, 'once');
  expect(await call(app, 'GET', `/v3/schedules/${id}`)).toEqual({
    status: 200,
    body: { schedule_id: id, name: 'once', enabled: true, trigger, push: PUSH },
  });
  expect((await call(app, 'GET', '/v3/schedules')).body).toEqual({
    total_count: 1,
    total_pages: 1,
    page: 1,
    schedules: [{ schedule_id: id, name: 'once', enabled: true, trigger, push: PUSH }],
  });

  await at('2027-03-01T11:59:59Z');
  expect(await messages(id)).toEqual([]);
  await at('2027-03-01T12:00:00Z');
  await new Promise((r) => setTimeout(r, 1_500)); // the recurring ticks run too
  await at('2027-03-02T12:00:00Z');
  const [msg, ...more] = await messages(id);
  expect(more).toEqual([]);
  expect(msg.source).toBe('schedule');
  expect(await fires(id)).toEqual([
    { fire_at: '2027-03-01T12:00:00.000Z', utc_offset_minutes: 0, message_id: msg.id },
  ]);
  await until(async () => {
    const [row] = await ctx.db.query<{ status: string }[]>(`SELECT status FROM messages WHERE id = $1`, [
      msg.id,
    ]);
    return row.status === 'completed';
  }, 'the scheduled message to complete');
  const [counters] = await ctx.db.query<{ targets: string }[]>(
    `SELECT targets::text FROM message_counters WHERE message_id = $1 AND channel = 'gateway'`,
    [msg.id],
  );
  expect(counters.targets).toBe('3');

  expect(await call(app, 'GET', `/v3/schedules/${id}/msg_ids`)).toEqual({
    status: 200,
    body: { count: 1, msgids: [msg.id] },
  });
  expect((await call(app, 'GET', '/v3/schedules')).body).toMatchObject({ total_count: 0, schedules: [] });
  expect(await call(app, 'PUT', `/v3/schedules/${id}`, { name: 'again' })).toMatchObject({
    status: 400,
    body: { error: { code: 8100 } },
  });
});

it('weekly points with frequency 2 fire on those weekdays of every other week, in the app’s time zone', async () => {
  const app = await appWith([gateway()], 'Asia/Shanghai');
  clock.set('2027-02-28T00:00:00Z');
  const id = await create(app, {
    periodical: {
      start: '2027-03-01 00:00:00',
      end: '2027-03-31 23:59:59',
      time: '12:00:00',
      time_unit: 'WEEK',
      frequency: 2,
      point: ['WED', 'fri'],
    },
  });
  for (
    let t = Date.parse('2027-03-01T00:00:00Z');
    t <= Date.parse('2027-04-02T00:00:00Z');
    t += 6 * 3600_000
  ) {
    await at(new Date(t).toISOString());
  }
  const got = await fires(id);
  // 12:00 in Shanghai is 04:00 UTC; 2027-03-01 is a Monday.
  expect(got.map((f) => f.fire_at)).toEqual([
    '2027-03-03T04:00:00.000Z',
    '2027-03-05T04:00:00.000Z',
    '2027-03-17T04:00:00.000Z',
    '2027-03-19T04:00:00.000Z',
    '2027-03-31T04:00:00.000Z',
  ]);
  expect((await messages(id)).map((m) => m.id)).toEqual(got.map((f) => f.message_id));
  const [row] = await ctx.db.query<{ status: string }[]>(`SELECT status FROM schedules WHERE id = $1`, [id]);
  expect(row.status).toBe('finished');
});

it('monthly points fire on those days, skipping days a month lacks', async () => {
  const app = await appWith([gateway()]);
  clock.set('2027-01-01T00:00:00Z');
  const id = await create(app, {
    periodical: {
      start: '2027-01-15 00:00:00',
      end: '2027-06-30 23:00:00',
      time: '09:00:00',
      time_unit: 'month',
      frequency: 1,
      point: ['01', '31'],
    },
  });
  for (let t = Date.parse('2027-01-15T10:00:00Z'); t <= Date.parse('2027-07-02T10:00:00Z'); t += 86_400_000) {
    await at(new Date(t).toISOString());
  }
  expect((await fires(id)).map((f) => f.fire_at.slice(0, 10))).toEqual([
    '2027-01-31',
    '2027-02-01',
    '2027-03-01',
    '2027-03-31',
    '2027-04-01',
    '2027-05-01',
    '2027-05-31',
    '2027-06-01',
  ]);
  expect(await messages(id)).toHaveLength(8);
});

it('honours frequency and the end date, then the schedule is expired', async () => {
  const app = await appWith([gateway()]);
  clock.set('2027-02-01T00:00:00Z');
  const id = await create(app, {
    periodical: {
      start: '2027-03-01 10:00:00',
      end: '2027-03-13 07:59:59',
      time: '08:00:00',
      time_unit: 'day',
      frequency: 3,
    },
  });
  for (
    let t = Date.parse('2027-03-01T00:00:00Z');
    t <= Date.parse('2027-03-20T00:00:00Z');
    t += 4 * 3600_000
  ) {
    await at(new Date(t).toISOString());
  }
  expect((await fires(id)).map((f) => f.fire_at)).toEqual([
    '2027-03-04T08:00:00.000Z',
    '2027-03-07T08:00:00.000Z',
    '2027-03-10T08:00:00.000Z',
  ]);
  expect(await messages(id)).toHaveLength(3);
  expect((await call(app, 'GET', '/v3/schedules')).body).toMatchObject({ total_count: 0 });
});

it('local time: each UTC-offset group is released at 09:00 on its own clock (three zones and the app’s)', async () => {
  const app = await appWith([], 'Asia/Tokyo');
  const dev = async (timezone: string | null) =>
    (await createDevice(ctx.db, ctx.config, app.app, gateway({ timezone }))).device.registrationId;
  const tokyo = [await dev(null), await dev('Asia/Tokyo')];
  const shanghai = [await dev('Asia/Shanghai'), await dev('Asia/Shanghai')];
  const london = [await dev('Europe/London')];
  const newYork = [await dev('America/New_York')];
  clock.set('2027-02-27T00:00:00Z');
  const push = { ...PUSH, options: { local_time: true } };
  const id = await create(app, { single: { time: '2027-03-01 09:00:00' } }, push);
  expect((await call(app, 'GET', `/v3/schedules/${id}`)).body.push).toEqual(push);

  await at('2027-02-28T19:00:00Z'); // UTC+14 reaches 09:00: nobody lives there
  await at('2027-02-28T23:59:59Z');
  expect(await messages(id)).toEqual([]);
  await at('2027-03-01T00:00:00Z');
  expect(await messages(id)).toHaveLength(1);
  await at('2027-03-01T01:00:00Z');
  await at('2027-03-01T08:59:59Z');
  expect(await messages(id)).toHaveLength(2);
  await at('2027-03-01T09:00:00Z');
  await at('2027-03-01T14:00:00Z');
  await at('2027-03-01T21:00:00Z');
  await at('2027-03-02T21:00:00Z');

  expect((await fires(id)).map((f) => [f.fire_at, f.utc_offset_minutes])).toEqual([
    ['2027-03-01T00:00:00.000Z', 540],
    ['2027-03-01T01:00:00.000Z', 480],
    ['2027-03-01T09:00:00.000Z', 0],
    ['2027-03-01T14:00:00.000Z', -300],
  ]);
  const msgs = await messages(id);
  expect(msgs).toHaveLength(4);
  const groups = await Promise.all(msgs.map((m) => reached(app.app.id, m.request)));
  expect(groups).toEqual([tokyo.sort(), shanghai.sort(), london, newYork]);
  const [row] = await ctx.db.query<{ status: string }[]>(`SELECT status FROM schedules WHERE id = $1`, [id]);
  expect(row.status).toBe('finished');
});

it('two workers racing on every fire produce exactly one message per fire', async () => {
  const app = await appWith([gateway()]);
  clock.set('2027-03-01T00:00:00Z');
  const id = await create(app, {
    periodical: {
      start: '2027-03-01 00:00:00',
      end: '2027-03-05 23:00:00',
      time: '12:00:00',
      time_unit: 'day',
      frequency: 1,
    },
  });
  for (let day = 1; day <= 5; day++) {
    clock.set(`2027-03-0${day}T12:00:00Z`);
    await Promise.all([fireNow(), fireNow()]);
  }
  const got = await fires(id);
  expect(got.map((f) => f.fire_at.slice(0, 10))).toEqual([
    '2027-03-01',
    '2027-03-02',
    '2027-03-03',
    '2027-03-04',
    '2027-03-05',
  ]);
  const msgs = await messages(id);
  expect(msgs.map((m) => m.id)).toEqual(got.map((f) => f.message_id));
});

it('update re-plans, a paused schedule never fires and misses nothing late, a deleted one never fires', async () => {
  const app = await appWith([gateway()]);
  clock.set('2027-03-01T00:00:00Z');
  const periodical = {
    start: '2027-03-01 00:00:00',
    end: '2027-03-10 00:00:00',
    time: '12:00:00',
    time_unit: 'day',
    frequency: 1,
  };
  const id = await create(app, { periodical });
  const moved = { periodical: { ...periodical, time: '15:00:00' } };
  expect(await call(app, 'PUT', `/v3/schedules/${id}`, { trigger: moved })).toEqual({
    status: 200,
    body: { schedule_id: id, name: 'sched', enabled: true, trigger: moved, push: PUSH },
  });
  await at('2027-03-01T12:00:00Z');
  expect(await messages(id)).toEqual([]);
  await at('2027-03-01T15:00:00Z');
  expect(await messages(id)).toHaveLength(1);

  expect((await call(app, 'PUT', `/v3/schedules/${id}`, { enabled: false })).body).toMatchObject({
    enabled: false,
  });
  await at('2027-03-02T15:00:00Z');
  await at('2027-03-03T15:00:00Z');
  expect(await messages(id)).toHaveLength(1);
  await at('2027-03-03T16:00:00Z');
  expect((await call(app, 'PUT', `/v3/schedules/${id}`, { enabled: true })).body).toMatchObject({
    enabled: true,
  });
  await fireNow();
  expect(await messages(id)).toHaveLength(1);
  await at('2027-03-04T15:00:00Z');
  expect((await fires(id)).map((f) => f.fire_at)).toEqual([
    '2027-03-01T15:00:00.000Z',
    '2027-03-04T15:00:00.000Z',
  ]);

  expect(
    await call(app, 'PUT', `/v3/schedules/${id}`, { trigger: { single: { time: '2027-03-09 12:00:00' } } }),
  ).toMatchObject({
    status: 400,
    body: { error: { code: 8100 } },
  });
  const sent = await messages(id);
  expect(sent).toHaveLength(2);
  expect(await call(app, 'DELETE', `/v3/schedules/${id}`)).toEqual({ status: 200, body: {} });
  await at('2027-03-05T15:00:00Z');
  // Messages outlive their schedule (messages.schedule_id is set to null): count the app's.
  const [{ n }] = await ctx.db.query<{ n: number }[]>(
    `SELECT count(*)::int AS n FROM messages WHERE app_id = $1`,
    [app.app.id],
  );
  expect(n).toBe(2);
  expect(await call(app, 'GET', `/v3/schedules/${id}`)).toMatchObject({
    status: 404,
    body: { error: { code: 8104 } },
  });
  expect(await call(app, 'DELETE', `/v3/schedules/${id}`)).toMatchObject({
    status: 404,
    body: { error: { code: 8104 } },
  });
});

describe('error codes', () => {
  let app: CreatedApp;
  let other: CreatedApp;
  const count = async () =>
    (
      await ctx.db.query<{ n: number }[]>(`SELECT count(*)::int AS n FROM schedules WHERE app_id = $1`, [
        app.app.id,
      ])
    )[0].n;

  beforeAll(async () => {
    app = await appWith([gateway()]);
    other = (await createTenantFixture(ctx.db, ctx.config)).app;
    clock.set('2027-03-01T00:00:00Z');
  });

  it('8101: missing or wrong credentials', async () => {
    expect(await call(null, 'GET', '/v3/schedules')).toMatchObject({
      status: 401,
      body: { error: { code: 8101 } },
    });
    const wrong = {
      ...app,
      basicAuth: `Basic ${Buffer.from(`${app.appKey}:${'x'.repeat(24)}`).toString('base64')}`,
    };
    expect(await call(wrong, 'POST', '/v3/schedules', {})).toMatchObject({
      status: 401,
      body: { error: { code: 8101 } },
    });
  });

  const single = { single: { time: '2027-03-02 12:00:00' } };
  it.each([
    ['no name', { enabled: true, trigger: single, push: PUSH }],
    ['no push', { name: 'n', enabled: true, trigger: single }],
    ['no trigger', { name: 'n', enabled: true, push: PUSH }],
    ['created disabled', { name: 'n', enabled: false, trigger: single, push: PUSH }],
    ['enabled not a boolean', { name: 'n', enabled: 'true', trigger: single, push: PUSH }],
    ['a name with a hyphen', { name: 'a-b', enabled: true, trigger: single, push: PUSH }],
    ['a name over 255 bytes', { name: '名'.repeat(86), enabled: true, trigger: single, push: PUSH }],
    ['an unknown key', { name: 'n', enabled: true, trigger: single, push: PUSH, when: 'now' }],
    [
      'a time in the past',
      { name: 'n', enabled: true, trigger: { single: { time: '2027-02-28 12:00:00' } }, push: PUSH },
    ],
    [
      'a malformed time',
      { name: 'n', enabled: true, trigger: { single: { time: '2027-03-02T12:00:00' } }, push: PUSH },
    ],
    [
      'a periodical trigger whose last time has passed',
      {
        name: 'n',
        enabled: true,
        trigger: {
          periodical: {
            start: '2027-01-01 00:00:00',
            end: '2027-02-01 00:00:00',
            time: '12:00:00',
            time_unit: 'day',
            frequency: 1,
          },
        },
        push: PUSH,
      },
    ],
    [
      'a push without audience',
      { name: 'n', enabled: true, trigger: single, push: { platform: 'all', notification: { alert: 'x' } } },
    ],
    [
      'a push with an unknown key',
      {
        name: 'n',
        enabled: true,
        trigger: single,
        push: { ...PUSH, notification: { android: { alert: 'x', build_id: 1 } } },
      },
    ],
    [
      'a non-boolean local_time',
      { name: 'n', enabled: true, trigger: single, push: { ...PUSH, options: { local_time: 'yes' } } },
    ],
    [
      'a payload over the APNs limit',
      {
        name: 'n',
        enabled: true,
        trigger: single,
        push: { ...PUSH, notification: { alert: 'x'.repeat(5000) } },
      },
    ],
    [
      'another app’s cid',
      {
        cid: `${'a'.repeat(24)}-711161d4-5f17-4d2f-b855-5e5a8909b26e`,
        name: 'n',
        enabled: true,
        trigger: single,
        push: PUSH,
      },
    ],
  ])('8100 and nothing stored: %s', async (_, body) => {
    const before = await count();
    const res = await call(app, 'POST', '/v3/schedules', body);
    expect(res).toEqual({ status: 400, body: { error: { code: 8100, message: expect.any(String) } } });
    expect(await count()).toBe(before);
  });

  it('8100 for a body that is not JSON at all, and 7002 on the device APIs', async () => {
    const send = async (path: string) => {
      const res = await fetch(`http://127.0.0.1:${port}${path}`, {
        method: 'POST',
        headers: { Authorization: app.basicAuth, 'Content-Type': 'application/json' },
        body: '{"name": ',
      });
      return { status: res.status, body: await res.json() };
    };
    const before = await count();
    expect(await send('/v3/schedules')).toEqual({
      status: 400,
      body: { error: { code: 8100, message: expect.any(String) } },
    });
    expect(await count()).toBe(before);
    expect((await send('/v3/devices/abc')).body).toMatchObject({ error: { code: 7002 } });
    expect((await send('/v3/push')).body).toMatchObject({ error: { code: 1003 } });
  });

  it('8100: a bad page, an empty update, more than 100 schedules in force', async () => {
    expect(await call(app, 'GET', '/v3/schedules?page=0')).toMatchObject({
      status: 400,
      body: { error: { code: 8100 } },
    });
    const id = await create(app, single);
    expect(await call(app, 'PUT', `/v3/schedules/${id}`, {})).toMatchObject({
      status: 400,
      body: { error: { code: 8100 } },
    });
    await ctx.db.query(
      `INSERT INTO schedules (app_id, name, trigger, push, spec) SELECT $1, 'bulk_' || i, '{}', '{}', '{}'
         FROM generate_series(1, 99) i`,
      [app.app.id],
    );
    expect(await count()).toBe(100);
    expect(
      await call(app, 'POST', '/v3/schedules', { name: 'n', enabled: true, trigger: single, push: PUSH }),
    ).toMatchObject({
      status: 400,
      body: { error: { code: 8100, message: expect.stringMatching(/at most 100/) } },
    });
    expect(await count()).toBe(100);
    const page2 = await call(app, 'GET', '/v3/schedules?page=2');
    expect(page2.body).toMatchObject({ total_count: 100, total_pages: 2, page: 2 });
    expect(page2.body.schedules).toHaveLength(50);
    await ctx.db.query(`DELETE FROM schedules WHERE app_id = $1`, [app.app.id]);
  });

  it('8104: unknown, malformed and other apps’ schedule ids', async () => {
    const theirs = await create(other, single);
    for (const id of ['0eac1b80-c2ac-4b69-948b-c65b34b96512', 'not-a-uuid', theirs]) {
      for (const [method, path, body] of [
        ['GET', `/v3/schedules/${id}`],
        ['GET', `/v3/schedules/${id}/msg_ids`],
        ['PUT', `/v3/schedules/${id}`, { name: 'x' }],
        ['DELETE', `/v3/schedules/${id}`],
      ] as const) {
        expect(await call(app, method, path, body)).toEqual({
          status: 404,
          body: { error: { code: 8104, message: expect.any(String) } },
        });
      }
    }
    expect((await call(other, 'GET', `/v3/schedules/${theirs}`)).status).toBe(200);
  });

  it('a cid makes a retried creation answer the first result and store one schedule', async () => {
    const { body } = await call(app, 'GET', '/v3/push/cid?type=schedule');
    const cid = (body.cidlist as string[])[0];
    const req = { cid, name: 'with_cid', enabled: true, trigger: single, push: PUSH };
    const first = await call(app, 'POST', '/v3/schedules', req);
    const second = await call(app, 'POST', '/v3/schedules', req);
    expect(second).toEqual(first);
    expect(await count()).toBe(1);
  });
});

it('campaigns: create, list, pause, resume, runs with message ids, cancel; hidden from /v3/schedules', async () => {
  const app = await appWith([gateway(), gateway()]);
  const campaigns = apiRef.get(CampaignService);
  clock.set('2027-03-01T00:00:00Z');
  const trigger = {
    periodical: {
      start: '2027-03-01 00:00:00',
      end: '2027-03-31 00:00:00',
      time: '10:00:00',
      time_unit: 'day',
      frequency: 1,
    },
  };
  const c = await campaigns.create(app.app, { name: 'Spring sale', push: PUSH, trigger });
  expect(c).toMatchObject({
    name: 'Spring sale',
    status: 'scheduled',
    trigger,
    push: PUSH,
    next_fire_at: '2027-03-01T10:00:00.000Z',
    runs: 0,
  });
  expect((await campaigns.list(app.app)).items.map((x) => x.id)).toEqual([c.id]);
  expect((await call(app, 'GET', '/v3/schedules')).body).toMatchObject({ total_count: 0 });

  await at('2027-03-01T10:00:00Z');
  expect((await campaigns.pause(app.app, c.id)).status).toBe('paused');
  await at('2027-03-02T10:00:00Z');
  clock.set('2027-03-02T12:00:00Z');
  expect(await campaigns.resume(app.app, c.id)).toMatchObject({
    status: 'scheduled',
    next_fire_at: '2027-03-03T10:00:00.000Z',
  });
  await at('2027-03-03T10:00:00Z');

  const runs = await campaigns.runs(app.app, c.id);
  expect(runs.items.map((r) => r.fire_at)).toEqual(['2027-03-03T10:00:00.000Z', '2027-03-01T10:00:00.000Z']);
  const ids = await campaigns.messageIds(app.app, c.id);
  expect(ids).toEqual([runs.items[1].msg_id, runs.items[0].msg_id]);
  const [{ source }] = await ctx.db.query<{ source: string }[]>(`SELECT source FROM messages WHERE id = $1`, [
    ids[0],
  ]);
  expect(source).toBe('campaign');
  const page1 = await campaigns.runs(app.app, c.id, { limit: 1 });
  const page2 = await campaigns.runs(app.app, c.id, { limit: 1, cursor: page1.next_cursor! });
  expect([...page1.items, ...page2.items].map((r) => [r.fire_at, r.msg_id])).toEqual(
    runs.items.map((r) => [r.fire_at, r.msg_id]),
  );

  expect((await campaigns.cancel(app.app, c.id)).status).toBe('cancelled');
  await at('2027-03-04T10:00:00Z');
  expect(await campaigns.messageIds(app.app, c.id)).toEqual(ids);
  await expect(campaigns.resume(app.app, c.id)).rejects.toMatchObject({ code: 'invalid_parameter' });
  const stranger = (await createTenantFixture(ctx.db, ctx.config)).app.app;
  await expect(campaigns.get(stranger, c.id)).rejects.toMatchObject({ code: 'not_found', status: 404 });
  await expect(
    campaigns.create(app.app, { name: 'x', push: { platform: 'all' }, trigger }),
  ).rejects.toMatchObject({
    code: 'missing_parameter',
    status: 400,
  });
});

it('JPush’s Node SDK, unchanged, creates, reads, lists, updates and deletes schedules', async () => {
  const app = await appWith([gateway()]);
  clock.set('2027-03-01T00:00:00Z');
  https.globalAgent = new JPushHostsToHerald({ keepAlive: false });
  const client = JPush.buildClient(app.appKey, app.masterSecret, null, false);
  const created = await client
    .push()
    .setPlatform(JPush.ALL)
    .setAudience(JPush.ALL)
    .setNotification('hello from a schedule')
    .setSingleSchedule('2027-03-02 12:00:00')
    .setSchedule('sdk_single', true);
  expect(created).toEqual({ schedule_id: expect.any(String), name: 'sdk_single' });
  const periodic = await client
    .push()
    .setPlatform(JPush.ALL)
    .setAudience(JPush.ALL)
    .setNotification('weekly')
    .setPeriodicalSchedule('2027-03-01 00:00:00', '2027-06-01 00:00:00', '09:30:00', 'WEEK', 1, [
      'MON',
      'THU',
    ])
    .setSchedule('sdk_weekly', true);

  expect(await client.getSchedule(created.schedule_id)).toMatchObject({
    schedule_id: created.schedule_id,
    name: 'sdk_single',
    enabled: true,
    trigger: { single: { time: '2027-03-02 12:00:00' } },
    push: { platform: 'all', audience: 'all', notification: { alert: 'hello from a schedule' } },
  });
  const list = await client.getScheduleList(1);
  expect(list).toMatchObject({ total_count: 2, total_pages: 1, page: 1 });
  expect((list.schedules as { name: string }[]).map((s) => s.name)).toEqual(['sdk_single', 'sdk_weekly']);

  expect(await client.push().updateSchedule(periodic.schedule_id, 'sdk_renamed', false)).toMatchObject({
    schedule_id: periodic.schedule_id,
    name: 'sdk_renamed',
    enabled: false,
  });
  expect(await client.delSchedule(created.schedule_id)).toEqual({});
  await expect(client.getSchedule(created.schedule_id)).rejects.toMatchObject({
    message: expect.stringMatching(/8104/),
  });

  await at('2027-03-02T12:00:00Z');
  await at('2027-03-04T09:30:00Z');
  expect(await messages(created.schedule_id)).toEqual([]);
  expect(await messages(periodic.schedule_id)).toEqual([]);
  https.globalAgent = originalAgent;
});

it('Redis flushed between creation and fire time: the reconciler restores the tick and it fires once', async () => {
  const app = await appWith([gateway()]);
  clock.set('2027-03-01T00:00:00Z');
  const id = await create(app, { single: { time: '2027-03-01 12:00:00' } });
  await deleteNamespace(ctx.redis, ctx.namespace);
  const maintenance = workers[0].get(QueueService).queue('maintenance');
  expect(await maintenance.getJobSchedulers()).toEqual([]);
  await workers[1].get(ReconcilerService).run();
  expect((await maintenance.getJobSchedulers()).map((s) => s.key)).toContain('schedules-fire-due');

  // No direct call: only the restored recurring job can fire it.
  clock.set('2027-03-01T12:00:00Z');
  await until(async () => (await messages(id)).length > 0, 'the schedule to fire through the restored job');
  await new Promise((r) => setTimeout(r, 2_500));
  expect(await messages(id)).toHaveLength(1);
  expect(await fires(id)).toHaveLength(1);
});
