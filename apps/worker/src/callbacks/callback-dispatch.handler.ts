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
  /** POSTs in flight at once; a free lane goes to the app with the fewest in flight. */
  concurrency: number;
  /** POSTs in flight at once to one URL origin, so one slow host cannot take every lane. */
  hostConcurrency: number;
  /** Timeouts from one origin after which a batch sends it nothing more (its events wait, attempts kept). */
  hostTimeouts: number;
  /**
   * Due events (oldest first) among which a batch is shared out across apps, round-robin: each app's
   * oldest event before any app's second. Bounds the claim's work when a large backlog is due.
   */
  claimWindow: number;
  /** Events in one POST; a message with more claimed events gets several POSTs. */
  maxEventsPerPost: number;
  /**
   * A run claims batch after batch while they come back full, for at most this long; a batch starts no
   * POST after it (what is left is due again at once, attempts kept), so a batch ends within
   * `budgetMs + timeoutMs` however slow the endpoints are.
   */
  budgetMs: number;
  maxAttempts: number;
  random: () => number;
}

const DEFAULTS: CallbackDispatchOptions = {
  now: () => new Date(),
  timeoutMs: 5_000,
  leaseMs: 5 * 60_000,
  concurrency: 16,
  hostConcurrency: 4,
  hostTimeouts: 2,
  claimWindow: 10_000,
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
  /** Not sent this batch (their host kept timing out, or time ran out): rescheduled, attempts kept. */
  deferred: number;
}

type Outcome = { ok: true } | { ok: false; error: string; permanent?: boolean; timedOut?: boolean };

/** One POST's worth of events: one message's, up to `maxEventsPerPost`. */
interface Post {
  rows: ClaimedRow[];
  appId: string;
  /** The URL's origin, `''` for a URL that is unusable anyway (no request is made). */
  origin: string;
}

/** Why a post was not sent: its origin timed out too often this batch, or the batch's time ran out. */
type Deferral = { post: Post; reason: 'host' | 'deadline'; error?: string };

/**
 * The `callbacks.dispatch` job: POSTs the `callback_events` outbox to each message's `callback.url`.
 * Events are claimed in a short statement that pushes `next_attempt_at` a lease into the future, so
 * no transaction stays open while a tenant's URL is slow and concurrent dispatchers (SKIP LOCKED)
 * never take the same event. One POST per message (≤ `maxEventsPerPost` events), signed with the
 * master secret the push was sent with; any 2xx deletes the events, anything else schedules a retry
 * with exponential backoff until `maxAttempts`. Delivery is at least once: a dispatcher that dies
 * between its POST and the delete leaves the events to be sent again after the lease.
 *
 * One tenant's dead or slow endpoint must not hold up the others: a batch is shared out across apps
 * (each app's oldest due event before any app's second), lanes go to the app with the fewest POSTs in
 * flight and at most `hostConcurrency` go to one origin; an origin that times out `hostTimeouts` times
 * gets nothing more this batch (its events wait as long as a failure would, without losing an
 * attempt), so it costs a batch one timeout rather than one per message; and no POST starts after the
 * run's budget, so a batch ends within `budgetMs + timeoutMs`.
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
    const total = emptyStats();
    const started = Date.now();
    for (;;) {
      const stats = await this.dispatchBatch(payload.batchSize, started + this.options.budgetMs);
      for (const k of Object.keys(total) as (keyof DispatchStats)[]) total[k] += stats[k];
      if (stats.claimed < payload.batchSize || Date.now() - started >= this.options.budgetMs) return total;
    }
  }

  /** Claims at most `limit` due events, POSTs them (none starting after `deadline`), records the outcome. */
  async dispatchBatch(limit: number, deadline = Date.now() + this.options.budgetMs): Promise<DispatchStats> {
    const now = this.options.now();
    const rows = await this.claim(now, limit);
    const stats = emptyStats();
    stats.claimed = rows.length;
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

    const posts: Post[] = [];
    for (const group of groups.values()) {
      const origin = parseCallbackUrl(group[0].callback?.url)?.origin ?? '';
      for (let i = 0; i < group.length; i += this.options.maxEventsPerPost) {
        posts.push({
          rows: group.slice(i, i + this.options.maxEventsPerPost),
          appId: group[0].app_id,
          origin,
        });
      }
    }
    const secrets = new Map<string, string | Error>();
    const deferred = await runFairly(posts, { ...this.options, deadline }, async ({ rows: batch }) => {
      const outcome = await this.post(batch, secrets, stats);
      if (outcome.ok) {
        for (const r of batch) done.push(r.id);
        stats.delivered += batch.length;
        return outcome;
      }
      const head = batch[0];
      if (outcome.permanent) {
        for (const r of batch) done.push(r.id);
        stats.dropped += batch.length;
        this.logger.error(
          { msgId: head.message_id, appId: head.app_id, events: batch.length, error: outcome.error },
          'callback cannot be sent: events dropped',
        );
        return outcome;
      }
      for (const r of batch) failed.push({ row: r, error: outcome.error });
      return outcome;
    });
    // One line per host set aside, one for what the deadline left over.
    const setAside = new Map<
      string,
      { origin?: string; appIds: Set<string>; events: number; reason: string }
    >();
    for (const d of deferred) {
      stats.deferred += d.post.rows.length;
      const key = d.reason === 'host' ? `host ${d.post.origin}` : 'deadline';
      const s = setAside.get(key) ?? {
        ...(d.reason === 'host' ? { origin: d.post.origin } : {}),
        appIds: new Set<string>(),
        events: 0,
        reason: d.error ?? 'the batch ran out of time',
      };
      s.appIds.add(d.post.appId);
      s.events += d.post.rows.length;
      setAside.set(key, s);
    }
    for (const s of setAside.values()) {
      this.logger.warn({ ...s, appIds: [...s.appIds] }, 'callbacks not sent this batch: rescheduled');
    }

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
    // Deferred events were not sent: their attempts stay. A host that kept timing out is left alone for
    // as long as a failure would have made them wait; what the deadline left over is due again at once.
    const later = deferred.flatMap((d) =>
      d.post.rows.map((r) => ({
        id: r.id,
        at:
          d.reason === 'host'
            ? new Date(now.getTime() + retryDelayMs(r.attempts + 1, this.options.random))
            : now,
        error: d.error ?? null,
      })),
    );
    if (later.length > 0) {
      await this.db.query(
        `UPDATE callback_events e
            SET next_attempt_at = u.next_at, last_error = coalesce(u.error, e.last_error)
           FROM unnest($1::bigint[], $2::timestamptz[], $3::text[]) AS u(id, next_at, error)
          WHERE e.id = u.id`,
        [later.map((l) => l.id), later.map((l) => l.at), later.map((l) => l.error?.slice(0, 500) ?? null)],
      );
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
   * One statement, so its own short transaction: among the oldest `claimWindow` due events (the
   * `(next_attempt_at, id)` index order), each app's are numbered by age and taken round-robin — every
   * app's first, then every app's second, … — so an app with a backlog cannot keep another's events out
   * of the batch. They are locked, skipped when another dispatcher holds them (the LIMIT counts only the
   * rows locked), and leased by moving `next_attempt_at`. The window function cannot sit beside FOR
   * UPDATE, hence the join back to the table; the due test is repeated there so that a row leased by a
   * dispatcher that committed after this statement's snapshot fails the recheck and is skipped.
   */
  private async claim(now: Date, limit: number): Promise<ClaimedRow[]> {
    return this.db.query<ClaimedRow[]>(
      `WITH ranked AS (
         SELECT id, next_attempt_at,
                row_number() OVER (PARTITION BY app_id ORDER BY next_attempt_at, id) AS turn
           FROM (SELECT id, app_id, next_attempt_at FROM callback_events
                  WHERE next_attempt_at <= $1
                  ORDER BY next_attempt_at, id
                  LIMIT $4) head
       ), due AS (
         SELECT e.id FROM ranked r JOIN callback_events e ON e.id = r.id
          WHERE e.next_attempt_at <= $1
          ORDER BY r.turn, r.next_attempt_at, r.id
          LIMIT $2
          FOR UPDATE OF e SKIP LOCKED
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
      [
        now,
        limit,
        new Date(now.getTime() + this.options.leaseMs),
        Math.max(2 * limit, this.options.claimWindow),
      ],
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
      return {
        ok: false,
        error: describeOutboundError(err),
        permanent: isOutboundRefused(err),
        // The abort of `AbortSignal.timeout`: a DOMException, which is not always `instanceof Error`.
        timedOut: (err as { name?: unknown } | null)?.name === 'TimeoutError',
      };
    }
  }
}

function emptyStats(): DispatchStats {
  return { claimed: 0, posts: 0, delivered: 0, retrying: 0, dropped: 0, filtered: 0, deferred: 0 };
}

/**
 * Sends `posts` through `send` with at most `concurrency` in flight and at most `hostConcurrency` to one
 * origin. A free lane goes to the app with the fewest POSTs in flight (then the fewest started), so every
 * app's first POST starts before any app's second and an app with many slow endpoints holds its share
 * of the lanes only while others have POSTs waiting; one origin's posts go in claim order. An origin
 * that has timed out gets one lane, one with `hostTimeouts` timeouts no more POSTs, and none starts
 * after `deadline`: what was not sent is returned.
 */
async function runFairly(
  posts: Post[],
  o: Pick<CallbackDispatchOptions, 'concurrency' | 'hostConcurrency' | 'hostTimeouts' | 'timeoutMs'> & {
    deadline: number;
  },
  send: (post: Post) => Promise<Outcome>,
): Promise<Deferral[]> {
  // app → origin → its posts waiting, both maps in claim order.
  const waiting = new Map<string, Map<string, Post[]>>();
  for (const p of posts) {
    const byOrigin = waiting.get(p.appId) ?? new Map<string, Post[]>();
    waiting.set(p.appId, byOrigin);
    const q = byOrigin.get(p.origin);
    if (q) q.push(p);
    else byOrigin.set(p.origin, [p]);
  }
  const appInFlight = new Map<string, number>();
  const appStarted = new Map<string, number>();
  const originInFlight = new Map<string, number>();
  const originTimeouts = new Map<string, number>();
  const deferred: Deferral[] = [];
  const bump = (m: Map<string, number>, k: string, by: number) => m.set(k, (m.get(k) ?? 0) + by);
  const isDown = (origin: string) => origin !== '' && (originTimeouts.get(origin) ?? 0) >= o.hostTimeouts;
  // An origin that has timed out once gets one lane: the POSTs still in flight to it (usually timing out
  // together) tell whether it is down before another one starts.
  const capacity = (origin: string) => ((originTimeouts.get(origin) ?? 0) > 0 ? 1 : o.hostConcurrency);

  /** Takes the next post to start, setting aside (deferring) what must not be sent any more. */
  const next = (): Post | undefined => {
    const late = Date.now() >= o.deadline;
    let best: { app: string; origin: string; load: number; started: number } | undefined;
    for (const [app, byOrigin] of waiting) {
      for (const [origin, q] of byOrigin) {
        if (isDown(origin)) {
          const times = originTimeouts.get(origin);
          const error = `not sent: ${origin} timed out ${times} times in this batch (${o.timeoutMs} ms each)`;
          for (const post of q) deferred.push({ post, reason: 'host', error });
          byOrigin.delete(origin);
        } else if (late) {
          for (const post of q) deferred.push({ post, reason: 'deadline' });
          byOrigin.delete(origin);
        }
      }
      if (byOrigin.size === 0) {
        waiting.delete(app);
        continue;
      }
      const load = appInFlight.get(app) ?? 0;
      const started = appStarted.get(app) ?? 0;
      if (best && (best.load < load || (best.load === load && best.started <= started))) continue;
      for (const origin of byOrigin.keys()) {
        if (origin === '' || (originInFlight.get(origin) ?? 0) < capacity(origin)) {
          best = { app, origin, load, started };
          break;
        }
      }
    }
    if (!best) return undefined;
    const byOrigin = waiting.get(best.app)!;
    const q = byOrigin.get(best.origin)!;
    const post = q.shift()!;
    if (q.length === 0) byOrigin.delete(best.origin);
    if (byOrigin.size === 0) waiting.delete(best.app);
    return post;
  };

  await new Promise<void>((resolve, reject) => {
    let inFlight = 0;
    const pump = () => {
      for (let post = inFlight < o.concurrency ? next() : undefined; post;) {
        const { appId, origin } = post;
        inFlight++;
        bump(appInFlight, appId, 1);
        bump(appStarted, appId, 1);
        bump(originInFlight, origin, 1);
        send(post).then(
          (outcome) => {
            inFlight--;
            bump(appInFlight, appId, -1);
            bump(originInFlight, origin, -1);
            if (!outcome.ok && outcome.timedOut) bump(originTimeouts, origin, 1);
            pump();
          },
          (err: unknown) => reject(err instanceof Error ? err : new Error(String(err))),
        );
        post = inFlight < o.concurrency ? next() : undefined;
      }
      // With nothing in flight every origin is free, so next() has started or set aside every post.
      // Otherwise what waits has a busy origin, and a POST's end calls pump() again.
      if (inFlight === 0) resolve();
    };
    pump();
  });
  return deferred;
}
