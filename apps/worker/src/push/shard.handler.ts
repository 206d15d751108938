import { Injectable, Logger } from '@nestjs/common';
import { UnrecoverableError } from 'bullmq';
import type { AudienceDevice, Channel, CompiledAudience } from '@herald/audience';
import { HeraldError } from '@herald/common';
import type { DeliveryOutcome } from '@herald/providers';
import { heraldMetrics } from '@herald/metrics';
import { QueueService } from '@herald/platform';
import { PushComposer, recordDropped } from '@herald/push';
import type { JobPayload } from '@herald/queue';
import type { JobHandler } from '../jobs/job-handler';
import { apnsEnvironmentOf, sendPage, type SendContext } from './channel.sender';
import type { LedgerRow, OutcomePage } from './ledger.writer';
import { PushRuntime } from './push.runtime';
import type { ClaimedShard, MessageRow } from './shard.statements';

const PAGE_SIZE = 2_000;
const RETRY_BASE_MS = 1_000;
const RETRY_MAX_WAIT_MS = 60_000;

type FeedbackItem = JobPayload<'feedback.invalid-tokens'>['items'][number];

interface Pending {
  device: AudienceDevice;
  outcome: Extract<DeliveryOutcome, { kind: 'retryable' | 'rate_limited' }>;
  attempts: number;
}

/**
 * One shard of a message: the devices of the audience in its id range, in keyset pages. Each page is
 * sent on every channel and recorded in one statement before the next is read, so a redelivered job
 * (worker killed, lock lost) skips what was recorded and a page is the most that can be resent — and the
 * gateway inbox drops that as a duplicate, APNs collapses it by its message-derived collapse id.
 * Nothing of a page is written after its ledger statement that the redelivered job could not make
 * again: what the page did to PostgreSQL is recorded before it (gateway entries it pushed out) or in it
 * (callback events, badges), and its invalid tokens, handed to the feedback queue after it, are handed
 * again from the ledger by a redelivered job (see `deliver`).
 * Transient failures are resent at the end of the shard, only those tokens, with backoff that honours
 * Retry-After, at most `HERALD_PUSH_RETRY_ATTEMPTS` times. Memory is one page plus the shard's retries
 * (a single-shard message, a few pages at most, also holds the next page while it sends one).
 */
@Injectable()
export class ShardHandler implements JobHandler<'push.shard'> {
  readonly jobName = 'push.shard' as const;
  private readonly logger = new Logger('push-shard');

  constructor(
    private readonly runtime: PushRuntime,
    private readonly queues: QueueService,
  ) {}

  async handle({ messageId, shardNo }: JobPayload<'push.shard'>): Promise<{ status: string }> {
    // The common case, a unicast or a small list (one shard): claimed together with its message, in a
    // statement shared with the other jobs of this moment.
    const claimed = await this.runtime.statements.claims.submit({ messageId, shardNo });
    if (claimed) return this.deliverShard(messageId, shardNo, claimed.msg, claimed.shard);
    const db = this.runtime.db;
    const [msg] = await db.query<MessageRow[]>(
      `SELECT app_id, status, request, created_at, correlation_id, shards_total FROM messages WHERE id = $1`,
      [messageId],
    );
    if (!msg || msg.status !== 'sending') return { status: `skipped: message ${msg?.status ?? 'missing'}` };
    // A broadcast's shards take turns (HERALD_SHARD_PARALLELISM at once); a unicast or small push,
    // one shard, never waits behind them.
    if ((msg.shards_total ?? 1) <= 1) return this.deliverShard(messageId, shardNo, msg);
    const release = await this.runtime.broadcastSlots.acquire();
    try {
      return await this.deliverShard(messageId, shardNo, msg);
    } finally {
      release();
    }
  }

  private async deliverShard(
    messageId: string,
    shardNo: number,
    msg: MessageRow,
    claimed?: ClaimedShard,
  ): Promise<{ status: string }> {
    const shard = claimed ?? (await this.claim(messageId, shardNo));
    if (!shard) return { status: 'skipped: shard finished' };

    const spec = msg.request;
    const ctx: SendContext = {
      messageId,
      spec,
      composer: new PushComposer(spec, messageId, Date.now()),
      credentials: await this.runtime.appCredentials(msg.app_id),
      acceptedAt: msg.created_at.getTime(),
    };
    const compiled = await this.compile(messageId, msg);
    const throttle = spec.options.throttle_per_minute;
    const pageSize = throttle ? Math.min(PAGE_SIZE, throttle) : PAGE_SIZE;
    const resumed = shard.attempts > 1;
    const pending: Pending[] = [];
    let first = true;
    let ended = false;
    const scan = this.runtime.audience.scan(compiled, {
      pageSize,
      range: { afterId: shard.from, throughId: shard.to },
    });
    const pages = scan[Symbol.asyncIterator]();
    try {
      let page = await pages.next();
      while (!page.done) {
        // Awaited here, inside the try: the finally below waits for the scan to drain, and a failure
        // of stop() meanwhile must stay this call's, not an unhandled rejection.
        if (!first && (await this.cancelled(messageId)))
          return await this.stop(messageId, shardNo, msg.app_id, pending);
        first = false;
        if (throttle) await this.throttle(messageId, throttle, page.value.length);
        // A single-shard message (a unicast, a list: a few pages at most) looks one page ahead: if the
        // scan is known to be over by the time this page is sent, the shard's end goes in the same
        // statement as the page's outcomes. Nothing waits for the look-ahead (a page is recorded before
        // the next is awaited); a broadcast's shard keeps to one page at a time.
        let following: Promise<IteratorResult<AudienceDevice[]>> | undefined;
        let next: IteratorResult<AudienceDevice[]> | undefined;
        if (claimed) {
          following = pages.next();
          following.then(
            (r) => (next = r),
            () => undefined, // awaited below
          );
        }
        ended = await this.deliver(ctx, msg.app_id, page.value, resumed, pending, undefined, () =>
          next?.done ? { shardNo, status: 'done' } : undefined,
        );
        page = await (following ?? pages.next());
      }
    } finally {
      await pages.return(undefined);
    }
    for (
      let attempt = 1;
      pending.length > 0 && attempt <= this.runtime.config.push.retryAttempts;
      attempt++
    ) {
      const waitMs = Math.min(
        RETRY_MAX_WAIT_MS,
        Math.max(RETRY_BASE_MS * 2 ** (attempt - 1), ...pending.map((p) => p.outcome.retryAfterMs ?? 0)),
      );
      await sleep(waitMs);
      if (await this.cancelled(messageId)) return this.stop(messageId, shardNo, msg.app_id, pending);
      const batch = pending.splice(0, pending.length);
      countRetries(batch);
      ctx.composer = new PushComposer(spec, messageId, Date.now());
      for (let i = 0; i < batch.length; i += pageSize) {
        const slice = batch.slice(i, i + pageSize);
        // A resend is a send: it counts against the push's rate as the first try did.
        if (throttle) await this.throttle(messageId, throttle, slice.length);
        await this.deliver(
          ctx,
          msg.app_id,
          slice.map((p) => p.device),
          false,
          pending,
          slice.map((p) => p.attempts),
        );
      }
    }
    // Still failing after every retry: a final failure with the provider's last reason.
    await this.recordPending(messageId, msg.app_id, pending);
    const status = ended ? 'done' : await this.finish(messageId, shardNo, 'done');
    // The request's correlation id (X-Request-Id) ties this line to the api's access log.
    this.logger.log({ correlationId: msg.correlation_id, messageId, shardNo, resumed }, 'shard done');
    return { status };
  }

  /**
   * The message's audience as it was accepted: from the segment filters stored with it (a message
   * stored before they were has its segments loaded by id), with `last_active` windows measured from
   * its acceptance, so every shard and every redelivery reaches the same devices, however late
   * (`big_push_duration`) it runs. An audience that no longer compiles (a segment of an old message
   * deleted since) never will: the message fails with the reason, and the job is not retried.
   */
  private async compile(messageId: string, msg: MessageRow): Promise<CompiledAudience> {
    const spec = msg.request;
    try {
      return await this.runtime.audience.compile(
        msg.app_id,
        { platform: spec.platform, audience: spec.audience },
        { asOf: msg.created_at, segments: spec.segment_filters },
      );
    } catch (err) {
      if (!(err instanceof HeraldError)) throw err;
      const reason = `audience: ${err.message}`;
      await this.runtime.db.query(
        `WITH m AS (
           UPDATE messages SET status = 'failed', error = $2 WHERE id = $1 AND status = 'sending' RETURNING id)
         UPDATE message_shards s SET status = 'cancelled', completed_at = now()
           FROM m WHERE s.message_id = m.id AND s.status IN ('pending', 'running')`,
        [messageId, reason],
      );
      this.logger.warn({ correlationId: msg.correlation_id, messageId, reason }, 'message failed');
      throw new UnrecoverableError(reason);
    }
  }

  private async claim(messageId: string, shardNo: number): Promise<ClaimedShard | undefined> {
    // TypeORM answers an UPDATE … RETURNING with [rows, affected].
    const [[shard]] = await this.runtime.db.query<[ClaimedShard[], number]>(
      `UPDATE message_shards SET status = 'running', attempts = attempts + 1
        WHERE message_id = $1 AND shard_no = $2 AND status IN ('pending', 'running')
        RETURNING from_device_id::text AS "from", to_device_id::text AS "to", attempts`,
      [messageId, shardNo],
    );
    return shard;
  }

  private async deliver(
    ctx: SendContext,
    appId: string,
    devices: AudienceDevice[],
    resumed: boolean,
    pending: Pending[],
    priorAttempts?: number[],
    /** The shard's end if this page is known to be its last (asked once the page is sent). */
    lastPage?: () => OutcomePage['end'],
  ): Promise<boolean> {
    const db = this.runtime.db;
    const rows: LedgerRow[] = [];
    let toSend = devices;
    let prior = priorAttempts;
    // Invalid tokens for the feedback queue (`feedback.invalid-tokens`, idempotent per device).
    const feedback: FeedbackItem[] = [];
    if (resumed) {
      // A redelivered shard: devices already in the ledger were handled by the earlier run.
      const seen = await db.query<
        {
          id: string;
          sent: boolean;
          channel: Channel;
          state: string;
          reason: string | null;
          status: number | null;
        }[]
      >(
        `SELECT device_id::text AS id, sent_at IS NOT NULL AS sent, channel, state, reason,
                provider_status AS status
           FROM deliveries
          WHERE message_id = $1 AND device_id = ANY($2::bigint[])`,
        [ctx.messageId, devices.map((d) => d.id)],
      );
      const done = new Map(seen.map((s) => [s.id, s]));
      const byId = new Map(devices.map((d) => [d.id, d]));
      for (const s of seen) {
        // Acknowledged by the device before the earlier run could record the send: record it now.
        if (!s.sent) rows.push(ledger(s.id, s.channel, { kind: 'sent' }, 1));
        // The earlier run may have stopped between this page's ledger statement and the feedback job
        // (a crash, a failed enqueue): its invalid tokens go to the feedback queue again. A device the
        // feedback already invalidated or quarantined is no longer in the audience; any other is
        // judged again and left as it is (`device-state.writer.ts`, `environment-retry.ts`).
        const d = byId.get(s.id);
        if (s.state === 'invalid_token' && s.reason && d) {
          feedback.push(
            feedbackItem(ctx, d, { kind: 'invalid_token', reason: s.reason, status: s.status ?? undefined }),
          );
        }
      }
      toSend = devices.filter((d) => !done.has(d.id));
      prior = undefined;
    }
    const result = await sendPage(this.runtime, ctx, toSend);
    toSend.forEach((d, i) => {
      const outcome = result.outcomes[i];
      const attempts = (prior?.[i] ?? 0) + 1;
      if (outcome.kind === 'retryable' || outcome.kind === 'rate_limited') {
        pending.push({ device: d, outcome, attempts });
        return;
      }
      if (outcome.kind === 'invalid_token') feedback.push(feedbackItem(ctx, d, outcome));
      rows.push(ledger(d.id, d.channel, outcome, attempts));
    });
    // Gateway entries of other messages this page pushed out of the inboxes: recorded before the
    // page's ledger statement, since a redelivered job skips what that statement recorded and the inbox
    // reports a push-out only once. Idempotent (only a `sent` row moves), so a job that fails between
    // the two and resends the page records nothing twice.
    const byRid = new Map(toSend.map((d) => [d.registrationId, d.id]));
    await recordDropped(
      db,
      result.dropped.flatMap((x) => {
        const deviceId = byRid.get(x.registrationId);
        return deviceId ? [{ messageId: x.messageId, deviceId, reason: x.reason }] : [];
      }),
    );
    // The page's callback events and badges are written in its ledger statement. The end goes with the
    // last page only if nothing of the shard waits for a retry and no invalid token waits for the
    // feedback queue: whoever sees the message completed sees everything it did, and a failed enqueue
    // leaves the shard open for a redelivered job to hand the tokens again.
    const end = pending.length === 0 && feedback.length === 0 ? lastPage?.() : undefined;
    await this.runtime.statements.outcomes.submit({
      messageId: ctx.messageId,
      appId,
      rows,
      end,
      ...(ctx.spec.callback && { callback: true }),
      ...(result.badges.size > 0 && { badges: result.badges }),
    });
    if (feedback.length > 0) await this.queues.add('feedback.invalid-tokens', { appId, items: feedback });
    return end !== undefined;
  }

  private async recordPending(messageId: string, appId: string, pending: Pending[], reason?: string) {
    await this.runtime.statements.outcomes.submit({
      messageId,
      appId,
      rows: pending.map((p) =>
        ledger(
          p.device.id,
          p.device.channel,
          { kind: 'permanent', reason: reason ?? p.outcome.reason, status: p.outcome.status },
          p.attempts,
        ),
      ),
    });
    pending.length = 0;
  }

  private async cancelled(messageId: string): Promise<boolean> {
    const [row] = await this.runtime.db.query<{ status: string }[]>(
      `SELECT status FROM messages WHERE id = $1`,
      [messageId],
    );
    return !row || row.status === 'cancelled';
  }

  private async stop(messageId: string, shardNo: number, appId: string, pending: Pending[]) {
    await this.recordPending(messageId, appId, pending, 'recalled');
    return { status: await this.finish(messageId, shardNo, 'cancelled') };
  }

  /** Marks the shard finished once, and the message completed when it was the last one. */
  private async finish(messageId: string, shardNo: number, status: 'done' | 'cancelled'): Promise<string> {
    await this.runtime.statements.ends.submit({ messageId, shardNo, status });
    return status;
  }

  /**
   * `throttle_per_minute`: a per-message counter per clock minute in Redis, shared by all shards and
   * workers; a page goes out only if it fits in the current minute, else waits for the next one.
   */
  private async throttle(messageId: string, perMinute: number, n: number): Promise<void> {
    const redis = this.runtime.redis;
    for (;;) {
      const minute = Math.floor(Date.now() / 60_000);
      const key = `${this.runtime.config.redis.queuePrefix}:thr:${messageId}:${minute}`;
      const used = await redis.incrby(key, n);
      if (used === n) await redis.expire(key, 120);
      if (used <= perMinute) return;
      await redis.decrby(key, n);
      await sleep((minute + 1) * 60_000 - Date.now() + 5);
    }
  }
}

/** One increment per channel present in a retry batch, not one per device. */
function countRetries(batch: Pending[]): void {
  const byChannel = new Map<Channel, number>();
  for (const p of batch) byChannel.set(p.device.channel, (byChannel.get(p.device.channel) ?? 0) + 1);
  for (const [channel, n] of byChannel) heraldMetrics.retries.inc({ channel }, n);
}

function feedbackItem(
  ctx: SendContext,
  d: AudienceDevice,
  outcome: Extract<DeliveryOutcome, { kind: 'invalid_token' }>,
): FeedbackItem {
  return {
    deviceId: d.id,
    messageId: ctx.messageId,
    channel: d.channel,
    reason: outcome.reason,
    ...(outcome.status !== undefined && { status: outcome.status }),
    ...(outcome.providerTimestamp && { providerTimestamp: outcome.providerTimestamp.toISOString() }),
    ...(d.channel === 'apns' && { apnsEnvironment: apnsEnvironmentOf(ctx.spec, d) }),
  };
}

function ledger(deviceId: string, channel: Channel, outcome: DeliveryOutcome, attempts: number): LedgerRow {
  const base = { deviceId, channel, attempts, providerStatus: null, providerMessageId: null };
  switch (outcome.kind) {
    case 'sent':
      return { ...base, state: 'sent', reason: null, providerMessageId: outcome.providerMessageId ?? null };
    case 'invalid_token':
      return {
        ...base,
        state: 'invalid_token',
        reason: outcome.reason,
        providerStatus: outcome.status ?? null,
      };
    default:
      return {
        ...base,
        state: outcome.reason === 'expired' ? 'expired' : 'failed',
        reason: outcome.reason,
        providerStatus: outcome.status ?? null,
      };
  }
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, Math.max(0, ms)));
