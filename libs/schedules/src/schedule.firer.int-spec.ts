import type { QueueService } from '@herald/platform';
import {
  createApp,
  createDevice,
  createTenant,
  createTestContext,
  type CreatedApp,
  type TestContext,
} from '@herald/testing';
import { ScheduleFirer, type Fire } from './schedule.firer';
import { formatOccurrence, planSchedule } from './schedule.planner';
import { parseSchedulePush } from './schedule-request.parser';
import { parseTrigger } from './trigger';

/**
 * The firer against PostgreSQL, driven at chosen instants. Schedules are written as the api's
 * ScheduleService writes them (planned from "now" with planSchedule); pausing is `enabled = false`.
 */
let ctx: TestContext;
const queues = { queue: () => ({ add: async () => undefined, addBulk: async () => undefined }) };
let firer: ScheduleFirer;

beforeAll(async () => {
  ctx = await createTestContext();
  firer = new ScheduleFirer(ctx.db, queues as unknown as QueueService);
});
afterAll(async () => {
  await ctx?.close();
});

const PUSH = { platform: 'all', audience: 'all', notification: { alert: 'hi' } };

async function appWith(zones: string[]): Promise<CreatedApp> {
  const app = await createApp(ctx.db, ctx.config, await createTenant(ctx.db), { timezone: 'UTC' });
  for (const timezone of zones)
    await createDevice(ctx.db, ctx.config, app.app, { channel: 'gateway', timezone });
  return app;
}

async function insertSchedule(
  app: CreatedApp,
  rawTrigger: unknown,
  options: { localTime?: boolean; enabled?: boolean; now: string },
): Promise<string> {
  const trigger = parseTrigger(rawTrigger);
  const push = parseSchedulePush(
    { ...PUSH, ...(options.localTime ? { options: { local_time: true } } : {}) },
    app.appKey,
  );
  const now = new Date(options.now);
  const plan = planSchedule(
    { trigger: trigger.trigger, localTime: push.localTime, timeZone: 'UTC' },
    now,
    null,
  );
  const [{ id }] = await ctx.db.query<{ id: string }[]>(
    `INSERT INTO schedules (app_id, name, enabled, trigger, push, spec, local_time, timezone, next_fire_at,
                            occurrence, active_from)
     VALUES ($1, 'n', $2, $3::jsonb, $4::jsonb, $5::jsonb, $6, 'UTC', $7, $8, $9) RETURNING id`,
    [
      app.app.id,
      options.enabled ?? true,
      JSON.stringify(trigger.stored),
      JSON.stringify(push.stored),
      JSON.stringify(push.spec),
      push.localTime,
      plan.nextFireAt,
      formatOccurrence(plan.occurrence!),
      now,
    ],
  );
  return id;
}

const row = async (id: string) =>
  (
    await ctx.db.query<{ status: string; next_fire_at: Date | null; occurrence: string | null }[]>(
      `SELECT status, next_fire_at, occurrence FROM schedules WHERE id = $1`,
      [id],
    )
  )[0];

const firesOf = async (id: string) =>
  ctx.db.query<{ fire_at: Date }[]>(`SELECT fire_at FROM schedule_fires WHERE schedule_id = $1`, [id]);

/** Runs the firer every `stepMs` from `from` to `to`; each message `id` produced, with when it went out. */
async function tick(id: string, from: string, to: string, stepMs: number) {
  const sent: (Fire & { sentAt: string })[] = [];
  for (let t = Date.parse(from); t <= Date.parse(to); t += stepMs) {
    for (const f of await firer.fireDue(new Date(t))) {
      if (f.scheduleId === id && f.messageId !== null) sent.push({ ...f, sentAt: new Date(t).toISOString() });
    }
  }
  return sent;
}

describe('local time', () => {
  it('overlapping occurrences of a daily schedule each release their groups on time (UTC+14 … UTC−11)', async () => {
    // In January: Kiritimati +14, Auckland +13 (summer time), London 0, Pago Pago −11.
    const app = await appWith([
      'Pacific/Kiritimati',
      'Pacific/Auckland',
      'Europe/London',
      'Pacific/Pago_Pago',
    ]);
    const periodical = {
      start: '2027-01-02 00:00:00',
      end: '2027-01-05 00:00:00',
      time: '09:00:00',
      time_unit: 'day',
      frequency: 1,
    };
    const id = await insertSchedule(app, { periodical }, { localTime: true, now: '2027-01-01T00:00:00Z' });

    const sent = await tick(id, '2027-01-01T00:00:00Z', '2027-01-05T12:00:00Z', 30 * 60_000);

    const expected: [number, string][] = [];
    for (const day of ['2027-01-02', '2027-01-03', '2027-01-04']) {
      const at = Date.parse(`${day}T09:00:00Z`);
      for (const offset of [840, 780, 0, -660]) {
        expected.push([offset, new Date(at - offset * 60_000).toISOString()]);
      }
    }
    // Each group goes out at its own 09:00, not when the occurrence before closes (09:00 at UTC−12).
    const late = sent.filter((f) => f.sentAt !== f.fireAt.toISOString());
    expect(late.map((f) => `${f.utcOffsetMinutes} due ${f.fireAt.toISOString()} sent ${f.sentAt}`)).toEqual(
      [],
    );
    const norm = (xs: [number, string][]) => xs.map(([offset, at]) => `${at} ${offset}`).sort();
    expect(norm(sent.map((f) => [f.utcOffsetMinutes, f.fireAt.toISOString()]))).toEqual(norm(expected));
    expect(await firesOf(id)).toHaveLength(12);
    expect(await row(id)).toMatchObject({ status: 'finished', next_fire_at: null, occurrence: null });
  });
});

describe('paused schedules', () => {
  it('a paused single schedule whose time passes expires without firing', async () => {
    const app = await appWith(['UTC']);
    const id = await insertSchedule(
      app,
      { single: { time: '2027-01-01 12:00:00' } },
      { enabled: false, now: '2027-01-01T00:00:00Z' },
    );
    expect(await firer.fireDue(new Date('2027-01-01T11:59:59Z'))).toEqual([]);
    expect(await row(id)).toMatchObject({ status: 'active' });

    const fires = await firer.fireDue(new Date('2027-01-02T00:00:00Z'));
    expect(fires.filter((f) => f.scheduleId === id)).toEqual([]);
    expect(await firesOf(id)).toEqual([]);
    // 'finished': out of GET /v3/schedules and the 100-per-app count; PUT answers "expired".
    expect(await row(id)).toMatchObject({ status: 'finished', next_fire_at: null, occurrence: null });
  });

  it('a paused local-time periodical schedule moves on after each occurrence closes, then expires', async () => {
    const app = await appWith(['Pacific/Kiritimati', 'UTC']);
    const periodical = {
      start: '2027-01-02 00:00:00',
      end: '2027-01-03 23:00:00',
      time: '09:00:00',
      time_unit: 'day',
      frequency: 1,
    };
    const id = await insertSchedule(
      app,
      { periodical },
      { localTime: true, enabled: false, now: '2027-01-01T00:00:00Z' },
    );

    const sent = await tick(id, '2027-01-01T00:00:00Z', '2027-01-03T20:00:00Z', 60 * 60_000);
    expect(sent).toEqual([]);
    // The 01-02 occurrence closed (UTC−12) at 01-02T21:00Z; the paused row now waits for 01-03's close.
    expect(await row(id)).toMatchObject({
      status: 'active',
      next_fire_at: new Date('2027-01-03T21:00:00Z'),
      occurrence: '2027-01-03 09:00:00',
    });

    expect(await tick(id, '2027-01-03T21:00:00Z', '2027-01-04T00:00:00Z', 60 * 60_000)).toEqual([]);
    expect(await firesOf(id)).toEqual([]);
    expect(await row(id)).toMatchObject({ status: 'finished', next_fire_at: null, occurrence: null });
  });
});
