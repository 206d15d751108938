import { HeraldError } from '@herald/common';
import {
  dayNumber,
  daysInMonth,
  fromWallMs,
  isoWeekday,
  parseLocalDateTime,
  parseTimeOfDay,
  wallMs,
  type LocalDateTime,
} from './local-time';

/**
 * JPush's schedule triggers (`rest_api_push_schedule.md`): `single.time`, or `periodical` with
 * `start`/`end` (at most a year apart), `time`, `time_unit` day|week|month (any case), `frequency`
 * (1–100, the period is frequency × time_unit) and `point` (weekdays MON…SUN or month days "01"…"31";
 * absent for day). Every field is a wall-clock value, read in a zone by the caller.
 */
export type TimeUnit = 'day' | 'week' | 'month';

export interface SingleTrigger {
  kind: 'single';
  time: LocalDateTime;
}

export interface PeriodicalTrigger {
  kind: 'periodical';
  start: LocalDateTime;
  end: LocalDateTime;
  time: { hour: number; minute: number; second: number };
  unit: TimeUnit;
  frequency: number;
  /** ISO weekdays (1 = Monday) for week, days of the month for month, empty for day. */
  points: number[];
}

export type Trigger = SingleTrigger | PeriodicalTrigger;

export const SCHEDULE_LIMITS = {
  maxFrequency: 100,
  /** JPush: "periodical 任务的最大跨度为 12 个月". */
  maxSpanMonths: 12,
  /** JPush: at most 100 schedules in force (not expired) per app. */
  maxActivePerApp: 100,
  nameBytes: 255,
  pageSize: 50,
} as const;

const WEEKDAYS = ['MON', 'TUE', 'WED', 'THU', 'FRI', 'SAT', 'SUN'];

/** The schedule API's validation error: JPush's 8100, HTTP 400. */
export const scheduleInvalid = (message: string) =>
  new HeraldError('invalid_parameter', message, { jpushCode: 8100 });

type Json = Record<string, unknown>;
const isObject = (v: unknown): v is Json => typeof v === 'object' && v !== null && !Array.isArray(v);

function dateTime(v: unknown, field: string): LocalDateTime {
  const t = typeof v === 'string' ? parseLocalDateTime(v) : undefined;
  if (!t) throw scheduleInvalid(`${field}: must be a date and time "YYYY-MM-DD HH:MM:SS"`);
  return t;
}

function checkKeys(obj: Json, field: string, known: string[]): void {
  for (const k of Object.keys(obj)) {
    if (!known.includes(k)) throw scheduleInvalid(`${field}: unsupported key "${k}"`);
  }
}

/**
 * Validates a trigger; returns it parsed and in the form it is stored and shown (the client's own
 * strings, unknown keys refused).
 */
export function parseTrigger(raw: unknown): { trigger: Trigger; stored: Json } {
  if (!isObject(raw)) throw scheduleInvalid('trigger: must be an object with "single" or "periodical"');
  checkKeys(raw, 'trigger', ['single', 'periodical']);
  const hasSingle = raw.single !== undefined && raw.single !== null;
  const hasPeriodical = raw.periodical !== undefined && raw.periodical !== null;
  if (hasSingle === hasPeriodical) {
    throw scheduleInvalid('trigger: exactly one of "single" and "periodical" is required');
  }
  if (hasSingle) {
    if (!isObject(raw.single)) throw scheduleInvalid('trigger.single: must be an object');
    checkKeys(raw.single, 'trigger.single', ['time']);
    const time = dateTime(raw.single.time, 'trigger.single.time');
    return { trigger: { kind: 'single', time }, stored: { single: { time: raw.single.time } } };
  }
  const p = raw.periodical;
  if (!isObject(p)) throw scheduleInvalid('trigger.periodical: must be an object');
  checkKeys(p, 'trigger.periodical', ['start', 'end', 'time', 'time_unit', 'frequency', 'point']);
  const start = dateTime(p.start, 'trigger.periodical.start');
  const end = dateTime(p.end, 'trigger.periodical.end');
  if (wallMs(end) <= wallMs(start)) throw scheduleInvalid('trigger.periodical: end must be after start');
  const limit = addMonths(start, SCHEDULE_LIMITS.maxSpanMonths);
  if (wallMs(end) > wallMs(limit)) {
    throw scheduleInvalid('trigger.periodical: start and end are at most 12 months apart');
  }
  const time = typeof p.time === 'string' ? parseTimeOfDay(p.time) : undefined;
  if (!time) throw scheduleInvalid('trigger.periodical.time: must be a time of day "HH:MM:SS"');
  const unit = typeof p.time_unit === 'string' ? p.time_unit.toLowerCase() : '';
  if (unit !== 'day' && unit !== 'week' && unit !== 'month') {
    throw scheduleInvalid('trigger.periodical.time_unit: must be day, week or month');
  }
  const frequency = p.frequency;
  if (
    typeof frequency !== 'number' ||
    !Number.isInteger(frequency) ||
    frequency < 1 ||
    frequency > SCHEDULE_LIMITS.maxFrequency
  ) {
    throw scheduleInvalid('trigger.periodical.frequency: must be a whole number from 1 to 100');
  }
  const points = parsePoints(p.point, unit);
  const stored: Json = { start: p.start, end: p.end, time: p.time, time_unit: p.time_unit, frequency };
  if (unit !== 'day') stored.point = p.point;
  return {
    trigger: { kind: 'periodical', start, end, time, unit, frequency, points },
    stored: { periodical: stored },
  };
}

function parsePoints(value: unknown, unit: TimeUnit): number[] {
  const empty = value === undefined || value === null || (Array.isArray(value) && value.length === 0);
  if (unit === 'day') {
    if (!empty) throw scheduleInvalid('trigger.periodical.point: must be absent when time_unit is day');
    return [];
  }
  if (empty || !Array.isArray(value)) {
    throw scheduleInvalid(`trigger.periodical.point: a non-empty list is required when time_unit is ${unit}`);
  }
  const out = new Set<number>();
  for (const v of value) {
    if (unit === 'week') {
      const i = typeof v === 'string' ? WEEKDAYS.indexOf(v.toUpperCase()) : -1;
      if (i < 0)
        throw scheduleInvalid('trigger.periodical.point: weekdays are MON, TUE, WED, THU, FRI, SAT, SUN');
      out.add(i + 1);
    } else {
      const n = typeof v === 'string' && /^\d{1,2}$/.test(v) ? Number(v) : NaN;
      if (!(n >= 1 && n <= 31))
        throw scheduleInvalid('trigger.periodical.point: month days are "01" to "31"');
      out.add(n);
    }
  }
  return [...out].sort((a, b) => a - b);
}

function addMonths(t: LocalDateTime, months: number): LocalDateTime {
  const index = t.year * 12 + (t.month - 1) + months;
  const year = Math.floor(index / 12);
  const month = (index % 12) + 1;
  return { ...t, year, month, day: Math.min(t.day, daysInMonth(year, month)) };
}

/**
 * The trigger's first wall-clock occurrence strictly after `afterWallMs` (null: its first ever), or
 * undefined when there is none. Periods count from `start`: every `frequency` days; every `frequency`
 * weeks (Monday-based) from start's week; every `frequency` months from start's month. A month day that
 * the month lacks (31 in April) does not fire, as JPush documents.
 */
export function nextOccurrence(t: Trigger, afterWallMs: number | null): LocalDateTime | undefined {
  const after = afterWallMs ?? -Infinity;
  if (t.kind === 'single') return wallMs(t.time) > after ? t.time : undefined;
  const startDay = dayNumber(t.start);
  const endDay = dayNumber(t.end);
  const firstDay = Number.isFinite(after) ? Math.max(startDay, dayNumber(fromWallMs(after))) : startDay;
  const startMonday = startDay - (isoWeekday(startDay) - 1);
  const startMonth = t.start.year * 12 + t.start.month - 1;
  for (let day = firstDay; day <= endDay; day++) {
    const date = fromWallMs(day * 86_400_000);
    const at: LocalDateTime = { ...date, ...t.time };
    const ms = wallMs(at);
    if (ms <= after || ms < wallMs(t.start) || ms > wallMs(t.end)) continue;
    if (t.unit === 'day' && (day - startDay) % t.frequency !== 0) continue;
    if (t.unit === 'week') {
      const week = (day - (isoWeekday(day) - 1) - startMonday) / 7;
      if (week % t.frequency !== 0 || !t.points.includes(isoWeekday(day))) continue;
    }
    if (t.unit === 'month') {
      const month = date.year * 12 + date.month - 1 - startMonth;
      if (month % t.frequency !== 0 || !t.points.includes(date.day)) continue;
    }
    return at;
  }
  return undefined;
}
