import { Injectable } from '@nestjs/common';
import { HeraldError } from '@herald/common';
import { parseSchedulePush, parseTrigger, type ParsedPush } from '@herald/schedules';
import { dashboardCallbackRefused, MAX_PAGE } from '../dashboard/dashboard.http';
import { ScheduleService, type ScheduleApp, type ScheduleRow } from './schedule.service';

export type CampaignStatus = 'scheduled' | 'paused' | 'cancelled' | 'finished';

export interface CampaignView {
  id: string;
  app_id: string;
  name: string;
  status: CampaignStatus;
  /** JPush's trigger: `{single: {time}}` or `{periodical: {...}}`, read in the app's time zone. */
  trigger: Record<string, unknown>;
  /** The push template, as `POST /v3/push` takes it (`options.local_time` allowed). */
  push: Record<string, unknown>;
  local_time: boolean;
  timezone: string;
  next_fire_at: string | null;
  last_fire_at: string | null;
  runs: number;
  created_by: string | null;
  created_at: string;
  updated_at: string;
}

export interface CampaignRun {
  fire_at: string;
  utc_offset_minutes: number;
  /** null: nobody matched the audience at that time (no message). */
  msg_id: string | null;
  status: string | null;
  targets: number;
  sent: number;
  failed: number;
  delivered: number;
  clicked: number;
}

export interface Page<T> {
  items: T[];
  next_cursor: string | null;
}

interface CampaignRow extends ScheduleRow {
  campaign_id: string;
  app_id: string;
  campaign_name: string;
  created_by: string | null;
  campaign_created_at: Date;
  runs: number;
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

const notFound = () => new HeraldError('not_found', 'no such campaign');
const invalid = (m: string) => new HeraldError('invalid_parameter', m);

/** A campaign's push is a dashboard push: no callback (it could never be signed, hence never sent). */
function campaignPush(raw: unknown, appKey: string): ParsedPush {
  const push = plain(() => parseSchedulePush(raw, appKey));
  if (push.spec.callback) throw dashboardCallbackRefused();
  return push;
}

function campaignName(v: unknown): string {
  if (typeof v !== 'string' || v.trim().length === 0 || v.length > 200) {
    throw invalid('name: 1 to 200 characters');
  }
  return v.trim();
}

/** Errors of the shared schedule validation are JPush-coded (8100); the dashboard shows their message. */
function plain<T>(fn: () => T): T {
  try {
    return fn();
  } catch (err) {
    if (err instanceof HeraldError && err.status < 500) throw new HeraldError(err.code, err.message);
    throw err;
  }
}

async function plainAsync<T>(fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (err) {
    if (err instanceof HeraldError && err.status < 500 && err.code !== 'not_found') {
      throw new HeraldError(err.code, err.message);
    }
    if (err instanceof HeraldError && err.code === 'not_found') throw notFound();
    throw err;
  }
}

function limitOf(limit: number | undefined): number {
  const n = limit ?? 50;
  if (!Number.isInteger(n) || n < 1 || n > MAX_PAGE) throw invalid(`limit: 1 to ${MAX_PAGE}`);
  return n;
}

const cursorOf = (c: string | undefined): [string, string] | null => {
  if (!c) return null;
  const [at, id] = Buffer.from(c, 'base64url').toString('utf8').split('|');
  if (!at || !id || Number.isNaN(Date.parse(at))) throw invalid('cursor: not a cursor from this list');
  return [at, id];
};
const makeCursor = (at: Date | string, id: string) =>
  Buffer.from(`${new Date(at).toISOString()}|${id}`).toString('base64url');

/**
 * Campaigns: a name over a schedule (push template + trigger) with pause, resume, cancel and runs —
 * the service the dashboard exposes. Every method is scoped by the app the caller passes (the caller
 * has checked the tenant); another app's campaign is `not_found`. Runs are the schedule's fires.
 */
@Injectable()
export class CampaignService {
  constructor(private readonly schedules: ScheduleService) {}

  async create(
    app: ScheduleApp,
    input: { name: unknown; push: unknown; trigger: unknown },
    createdBy: string | null = null,
  ): Promise<CampaignView> {
    const name = campaignName(input.name);
    const push = campaignPush(input.push, app.appKey);
    const trigger = plain(() => parseTrigger(input.trigger));
    const id = await plainAsync(() =>
      this.schedules.db.transaction(async (tx) => {
        const { schedule_id } = await this.schedules.create(
          app,
          { name, trigger, push },
          { scope: 'campaign', tx },
        );
        const [row] = await tx.query<{ id: string }[]>(
          `INSERT INTO campaigns (app_id, schedule_id, name, created_by) VALUES ($1, $2, $3, $4) RETURNING id`,
          [app.id, schedule_id, name, createdBy],
        );
        return row.id;
      }),
    );
    return this.get(app, id);
  }

  async list(
    app: ScheduleApp,
    options: { cursor?: string; limit?: number } = {},
  ): Promise<Page<CampaignView>> {
    const limit = limitOf(options.limit);
    const cursor = cursorOf(options.cursor);
    const rows = await this.rows(
      app,
      cursor ? `AND (c.created_at, c.id) < ($2::timestamptz, $3::uuid)` : '',
      cursor ?? [],
      limit + 1,
    );
    const items = rows.slice(0, limit).map(view);
    const last = rows.length > limit ? rows[limit - 1] : undefined;
    return { items, next_cursor: last ? makeCursor(last.campaign_created_at, last.campaign_id) : null };
  }

  async get(app: ScheduleApp, id: string): Promise<CampaignView> {
    if (!UUID.test(id)) throw notFound();
    const [row] = await this.rows(app, `AND c.id = $2`, [id], 1);
    if (!row) throw notFound();
    return view(row);
  }

  /** Replaces any of name, push, trigger (each whole; a single trigger stays single). */
  async update(
    app: ScheduleApp,
    id: string,
    input: { name?: unknown; push?: unknown; trigger?: unknown },
  ): Promise<CampaignView> {
    const name = input.name === undefined ? undefined : campaignName(input.name);
    const push = input.push === undefined ? undefined : campaignPush(input.push, app.appKey);
    const trigger = input.trigger === undefined ? undefined : plain(() => parseTrigger(input.trigger));
    await this.change(app, id, { name, push, trigger });
    if (name !== undefined) {
      await this.schedules.db.query(`UPDATE campaigns SET name = $2, updated_at = now() WHERE id = $1`, [
        id,
        name,
      ]);
    }
    return this.get(app, id);
  }

  /** Nothing fires while paused; resuming re-plans from now (missed times are not sent late). */
  async pause(app: ScheduleApp, id: string): Promise<CampaignView> {
    await this.change(app, id, { enabled: false });
    return this.get(app, id);
  }

  async resume(app: ScheduleApp, id: string): Promise<CampaignView> {
    await this.change(app, id, { enabled: true });
    return this.get(app, id);
  }

  /** Final: the schedule never fires again; runs and their messages stay. Cancelling twice is harmless. */
  async cancel(app: ScheduleApp, id: string): Promise<CampaignView> {
    const scheduleId = await this.scheduleIdOf(app, id);
    await this.schedules.db.query(
      `UPDATE schedules SET status = 'cancelled', next_fire_at = NULL, occurrence = NULL, updated_at = now()
        WHERE id = $1 AND status = 'active'`,
      [scheduleId],
    );
    return this.get(app, id);
  }

  /** The fires of a campaign, newest first, with their message's state and counts. */
  async runs(
    app: ScheduleApp,
    id: string,
    options: { cursor?: string; limit?: number } = {},
  ): Promise<Page<CampaignRun>> {
    const scheduleId = await this.scheduleIdOf(app, id);
    const limit = limitOf(options.limit);
    const cursor = cursorOf(options.cursor);
    const rows = await this.schedules.db.query<
      (Omit<CampaignRun, 'fire_at'> & { fire_at: Date; key: string })[]
    >(
      `SELECT f.fire_at, f.utc_offset_minutes, f.message_id::text AS msg_id, m.status,
              f.utc_offset_minutes::text AS key,
              COALESCE(sum(k.targets), 0)::int AS targets, COALESCE(sum(k.sent), 0)::int AS sent,
              COALESCE(sum(k.failed), 0)::int AS failed, COALESCE(sum(k.delivered), 0)::int AS delivered,
              COALESCE(sum(k.clicked), 0)::int AS clicked
         FROM schedule_fires f
         LEFT JOIN messages m ON m.id = f.message_id
         LEFT JOIN message_counters k ON k.message_id = f.message_id
        WHERE f.schedule_id = $1
          ${cursor ? `AND (f.fire_at, f.utc_offset_minutes) < ($3::timestamptz, $4::int)` : ''}
        GROUP BY f.fire_at, f.utc_offset_minutes, f.message_id, m.status
        ORDER BY f.fire_at DESC, f.utc_offset_minutes DESC LIMIT $2`,
      [scheduleId, limit + 1, ...(cursor ?? [])],
    );
    const items = rows
      .slice(0, limit)
      .map(({ key: _, fire_at, ...r }) => ({ ...r, fire_at: fire_at.toISOString() }));
    const last = rows.length > limit ? rows[limit - 1] : undefined;
    return { items, next_cursor: last ? makeCursor(last.fire_at, last.key) : null };
  }

  /** The message ids of every run, oldest first. */
  async messageIds(app: ScheduleApp, id: string): Promise<string[]> {
    const scheduleId = await this.scheduleIdOf(app, id);
    return this.schedules.messageIds(app, scheduleId, 'campaign');
  }

  private async change(app: ScheduleApp, id: string, changes: Parameters<ScheduleService['update']>[2]) {
    const scheduleId = await this.scheduleIdOf(app, id);
    await plainAsync(() => this.schedules.update(app, scheduleId, changes, { scope: 'campaign' }));
  }

  private async scheduleIdOf(app: ScheduleApp, id: string): Promise<string> {
    if (!UUID.test(id)) throw notFound();
    const [row] = await this.schedules.db.query<{ schedule_id: string }[]>(
      `SELECT schedule_id FROM campaigns WHERE id = $1 AND app_id = $2`,
      [id, app.id],
    );
    if (!row) throw notFound();
    return row.schedule_id;
  }

  private rows(app: ScheduleApp, where: string, params: unknown[], limit: number): Promise<CampaignRow[]> {
    return this.schedules.db.query<CampaignRow[]>(
      `SELECT s.id, s.enabled, s.status, s.trigger, s.push, s.local_time, s.timezone, s.next_fire_at, s.last_fire_at,
              s.updated_at, c.id AS campaign_id, c.app_id, c.name AS campaign_name, c.created_by,
              c.created_at AS campaign_created_at,
              (SELECT count(*)::int FROM schedule_fires f WHERE f.schedule_id = s.id) AS runs
         FROM campaigns c JOIN schedules s ON s.id = c.schedule_id
        WHERE c.app_id = $1 ${where}
        ORDER BY c.created_at DESC, c.id DESC LIMIT ${limit}`,
      [app.id, ...params],
    );
  }
}

function view(r: CampaignRow): CampaignView {
  const status: CampaignStatus =
    r.status === 'cancelled'
      ? 'cancelled'
      : r.status === 'finished'
        ? 'finished'
        : r.enabled
          ? 'scheduled'
          : 'paused';
  return {
    id: r.campaign_id,
    app_id: r.app_id,
    name: r.campaign_name,
    status,
    trigger: r.trigger,
    push: r.push,
    local_time: r.local_time,
    timezone: r.timezone,
    next_fire_at: status === 'scheduled' && r.next_fire_at ? r.next_fire_at.toISOString() : null,
    last_fire_at: r.last_fire_at ? r.last_fire_at.toISOString() : null,
    runs: r.runs,
    created_by: r.created_by,
    created_at: r.campaign_created_at.toISOString(),
    updated_at: r.updated_at.toISOString(),
  };
}
