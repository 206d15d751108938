import type { DataSource, EntityManager } from 'typeorm';
import { AudienceService, type Audience, type AudienceFilter, type SegmentFilters } from '@herald/audience';
import { HeraldError } from '@herald/common';
import type { QueueService } from '@herald/platform';
import {
  enqueuePlan,
  enqueueShards,
  insertMessage,
  isSingleShard,
  type MessageTarget,
  type PushSpec,
} from '@herald/push';
import { isTimeZone, toInstant, wallMs, type LocalDateTime } from './local-time';
import {
  formatOccurrence,
  localClose,
  localOpen,
  parseOccurrence,
  planSchedule,
  type PlanInput,
  type SchedulePlan,
} from './schedule.planner';
import { parseTrigger } from './trigger';

interface DueRow {
  id: string;
  app_id: string;
  enabled: boolean;
  trigger: Record<string, unknown>;
  spec: PushSpec;
  local_time: boolean;
  timezone: string;
  occurrence: string | null;
  next_fire_at: Date;
  active_from: Date;
  campaign: boolean;
}

/** One (schedule, fire time, UTC offset group) that this call claimed, and the message it produced. */
export interface Fire {
  scheduleId: string;
  fireAt: Date;
  utcOffsetMinutes: number;
  /** null: no device matched (JPush's 1011 at fire time) or the audience no longer compiles. */
  messageId: string | null;
}

export interface FirerLogger {
  warn(obj: Record<string, unknown>, msg: string): void;
}

const BATCH = 20;

/** Due rows, oldest first, that no other worker holds: enabled ones fire, paused ones are only re-planned. */
const dueRows = (enabled: boolean) =>
  `SELECT s.id, s.app_id, s.enabled, s.trigger, s.spec, s.local_time, s.timezone, s.occurrence, s.next_fire_at,
          s.active_from, EXISTS (SELECT 1 FROM campaigns c WHERE c.schedule_id = s.id) AS campaign
     FROM schedules s
    WHERE ${enabled ? '' : 'NOT '}s.enabled AND s.status = 'active' AND s.next_fire_at <= $1
    ORDER BY s.next_fire_at LIMIT ${BATCH}
    FOR UPDATE OF s SKIP LOCKED`;

const DONE: SchedulePlan = { occurrence: null, nextFireAt: null };

/**
 * Fires due schedules. PostgreSQL is the truth: `schedules.next_fire_at` says when a schedule needs
 * a worker; `schedule_fires` (primary key schedule, fire time, UTC offset) is claimed in the same
 * transaction that writes the message, so each fire produces exactly one message however many workers
 * run this at once (rows are also taken `FOR UPDATE SKIP LOCKED`, so they rarely even try). Jobs are
 * enqueued after the commit; if that fails, the push reconciler enqueues the accepted message.
 */
export class ScheduleFirer {
  private readonly audience: AudienceService;

  constructor(
    private readonly db: DataSource,
    private readonly queues: QueueService,
    private readonly logger?: FirerLogger,
  ) {
    this.audience = new AudienceService(db);
  }

  async fireDue(now: Date): Promise<Fire[]> {
    const all: Fire[] = [];
    for (;;) {
      const { fires, full } = await this.db.transaction(async (tx) => {
        const due = await tx.query<DueRow[]>(dueRows(true), [now]);
        // A paused schedule fires nothing, but its time still runs out: it moves on, or expires.
        const paused = await tx.query<DueRow[]>(dueRows(false), [now]);
        const fired: (Fire & { singleShard: boolean })[] = [];
        for (const s of [...due, ...paused]) fired.push(...(await this.process(tx, s, now)));
        return { fires: fired, full: due.length === BATCH || paused.length === BATCH };
      });
      for (const f of fires) if (f.messageId) await this.enqueue(f.messageId, f.singleShard);
      all.push(...fires.map(({ singleShard: _, ...f }) => f));
      if (!full) return all;
    }
  }

  private async process(tx: EntityManager, s: DueRow, now: Date) {
    const { trigger } = parseTrigger(s.trigger);
    const input: PlanInput = { trigger, localTime: s.local_time, timeZone: s.timezone };
    const occurrence = s.occurrence ? parseOccurrence(s.occurrence) : null;
    const fires: (Fire & { singleShard: boolean })[] = [];
    let plan: SchedulePlan;
    if (!occurrence) {
      plan = DONE;
    } else if (!s.enabled) {
      plan = planPaused(input, now);
    } else if (!s.local_time) {
      const fired = await this.fire(tx, s, s.next_fire_at, 0, s.spec);
      if (fired) fires.push(fired);
      plan = planSchedule(input, now, occurrence);
    } else {
      plan = await this.fireLocal(tx, s, input, occurrence, now, fires);
    }
    const lastFire = fires.reduce<Date | null>((t, f) => (t && t >= f.fireAt ? t : f.fireAt), null);
    await tx.query(
      `UPDATE schedules SET next_fire_at = $2, occurrence = $3, status = $4,
              last_fire_at = GREATEST($5, last_fire_at)
        WHERE id = $1`,
      [
        s.id,
        plan.nextFireAt,
        plan.occurrence ? formatOccurrence(plan.occurrence) : null,
        plan.nextFireAt ? 'active' : 'finished',
        lastFire,
      ],
    );
    return fires;
  }

  /**
   * A local-time occurrence is open from UTC+14 to UTC−12 (26 hours), so the windows of consecutive
   * occurrences overlap (a daily one opens 10 hours before the one before it closes). Every open
   * occurrence releases its due groups: the pending one (the oldest not yet closed; after an outage it
   * may have closed, and then goes late) and each later one whose window has opened. `schedule_fires`
   * keeps their fires apart (release instant and offset differ). The schedule then keeps the oldest
   * occurrence still open and wakes for the first of: a pending group of any open occurrence, that
   * occurrence's close (devices in zones not seen yet), the next occurrence's opening.
   */
  private async fireLocal(
    tx: EntityManager,
    s: DueRow,
    input: PlanInput,
    pending: LocalDateTime,
    now: Date,
    fires: (Fire & { singleShard: boolean })[],
  ): Promise<SchedulePlan> {
    const wakes: number[] = [];
    let oldestOpen: LocalDateTime | null = null;
    let upcoming: LocalDateTime | null = null;
    for (let occ: LocalDateTime | null = pending; occ;) {
      for (const [offset, zones] of await this.offsetGroups(tx, s, occ)) {
        const release = wallMs(occ) - offset * 60_000;
        if (release > now.getTime()) wakes.push(release);
        else if (release >= s.active_from.getTime()) {
          const fired = await this.fire(tx, s, new Date(release), offset, restrictToZones(s.spec, zones));
          if (fired) fires.push(fired);
        }
      }
      const close = localClose(occ).getTime();
      if (!oldestOpen && close > now.getTime()) {
        oldestOpen = occ;
        wakes.push(close);
      }
      // The next occurrence not closed yet (ones that opened and closed while nothing ran are skipped).
      const next: LocalDateTime | null = planSchedule(input, now, occ).occurrence;
      if (next && localOpen(next).getTime() <= now.getTime()) occ = next;
      else {
        upcoming = next;
        occ = null;
      }
    }
    if (upcoming) wakes.push(localOpen(upcoming).getTime());
    const keep = oldestOpen ?? upcoming;
    return keep ? { occurrence: keep, nextFireAt: new Date(Math.min(...wakes)) } : DONE;
  }

  /**
   * The devices of the app by UTC offset at this wall-clock time: each zone in use maps to its offset
   * then (daylight saving included); devices without a zone, or with one this runtime does not know,
   * belong to the schedule's zone.
   */
  private async offsetGroups(tx: EntityManager, s: DueRow, at: LocalDateTime): Promise<Map<number, Zones>> {
    const rows = await tx.query<{ timezone: string | null }[]>(
      `SELECT DISTINCT timezone FROM devices WHERE app_id = $1 AND status = 'active'`,
      [s.app_id],
    );
    const offsetOf = (tz: string) => Math.round((wallMs(at) - toInstant(at, tz).getTime()) / 60_000);
    const fallback = offsetOf(s.timezone);
    const groups = new Map<number, Zones>();
    const group = (o: number) => {
      let g = groups.get(o);
      if (!g) groups.set(o, (g = { names: [], unset: false }));
      return g;
    };
    for (const { timezone } of rows) {
      if (timezone === null) group(fallback).unset = true;
      else group(isTimeZone(timezone) ? offsetOf(timezone) : fallback).names.push(timezone);
    }
    return groups;
  }

  /** Claims and fires one (fire time, offset group); null when an earlier wake or another worker has. */
  private async fire(tx: EntityManager, s: DueRow, fireAt: Date, offset: number, spec: PushSpec) {
    const singleShard = isSingleShard(spec);
    const base = { scheduleId: s.id, fireAt, utcOffsetMinutes: offset, singleShard };
    const [claimed] = await tx.query<[unknown[], number] | unknown[][]>(
      `INSERT INTO schedule_fires (schedule_id, fire_at, utc_offset_minutes) VALUES ($1, $2, $3)
       ON CONFLICT DO NOTHING RETURNING 1 AS claimed`,
      [s.id, fireAt, offset],
    );
    const won = Array.isArray(claimed) ? claimed.length > 0 : claimed !== undefined;
    if (!won) return null;
    // The message is written in this transaction, so `now()` is its `created_at`: the instant its
    // shards measure `last_active` from (ShardHandler), and this probe with them.
    const [{ now: asOf }] = await tx.query<{ now: Date }[]>(`SELECT now() AS now`);
    let target: MessageTarget;
    let segments: SegmentFilters | undefined;
    try {
      ({ compiled: target, segments } = await this.audience.resolve(s.app_id, spec, { asOf }));
    } catch (err) {
      if (!(err instanceof HeraldError)) throw err;
      // A segment of the audience was deleted since: the fire is recorded, without a message.
      this.logger?.warn({ scheduleId: s.id, reason: err.message }, 'scheduled push has an invalid audience');
      return { ...base, messageId: null };
    }
    const messageId = await insertMessage(
      tx,
      {
        appId: s.app_id,
        // The segments' filters as of this fire: its shards reach them, whatever becomes of the segments.
        spec: { ...spec, segment_filters: segments },
        source: s.campaign ? 'campaign' : 'schedule',
        scheduleId: s.id,
        singleShard,
      },
      target,
    );
    if (messageId !== undefined) {
      await tx.query(
        `UPDATE schedule_fires SET message_id = $4
          WHERE schedule_id = $1 AND fire_at = $2 AND utc_offset_minutes = $3`,
        [s.id, fireAt, offset, messageId],
      );
    }
    return { ...base, messageId: messageId ?? null };
  }

  private async enqueue(messageId: string, singleShard: boolean): Promise<void> {
    try {
      if (singleShard) await enqueueShards(this.queues, messageId, [0], 0, 1);
      else await enqueuePlan(this.queues, messageId);
    } catch (err) {
      this.logger?.warn({ err, messageId }, 'enqueue failed; the push reconciler will enqueue the message');
    }
  }
}

interface Zones {
  names: string[];
  /** Devices without a time zone belong here. */
  unset: boolean;
}

/** The push restricted to one offset group: its audience ANDed with the group's zones. */
function restrictToZones(spec: PushSpec, zones: Zones): PushSpec {
  const leaf = { timezone: zones.names, ...(zones.unset ? { include_unset: true } : {}) } as AudienceFilter;
  const audience: Audience = { ...spec.audience, all: false };
  audience.filter = spec.audience.filter ? { and: [spec.audience.filter, leaf] } : leaf;
  return { ...spec, audience };
}

/**
 * A paused schedule sends nothing, but its trigger runs on: it wakes when its pending occurrence is
 * over (its instant; for local time, its UTC−12 group) to plan the next one from now, and once none is
 * left it expires like any other.
 */
function planPaused(input: PlanInput, now: Date): SchedulePlan {
  const { occurrence, nextFireAt } = planSchedule(input, now, null);
  if (!occurrence) return DONE;
  return { occurrence, nextFireAt: input.localTime ? localClose(occurrence) : nextFireAt };
}
