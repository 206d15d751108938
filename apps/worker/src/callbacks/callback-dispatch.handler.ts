import { Inject, Injectable, Logger, type OnModuleDestroy, Optional } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import type { DataSource } from 'typeorm';
import { HERALD_CONFIG, type HeraldConfig } from '@herald/config';
import { EnvelopeCipher } from '@herald/crypto';
import type { CallbackEvent } from '@herald/push';
import type { JobPayload } from '@herald/queue';
import type { JobHandler } from '../jobs/job-handler';
import { OutboundHttp } from '@herald/platform';
import {
  callbackWants,
  describeOutboundError,
  isOutboundRefused,
  MAX_CALLBACK_ATTEMPTS,
  parseCallbackUrl,
  retryDelayMs,
} from './callback-policy';
import { SIGNATURE_HEADER, signCallbackBody } from './callback-signer';

export const CALLBACK_DISPATCH_OPTIONS = Symbol('CALLBACK_DISPATCH_OPTIONS');

export interface CallbackDispatchOptions {
  /** The clock deciding which events are due and when retries are; tests move it. */
  now: () => Date;
  /** A POST that has not answered by then failed. */
  timeoutMs: number;
  /** How long claimed events stay invisible to other dispatchers; longer than a batch's POSTs take. */
  leaseMs: number;
  /** POSTs in flight at once, so one slow tenant does not hold everyone else's events back. */
  concurrency: number;
  /** Events in one POST; a message with more claimed events gets several POSTs. */
  maxEventsPerPost: number;
  /** A run claims batch after batch while they come back full, for at most this long. */
  budgetMs: number;
  maxAttempts: number;
  random: () => number;
}

const DEFAULTS: CallbackDispatchOptions = {
  now: () => new Date(),
  timeoutMs: 5_000,
  leaseMs: 5 * 60_000,
  concurrency: 16,
  maxEventsPerPost: 100,
  budgetMs: 10_000,
  maxAttempts: MAX_CALLBACK_ATTEMPTS,
  random: Math.random,
};

interface ClaimedRow {
  id: string;
  app_id: string;
  message_id: string;
  registration_id: string;
  event: CallbackEvent;
  occurred_at: Date;
  attempts: number;
  callback: { url?: unknown; params?: unknown; type?: unknown; signing_key?: unknown } | null;
  channel: string | null;
}

/** One element of the JSON array a callback POST carries. */
export interface CallbackBodyEvent {
  msg_id: string;
  registration_id: string;
  event: CallbackEvent;
  channel?: string;
  /** When the event happened, Unix milliseconds. */
  timestamp: number;
  params?: unknown;
}

export interface DispatchStats {
  claimed: number;
  posts: number;
  delivered: number;
  retrying: number;
  dropped: number;
  filtered: number;
}

type Outcome = { ok: true } | { ok: false; error: string; permanent?: boolean };

/**
 * The `callbacks.dispatch` job: POSTs the `callback_events` outbox to each message's `callback.url`.
 * Events are claimed in a short statement that pushes `next_attempt_at` a lease into the future, so
 * no transaction stays open while a tenant's URL is slow and concurrent dispatchers (SKIP LOCKED)
 * never take the same event. One POST per message (≤ `maxEventsPerPost` events), signed with the
 * master secret the push was sent with; any 2xx deletes the events, anything else schedules a retry
 * with exponential backoff until `maxAttempts`. Delivery is at least once: a dispatcher that dies
 * between its POST and the delete leaves the events to be sent again after the lease.
 */
@Injectable()
export class CallbackDispatchHandler implements JobHandler<'callbacks.dispatch'>, OnModuleDestroy {
  readonly jobName = 'callbacks.dispatch' as const;
  private readonly logger = new Logger('callbacks');
  private readonly cipher: EnvelopeCipher;
  private readonly options: CallbackDispatchOptions;
  private readonly outbound: OutboundHttp;

  constructor(
    @InjectDataSource() private readonly db: DataSource,
    @Inject(HERALD_CONFIG) config: HeraldConfig,
    @Optional() @Inject(CALLBACK_DISPATCH_OPTIONS) options?: Partial<CallbackDispatchOptions>,
  ) {
    this.cipher = new EnvelopeCipher(config.crypto);
    this.options = { ...DEFAULTS, ...options };
    this.outbound = new OutboundHttp(config.outboundAllow);
  }

  async onModuleDestroy(): Promise<void> {
    await this.outbound.close();
  }

  async handle(payload: JobPayload<'callbacks.dispatch'>): Promise<DispatchStats> {
    const total: DispatchStats = { claimed: 0, posts: 0, delivered: 0, retrying: 0, dropped: 0, filtered: 0 };
    const started = Date.now();
    for (;;) {
      const stats = await this.dispatchBatch(payload.batchSize);
      for (const k of Object.keys(total) as (keyof DispatchStats)[]) total[k] += stats[k];
      if (stats.claimed < payload.batchSize || Date.now() - started >= this.options.budgetMs) return total;
    }
  }

  /** Claims at most `limit` due events, POSTs them and records the outcome. */
  async dispatchBatch(limit: number): Promise<DispatchStats> {
    const now = this.options.now();
    const rows = await this.claim(now, limit);
    const stats: DispatchStats = {
      claimed: rows.length,
      posts: 0,
      delivered: 0,
      retrying: 0,
      dropped: 0,
      filtered: 0,
    };
    if (rows.length === 0) return stats;

    const done: string[] = [];
    const failed: { row: ClaimedRow; error: string }[] = [];
    const groups = new Map<string, ClaimedRow[]>();
    for (const row of rows) {
      // Events the tenant did not ask for (or of a message without a callback) go without a POST.
      if (!row.callback || !callbackWants(row.callback.type, row.event)) {
        done.push(row.id);
        stats.filtered++;
        continue;
      }
      const group = groups.get(row.message_id);
      if (group) group.push(row);
      else groups.set(row.message_id, [row]);
    }

    const posts: ClaimedRow[][] = [];
    for (const group of groups.values()) {
      for (let i = 0; i < group.length; i += this.options.maxEventsPerPost) {
        posts.push(group.slice(i, i + this.options.maxEventsPerPost));
      }
    }
    const secrets = new Map<string, string | Error>();
    await runLimited(posts, this.options.concurrency, async (batch) => {
      const outcome = await this.post(batch, secrets, stats);
      if (outcome.ok) {
        for (const r of batch) done.push(r.id);
        stats.delivered += batch.length;
        return;
      }
      const head = batch[0];
      if (outcome.permanent) {
        for (const r of batch) done.push(r.id);
        stats.dropped += batch.length;
        this.logger.error(
          { msgId: head.message_id, appId: head.app_id, events: batch.length, error: outcome.error },
          'callback cannot be sent: events dropped',
        );
        return;
      }
      for (const r of batch) failed.push({ row: r, error: outcome.error });
    });

    const retry = failed.filter((f) => f.row.attempts + 1 < this.options.maxAttempts);
    const givenUp = failed.filter((f) => f.row.attempts + 1 >= this.options.maxAttempts);
    for (const f of givenUp) done.push(f.row.id);
    stats.retrying = retry.length;
    stats.dropped += givenUp.length;
    if (givenUp.length > 0) {
      const byMessage = new Map<string, { count: number; error: string; appId: string }>();
      for (const f of givenUp) {
        const m = byMessage.get(f.row.message_id) ?? { count: 0, error: f.error, appId: f.row.app_id };
        m.count++;
        byMessage.set(f.row.message_id, m);
      }
      for (const [msgId, m] of byMessage) {
        this.logger.error(
          { msgId, appId: m.appId, events: m.count, attempts: this.options.maxAttempts, error: m.error },
          'callback failed too often: events dropped',
        );
      }
    }

    if (done.length > 0) {
      await this.db.query(`DELETE FROM callback_events WHERE id = ANY($1::bigint[])`, [done]);
    }
    if (retry.length > 0) {
      await this.db.query(
        `UPDATE callback_events e
            SET attempts = e.attempts + 1, next_attempt_at = u.next_at, last_error = u.error
           FROM unnest($1::bigint[], $2::timestamptz[], $3::text[]) AS u(id, next_at, error)
          WHERE e.id = u.id`,
        [
          retry.map((f) => f.row.id),
          retry.map((f) => new Date(now.getTime() + retryDelayMs(f.row.attempts + 1, this.options.random))),
          retry.map((f) => f.error.slice(0, 500)),
        ],
      );
    }
    return stats;
  }

  /**
   * One statement, so its own short transaction: due events (the `(next_attempt_at, id)` index order)
   * are locked, skipped when another dispatcher holds them, and leased by moving `next_attempt_at`.
   */
  private async claim(now: Date, limit: number): Promise<ClaimedRow[]> {
    return this.db.query<ClaimedRow[]>(
      `WITH due AS (
         SELECT id FROM callback_events
          WHERE next_attempt_at <= $1
          ORDER BY next_attempt_at, id
          LIMIT $2
          FOR UPDATE SKIP LOCKED
       ), claimed AS (
         UPDATE callback_events e SET next_attempt_at = $3
           FROM due WHERE e.id = due.id
         RETURNING e.id, e.app_id, e.message_id, e.device_id, e.registration_id, e.event, e.occurred_at,
                   e.attempts
       )
       SELECT c.id::text, c.app_id, c.message_id::text, c.registration_id, c.event, c.occurred_at,
              c.attempts, m.request -> 'callback' AS callback, d.channel
         FROM claimed c
         JOIN messages m ON m.id = c.message_id
         LEFT JOIN deliveries d ON d.message_id = c.message_id AND d.device_id = c.device_id
        ORDER BY c.id`,
      [now, limit, new Date(now.getTime() + this.options.leaseMs)],
    );
  }

  private async post(
    batch: ClaimedRow[],
    secrets: Map<string, string | Error>,
    stats: DispatchStats,
  ): Promise<Outcome> {
    const head = batch[0];
    const callback = head.callback ?? {};
    const url = parseCallbackUrl(callback.url);
    if (!url) return { ok: false, permanent: true, error: 'callback.url is not an http(s) URL' };
    if (typeof callback.signing_key !== 'string') {
      return { ok: false, permanent: true, error: 'callback has no signing key' };
    }
    let secret = secrets.get(head.message_id);
    if (secret === undefined) {
      try {
        secret = this.cipher.decrypt(callback.signing_key, `callback:${head.app_id}`).toString('utf8');
      } catch (err) {
        // Usually a master key missing from the ring: retried, since configuration can be fixed.
        secret = err instanceof Error ? err : new Error(String(err));
      }
      secrets.set(head.message_id, secret);
    }
    if (secret instanceof Error) return { ok: false, error: `signing key unreadable: ${secret.message}` };

    const events: CallbackBodyEvent[] = batch.map((r) => ({
      msg_id: r.message_id,
      registration_id: r.registration_id,
      event: r.event,
      ...(r.channel ? { channel: r.channel } : {}),
      timestamp: new Date(r.occurred_at).getTime(),
      ...(callback.params !== undefined ? { params: callback.params } : {}),
    }));
    const body = JSON.stringify(events);
    stats.posts++;
    try {
      // Public addresses only (HERALD_OUTBOUND_ALLOW names private ones that may be reached). A
      // redirect is a failure rather than a second request to wherever it points.
      const res = await this.outbound.fetch(url, {
        method: 'POST',
        headers: {
          'Content-Type': 'application/json',
          'User-Agent': 'Herald-Callbacks/1',
          [SIGNATURE_HEADER]: signCallbackBody(secret, body),
        },
        body,
        signal: AbortSignal.timeout(this.options.timeoutMs),
      });
      // The answer's body is of no interest; cancelling it frees the connection.
      await res.body?.cancel().catch(() => undefined);
      return res.status >= 200 && res.status < 300
        ? { ok: true }
        : { ok: false, error: `HTTP ${res.status}` };
    } catch (err) {
      // A URL that leads to a private or reserved address never will do otherwise: no retries.
      return { ok: false, error: describeOutboundError(err), permanent: isOutboundRefused(err) };
    }
  }
}

/** Runs `fn` over `items` with at most `limit` calls in flight. */
async function runLimited<T>(items: T[], limit: number, fn: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  const lane = async () => {
    while (next < items.length) await fn(items[next++]);
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, lane));
}
