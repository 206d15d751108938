import { HEARTBEAT } from '@herald/gateway-protocol';

/**
 * The contract's adaptive heartbeat: start at 60 s, lengthen by 30 s after three intervals survive,
 * never beyond 600 s; a connection lost inside an interval steps back one notch and holds there.
 */
export class HeartbeatPolicy {
  private survived = 0;
  private held = false;

  constructor(private current: number = HEARTBEAT.start) {
    this.current = Math.min(HEARTBEAT.max, Math.max(HEARTBEAT.min, current));
  }

  get seconds(): number {
    return this.current;
  }

  get holding(): boolean {
    return this.held;
  }

  /**
   * An interval of `seconds` ended with the connection alive (the ping was answered). Only intervals
   * as long as the current one count: a connection held to a shorter one (the server's `welcome.hb`)
   * proves nothing about the longer interval, which the next connection proposes and tests.
   */
  intervalSurvived(seconds: number = this.current): void {
    if (this.held || this.current >= HEARTBEAT.max || seconds < this.current) return;
    if (++this.survived >= 3) {
      this.current = Math.min(HEARTBEAT.max, this.current + HEARTBEAT.step);
      this.survived = 0;
    }
  }

  /** The connection died while idle inside an interval: the NAT mapping did not last this long. */
  lostInsideInterval(): void {
    this.current = Math.max(HEARTBEAT.min, this.current - HEARTBEAT.step);
    this.survived = 0;
    this.held = true;
  }
}
