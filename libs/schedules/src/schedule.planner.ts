import {
  formatLocalDateTime,
  fromWallMs,
  parseLocalDateTime,
  toInstant,
  toLocal,
  wallMs,
  type LocalDateTime,
} from './local-time';
import { nextOccurrence, type Trigger } from './trigger';

/** UTC offsets span UTC−12:00 … UTC+14:00: a local-time occurrence is released over that window. */
export const LOCAL_WINDOW = { aheadMs: 14 * 3_600_000, behindMs: 12 * 3_600_000 } as const;

export interface PlanInput {
  trigger: Trigger;
  localTime: boolean;
  /** The app's zone: where the trigger is read, and the zone of devices that have none. */
  timeZone: string;
}

/** The pending occurrence (its wall clock) and when a worker must next look at the schedule. */
export interface SchedulePlan {
  occurrence: LocalDateTime | null;
  nextFireAt: Date | null;
}

const DONE: SchedulePlan = { occurrence: null, nextFireAt: null };

/** First instant a local-time occurrence may release a group (devices at UTC+14). */
export const localOpen = (l: LocalDateTime) => new Date(wallMs(l) - LOCAL_WINDOW.aheadMs);
/** Last instant a local-time occurrence may release a group (devices at UTC−12). */
export const localClose = (l: LocalDateTime) => new Date(wallMs(l) + LOCAL_WINDOW.behindMs);

/**
 * The first occurrence after `after` (exclusive, a wall clock; null: from the trigger's start) that is
 * still ahead of `now`: an occurrence whose time passed while nothing was running is skipped, so a
 * catch-up sends at most one message per overdue schedule (the one already pending), never a burst.
 * For local time, an occurrence is ahead until its last group (UTC−12) is due.
 */
export function planSchedule(s: PlanInput, now: Date, after: LocalDateTime | null): SchedulePlan {
  // Occurrences before yesterday's wall clock in any zone cannot be ahead of now: skip them cheaply.
  const floor = wallMs(toLocal(now, 'UTC')) - 2 * 86_400_000 - LOCAL_WINDOW.behindMs;
  let cursor: number | null = Math.max(after ? wallMs(after) : -Infinity, floor);
  if (!Number.isFinite(cursor)) cursor = null;
  for (;;) {
    const occ = nextOccurrence(s.trigger, cursor);
    if (!occ) return DONE;
    if (s.localTime) {
      if (localClose(occ).getTime() > now.getTime()) return { occurrence: occ, nextFireAt: localOpen(occ) };
    } else {
      const at = toInstant(occ, s.timeZone);
      if (at.getTime() > now.getTime()) return { occurrence: occ, nextFireAt: at };
    }
    cursor = wallMs(occ);
  }
}

export const formatOccurrence = (l: LocalDateTime) => formatLocalDateTime(l);
export const parseOccurrence = (s: string) => parseLocalDateTime(s) ?? fromWallMs(0);
