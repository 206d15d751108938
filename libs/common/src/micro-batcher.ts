export interface MicroBatcherOptions<I, O> {
  /**
   * Runs one batch and answers every item, in order: its result, or the Error that only its caller
   * sees. A rejection of the whole call fails every item of the batch with that error.
   */
  run: (items: I[]) => Promise<(O | Error)[]>;
  /** Items per batch at most; more wait for the next one. */
  maxBatch?: number;
  /**
   * Batches in flight at most. While they all are, arriving items gather into the next batch: under
   * load batches grow instead of round trips multiplying.
   */
  maxInFlight?: number;
}

interface Pending<I, O> {
  item: I;
  resolve: (value: O) => void;
  reject: (err: Error) => void;
}

/**
 * Gathers the items submitted within one turn of the event loop — the requests whose handlers ran
 * on the same wake-up — into one call of `run`, so concurrent requests share a round trip (one
 * statement, one write) instead of paying one each. Nothing waits on a timer: a batch leaves at the
 * end of the turn it was started in, or as soon as a batch in flight finishes. Each caller's promise
 * settles with its own item's answer.
 */
export class MicroBatcher<I, O> {
  private queue: Pending<I, O>[] = [];
  private scheduled = false;
  private inFlight = 0;
  private readonly maxBatch: number;
  private readonly maxInFlight: number;

  constructor(private readonly options: MicroBatcherOptions<I, O>) {
    this.maxBatch = options.maxBatch ?? 100;
    this.maxInFlight = options.maxInFlight ?? 4;
  }

  submit(item: I): Promise<O> {
    return new Promise<O>((resolve, reject) => {
      this.queue.push({ item, resolve, reject });
      this.schedule();
    });
  }

  private schedule(): void {
    if (this.scheduled || this.queue.length === 0 || this.inFlight >= this.maxInFlight) return;
    this.scheduled = true;
    setImmediate(() => {
      this.scheduled = false;
      this.drain();
    });
  }

  private drain(): void {
    while (this.queue.length > 0 && this.inFlight < this.maxInFlight) {
      const batch = this.queue.length <= this.maxBatch ? this.queue : this.queue.slice(0, this.maxBatch);
      this.queue = batch === this.queue ? [] : this.queue.slice(this.maxBatch);
      this.inFlight++;
      void this.execute(batch).finally(() => {
        this.inFlight--;
        this.schedule();
      });
    }
  }

  private async execute(batch: Pending<I, O>[]): Promise<void> {
    let answers: (O | Error)[];
    try {
      answers = await this.options.run(batch.map((p) => p.item));
    } catch (err) {
      const error = err instanceof Error ? err : new Error(String(err));
      for (const p of batch) p.reject(error);
      return;
    }
    batch.forEach((p, i) => {
      const answer = answers[i];
      if (answer instanceof Error) p.reject(answer);
      else if (i >= answers.length) p.reject(new Error('batch answered fewer items than it was given'));
      else p.resolve(answer);
    });
  }
}

/**
 * A batch `run` that shares one call for the whole batch and, if that call fails and `split(err)`
 * says the failure came from what an item holds (PostgreSQL refused a value, a constraint, a
 * deadlock), runs each item alone, so the error reaches only the item at fault. A failure that would
 * only repeat per item (no connection) fails the whole batch at once.
 */
export function splitOnFailure<I, O>(
  run: (items: I[]) => Promise<O[]>,
  split: (err: unknown) => boolean,
): (items: I[]) => Promise<(O | Error)[]> {
  return async (items) => {
    try {
      return await run(items);
    } catch (err) {
      if (items.length === 1 || !split(err)) throw err;
      return Promise.all(
        items.map((item) =>
          run([item]).then(
            ([answer]) => answer,
            (e: unknown) => (e instanceof Error ? e : new Error(String(e))),
          ),
        ),
      );
    }
  };
}
