export { ManualClock, SCHEDULE_CLOCK, systemClock, type Clock } from './clock';
export {
  formatLocalDateTime,
  isTimeZone,
  offsetMinutesAt,
  parseLocalDateTime,
  toInstant,
  toLocal,
  type LocalDateTime,
} from './local-time';
export { ScheduleFirer, type Fire, type FirerLogger } from './schedule.firer';
export { formatOccurrence, LOCAL_WINDOW, planSchedule, type SchedulePlan } from './schedule.planner';
export {
  parseScheduleBody,
  parseSchedulePush,
  type ParsedPush,
  type ParsedSchedule,
} from './schedule-request.parser';
export {
  nextOccurrence,
  parseTrigger,
  SCHEDULE_LIMITS,
  scheduleInvalid,
  type PeriodicalTrigger,
  type SingleTrigger,
  type TimeUnit,
  type Trigger,
} from './trigger';
