/**
 * The time schedules are evaluated at, injected wherever "now" decides what fires, so tests move it
 * instead of waiting for minutes or faking timers globally.
 */
export interface Clock {
  now(): Date;
}

export const SCHEDULE_CLOCK = Symbol('SCHEDULE_CLOCK');

export const systemClock: Clock = { now: () => new Date() };

/** A clock that stands still until moved: for tests and simulations. */
export class ManualClock implements Clock {
  private at: number;

  constructor(at: Date | string) {
    this.at = new Date(at).getTime();
  }

  now(): Date {
    return new Date(this.at);
  }

  set(at: Date | string): void {
    this.at = new Date(at).getTime();
  }

  advance(ms: number): void {
    this.at += ms;
  }
}
