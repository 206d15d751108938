import type { QueueService } from '@herald/platform';
import {
  ManualClock,
  parseSchedulePush,
  parseTrigger,
  ScheduleFirer,
  SCHEDULE_LIMITS,
} from '@herald/schedules';
import { createApp, createDevice, createTenant, createTestContext, type TestContext } from '@herald/testing';
import { CampaignService } from './campaign.service';
import { ScheduleService, type ScheduleApp } from './schedule.service';

/**
 * ScheduleService and CampaignService against real PostgreSQL, with a manual clock and the firer
 * called at chosen instants (no queues: the jobs it would enqueue are not the point here).
 */
describe('schedule service (real PostgreSQL)', () => {
  let ctx: TestContext;
  const clock = new ManualClock('2027-01-01T00:00:00Z');
  const queues = {
    queue: () => ({ add: async () => undefined, addBulk: async () => undefined }),
  } as unknown as QueueService;
  let schedules: ScheduleService;
  let campaigns: CampaignService;
  let firer: ScheduleFirer;

  beforeAll(async () => {
    ctx = await createTestContext();
    schedules = new ScheduleService(ctx.db, ctx.config, clock);
    campaigns = new CampaignService(schedules);
    firer = new ScheduleFirer(ctx.db, queues);
  });
  afterAll(async () => {
    await ctx?.close();
  });

  const PUSH = { platform: 'all', audience: 'all', notification: { alert: 'hi' } };

  /** An app (time zone UTC) with one gateway device in each zone given (null: a device without one). */
  async function appWith(zones: (string | null)[]): Promise<ScheduleApp> {
    const tenant = await createTenant(ctx.db);
    const created = await createApp(ctx.db, ctx.config, tenant, { timezone: 'UTC' });
    for (const timezone of zones) {
      await createDevice(ctx.db, ctx.config, created.app, { channel: 'gateway', timezone });
    }
    return { id: created.app.id, appKey: created.appKey, timezone: 'UTC' };
  }

  const state = async (id: string) => {
    const [row] = await ctx.db.query<{ next_fire_at: Date; occurrence: string; active_from: Date }[]>(
      `SELECT next_fire_at, occurrence, active_from FROM schedules WHERE id = $1`,
      [id],
    );
    return row;
  };
  const fires = async (id: string) =>
    (
      await ctx.db.query<{ fire_at: Date; utc_offset_minutes: number; message_id: string | null }[]>(
        `SELECT fire_at, utc_offset_minutes, message_id FROM schedule_fires WHERE schedule_id = $1
          ORDER BY fire_at, utc_offset_minutes`,
        [id],
      )
    ).map((f) => ({
      at: f.fire_at.toISOString(),
      offset: f.utc_offset_minutes,
      sent: f.message_id !== null,
    }));

  describe('an update that does not change when it fires keeps the pending occurrence', () => {
    const daily = {
      periodical: {
        start: '2027-01-01 00:00:00',
        end: '2027-01-10 00:00:00',
        time: '12:00:00',
        time_unit: 'day',
        frequency: 1,
      },
    };

    it('a rename while 12:00 is overdue (workers down): 12:00 still fires, once, late', async () => {
      const app = await appWith(['UTC']);
      clock.set('2027-01-01T08:00:00Z');
      const { schedule_id: id } = await schedules.create(app, {
        name: 'daily',
        trigger: parseTrigger(daily),
        push: parseSchedulePush(PUSH, app.appKey),
      });
      const before = await state(id);
      expect(before.next_fire_at.toISOString()).toBe('2027-01-01T12:00:00.000Z');

      // Workers are down from 12:00 to 12:10; the developer renames it, re-sends its push, and
      // "enables" it (it already is) at 12:05.
      clock.set('2027-01-01T12:05:00Z');
      await schedules.update(app, id, { name: 'renamed' });
      await schedules.update(app, id, { push: parseSchedulePush(PUSH, app.appKey), enabled: true });
      expect(await state(id)).toEqual(before);

      await firer.fireDue(new Date('2027-01-01T12:10:00Z'));
      expect(await fires(id)).toEqual([{ at: '2027-01-01T12:00:00.000Z', offset: 0, sent: true }]);
      expect((await state(id)).next_fire_at.toISOString()).toBe('2027-01-02T12:00:00.000Z');
    });

    it('a single schedule renamed while overdue still fires (it is not refused as expired)', async () => {
      const app = await appWith(['UTC']);
      clock.set('2027-01-01T08:00:00Z');
      const { schedule_id: id } = await schedules.create(app, {
        name: 'once',
        trigger: parseTrigger({ single: { time: '2027-01-01 12:00:00' } }),
        push: parseSchedulePush(PUSH, app.appKey),
      });
      clock.set('2027-01-01T12:05:00Z');
      await expect(schedules.update(app, id, { name: 'renamed' })).resolves.toMatchObject({
        name: 'renamed',
      });
      await firer.fireDue(new Date('2027-01-01T12:10:00Z'));
      expect(await fires(id)).toEqual([{ at: '2027-01-01T12:00:00.000Z', offset: 0, sent: true }]);
    });

    it('local time: a group released just before a rename is still sent', async () => {
      // 09:00 on 2 January reaches UTC+14 (Kiritimati) at 19:00 UTC on 1 January, UTC at 09:00 on the 2nd.
      const app = await appWith(['Pacific/Kiritimati', 'UTC']);
      clock.set('2027-01-01T00:00:00Z');
      const push = parseSchedulePush({ ...PUSH, options: { local_time: true } }, app.appKey);
      const { schedule_id: id } = await schedules.create(app, {
        name: 'local',
        trigger: parseTrigger({ single: { time: '2027-01-02 09:00:00' } }),
        push,
      });
      const before = await state(id);
      clock.set('2027-01-01T19:00:00.500Z');
      await schedules.update(app, id, { name: 'renamed' });
      expect(await state(id)).toEqual(before);
      await firer.fireDue(new Date('2027-01-01T19:00:01Z'));
      await firer.fireDue(new Date('2027-01-02T09:00:00Z'));
      expect(await fires(id)).toEqual([
        { at: '2027-01-01T19:00:00.000Z', offset: 840, sent: true },
        { at: '2027-01-02T09:00:00.000Z', offset: 0, sent: true },
      ]);
    });

    it('a changed trigger, pause or resume still re-plans from now', async () => {
      const app = await appWith(['UTC']);
      clock.set('2027-01-01T08:00:00Z');
      const { schedule_id: id } = await schedules.create(app, {
        name: 'daily',
        trigger: parseTrigger(daily),
        push: parseSchedulePush(PUSH, app.appKey),
      });
      clock.set('2027-01-01T12:05:00Z');
      const moved = { periodical: { ...daily.periodical, time: '15:00:00' } };
      await schedules.update(app, id, { trigger: parseTrigger(moved) });
      expect(await state(id)).toMatchObject({
        next_fire_at: new Date('2027-01-01T15:00:00Z'),
        occurrence: '2027-01-01 15:00:00',
        active_from: new Date('2027-01-01T12:05:00Z'),
      });
      clock.set('2027-01-01T16:00:00Z');
      await schedules.update(app, id, { enabled: false });
      await schedules.update(app, id, { enabled: true });
      expect((await state(id)).next_fire_at.toISOString()).toBe('2027-01-02T15:00:00.000Z');
      await firer.fireDue(new Date('2027-01-01T16:00:00Z'));
      expect(await fires(id)).toEqual([]);
    });
  });

  describe('the limit of 100 in force is per scope', () => {
    const single = { single: { time: '2027-06-01 12:00:00' } };
    const fill = async (app: ScheduleApp, n: number, campaign: boolean) => {
      const rows = await ctx.db.query<{ id: string }[]>(
        `INSERT INTO schedules (app_id, name, trigger, push, spec)
         SELECT $1, 'bulk_' || i, '{}', '{}', '{}' FROM generate_series(1, $2) i RETURNING id`,
        [app.id, n],
      );
      if (campaign) {
        await ctx.db.query(
          `INSERT INTO campaigns (app_id, schedule_id, name) SELECT $1, unnest($2::uuid[]), 'bulk'`,
          [app.id, rows.map((r) => r.id)],
        );
      }
    };
    const newSchedule = (app: ScheduleApp) =>
      schedules.create(app, {
        name: 'api',
        trigger: parseTrigger(single),
        push: parseSchedulePush(PUSH, app.appKey),
      });
    const newCampaign = (app: ScheduleApp) =>
      campaigns.create(app, { name: 'campaign', trigger: single, push: PUSH });

    it("campaigns do not use the developer's 100 schedules, nor the reverse", async () => {
      expect(SCHEDULE_LIMITS.maxActivePerApp).toBe(100);
      clock.set('2027-01-01T00:00:00Z');
      const app = await appWith([]);
      await fill(app, 100, false);
      await expect(newSchedule(app)).rejects.toMatchObject({ message: expect.stringMatching(/at most 100/) });
      await expect(newCampaign(app)).resolves.toMatchObject({ status: 'scheduled' });
      expect((await schedules.list(app, 1)).total_count).toBe(100);

      const other = await appWith([]);
      await fill(other, 99, true);
      await newCampaign(other);
      await expect(newCampaign(other)).rejects.toMatchObject({
        code: 'invalid_parameter',
        message: 'an app has at most 100 campaigns in force',
      });
      await expect(newSchedule(other)).resolves.toMatchObject({ name: 'api' });
      const [{ n }] = await ctx.db.query<{ n: number }[]>(
        `SELECT count(*)::int AS n FROM campaigns WHERE app_id = $1`,
        [other.id],
      );
      expect(n).toBe(100);
    });
  });
});
