import type { DeliveryOutcome } from './outcome';

/** One `send` call (or one of its resend passes): the items, which of them to send, where answers go. */
export interface WindowBatch<T> {
  items: readonly T[];
  /** The positions to send; all of them when absent. */
  indices?: number[];
  out: DeliveryOutcome[];
  count: number;
  next: number;
  active: number;
  resolve: () => void;
}

/**
 * The send window both provider clients share: batches wait in order, at most `maxInFlight` of their
 * items are out at once across every concurrent `send` (the fan-out calls many at once; a 50,000-item
 * call is a window over its batch, not 50,000 requests), and every item is answered exactly once with
 * `settle`. `fire` puts one item on the wire or settles it at once; while `ready` says no (FCM without
 * an access token), nothing leaves.
 */
export class RequestWindow<T, B extends WindowBatch<T> = WindowBatch<T>> {
  private readonly queue: B[] = [];
  private active = 0;
  private pumping = false;
  private repump = false;

  constructor(
    private readonly maxInFlight: number,
    private readonly fire: (batch: B, index: number) => void,
    private readonly ready: () => boolean = () => true,
  ) {}

  /** Sends `batch`'s items (or its `indices`); resolves once each has its outcome in `batch.out`. */
  run(batch: Omit<B, 'count' | 'next' | 'active' | 'resolve'>): Promise<void> {
    const count = batch.indices ? batch.indices.length : batch.items.length;
    if (count === 0) return Promise.resolve();
    return new Promise<void>((resolve) => {
      this.queue.push({ ...batch, count, next: 0, active: 0, resolve } as B);
      this.pump();
    });
  }

  /** Puts queued items on the wire up to the cap. Re-entrant calls (a synchronous failure) just loop. */
  pump(): void {
    if (this.pumping) {
      this.repump = true;
      return;
    }
    this.pumping = true;
    do {
      this.repump = false;
      if (this.queue.length === 0 || !this.ready()) break;
      while (this.active < this.maxInFlight && this.queue.length > 0) {
        const batch = this.queue[0];
        const index = batch.indices ? batch.indices[batch.next] : batch.next;
        batch.next += 1;
        if (batch.next === batch.count) this.queue.shift();
        batch.active += 1;
        this.active += 1;
        this.fire(batch, index);
      }
    } while (this.repump);
    this.pumping = false;
  }

  /** The one answer of an item `fire` was given; frees its place in the window. */
  settle(batch: B, index: number, outcome: DeliveryOutcome): void {
    batch.out[index] = outcome;
    batch.active -= 1;
    this.active -= 1;
    if (batch.active === 0 && batch.next === batch.count) batch.resolve();
    this.pump();
  }

  /** Answers every item not yet on the wire with `outcome` (what they need cannot be had). */
  failWaiting(outcome: DeliveryOutcome): void {
    for (const batch of this.queue.splice(0)) {
      while (batch.next < batch.count) {
        const index = batch.indices ? batch.indices[batch.next] : batch.next;
        batch.next += 1;
        batch.out[index] = outcome;
      }
      if (batch.active === 0) batch.resolve();
    }
  }
}

/**
 * Request timeouts without a timer per request: one sweep (every `timeoutMs / 4`, 20 ms–1 s) over what
 * is outstanding, running only while something is, hands each request past its deadline to `expire`.
 */
export class DeadlineSweep<P extends { deadline: number }> {
  private readonly live = new Set<P>();
  private timer?: NodeJS.Timeout;

  constructor(
    private readonly timeoutMs: number,
    private readonly expire: (p: P) => void,
  ) {}

  /** Stamps `p`'s deadline and watches it. */
  add(p: P): void {
    p.deadline = Date.now() + this.timeoutMs;
    this.live.add(p);
    if (this.timer) return;
    const every = Math.min(1000, Math.max(20, Math.floor(this.timeoutMs / 4)));
    this.timer = setInterval(() => {
      const now = Date.now();
      for (const p of this.live) if (p.deadline <= now) this.expire(p);
      if (this.live.size === 0 && this.timer) {
        clearInterval(this.timer);
        this.timer = undefined;
      }
    }, every);
    this.timer.unref();
  }

  delete(p: P): void {
    this.live.delete(p);
  }
}
