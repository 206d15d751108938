/**
 * Wall-clock arithmetic with Node's `Intl` only (no dependency): a `LocalDateTime` is a date and time
 * without a zone, as JPush's triggers write them (`YYYY-MM-DD HH:MM:SS`); a zone turns it into an
 * instant. Storage is UTC (architecture invariant 9); these are the only conversions.
 */
export interface LocalDateTime {
  year: number;
  month: number;
  day: number;
  hour: number;
  minute: number;
  second: number;
}

const DATE_TIME = /^(\d{4})-(\d{2})-(\d{2}) (\d{2}):(\d{2}):(\d{2})$/;
const TIME = /^(\d{2}):(\d{2}):(\d{2})$/;
const DAY_MS = 86_400_000;

/** `YYYY-MM-DD HH:MM:SS`, strictly (JPush: "2014-2-15" or a missing second is invalid); undefined otherwise. */
export function parseLocalDateTime(s: string): LocalDateTime | undefined {
  const m = DATE_TIME.exec(s);
  if (!m) return undefined;
  const [year, month, day, hour, minute, second] = m.slice(1).map(Number);
  const t = { year, month, day, hour, minute, second };
  if (year < 1970 || month < 1 || month > 12 || day < 1 || day > daysInMonth(year, month)) return undefined;
  if (hour > 23 || minute > 59 || second > 59) return undefined;
  return t;
}

/** `HH:MM:SS`, 24-hour. */
export function parseTimeOfDay(s: string): { hour: number; minute: number; second: number } | undefined {
  const m = TIME.exec(s);
  if (!m) return undefined;
  const [hour, minute, second] = m.slice(1).map(Number);
  if (hour > 23 || minute > 59 || second > 59) return undefined;
  return { hour, minute, second };
}

const pad = (n: number, w = 2) => String(n).padStart(w, '0');

export function formatLocalDateTime(t: LocalDateTime): string {
  return `${pad(t.year, 4)}-${pad(t.month)}-${pad(t.day)} ${pad(t.hour)}:${pad(t.minute)}:${pad(t.second)}`;
}

export function daysInMonth(year: number, month: number): number {
  return new Date(Date.UTC(year, month, 0)).getUTCDate();
}

/** The wall clock read as if it were UTC: a number to order and subtract wall-clock values with. */
export function wallMs(t: LocalDateTime): number {
  return Date.UTC(t.year, t.month - 1, t.day, t.hour, t.minute, t.second);
}

export function fromWallMs(ms: number): LocalDateTime {
  const d = new Date(ms);
  return {
    year: d.getUTCFullYear(),
    month: d.getUTCMonth() + 1,
    day: d.getUTCDate(),
    hour: d.getUTCHours(),
    minute: d.getUTCMinutes(),
    second: d.getUTCSeconds(),
  };
}

/** Days since 1970-01-01 of the wall-clock date. */
export function dayNumber(t: Pick<LocalDateTime, 'year' | 'month' | 'day'>): number {
  return Math.floor(Date.UTC(t.year, t.month - 1, t.day) / DAY_MS);
}

/** ISO weekday of a day number: 1 = Monday … 7 = Sunday (1970-01-01 was a Thursday). */
export function isoWeekday(day: number): number {
  return ((((day + 3) % 7) + 7) % 7) + 1;
}

const formatters = new Map<string, Intl.DateTimeFormat>();

function formatter(timeZone: string): Intl.DateTimeFormat {
  let f = formatters.get(timeZone);
  if (!f) {
    f = new Intl.DateTimeFormat('en-US', {
      timeZone,
      hourCycle: 'h23',
      year: 'numeric',
      month: 'numeric',
      day: 'numeric',
      hour: 'numeric',
      minute: 'numeric',
      second: 'numeric',
    });
    formatters.set(timeZone, f);
  }
  return f;
}

export function isTimeZone(name: string): boolean {
  try {
    formatter(name);
    return true;
  } catch {
    return false;
  }
}

/** The wall clock in `timeZone` at an instant. */
export function toLocal(instant: Date, timeZone: string): LocalDateTime {
  const parts: Record<string, number> = {};
  for (const p of formatter(timeZone).formatToParts(instant)) {
    if (p.type !== 'literal') parts[p.type] = Number(p.value);
  }
  return {
    year: parts.year,
    month: parts.month,
    day: parts.day,
    hour: parts.hour,
    minute: parts.minute,
    second: parts.second,
  };
}

/** Minutes `timeZone` is ahead of UTC at an instant (UTC+8 → 480). */
export function offsetMinutesAt(instant: Date, timeZone: string): number {
  const wall = wallMs(toLocal(new Date(Math.floor(instant.getTime() / 1000) * 1000), timeZone));
  return Math.round((wall - Math.floor(instant.getTime() / 1000) * 1000) / 60_000);
}

/**
 * The instant a wall-clock time happens in `timeZone`. Like Temporal's `compatible` disambiguation: a
 * time that occurs twice (clocks turned back) is its earlier instant; a time skipped by a spring-forward
 * gap is moved forward by the gap's length (02:30 → 03:30), so a trigger never silently vanishes.
 */
export function toInstant(t: LocalDateTime, timeZone: string): Date {
  const wall = wallMs(t);
  // The offsets a day either side cover every transition that can affect this wall time.
  const before = offsetMinutesAt(new Date(wall - DAY_MS), timeZone);
  const after = offsetMinutesAt(new Date(wall + DAY_MS), timeZone);
  const candidates = [...new Set([before, after])]
    .map((o) => wall - o * 60_000)
    .filter((ms) => wallMs(toLocal(new Date(ms), timeZone)) === wall)
    .sort((a, b) => a - b);
  if (candidates.length > 0) return new Date(candidates[0]);
  // In a gap: read with the offset in force before it, which lands after the gap.
  return new Date(wall - before * 60_000);
}
