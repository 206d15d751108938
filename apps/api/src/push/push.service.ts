import { randomUUID } from 'node:crypto';
import { Inject, Injectable, Logger } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import type { DataSource } from 'typeorm';
import { AudienceService, CHANNELS, type Channel } from '@herald/audience';
import { HeraldError } from '@herald/common';
import { HERALD_CONFIG, type HeraldConfig } from '@herald/config';
import { EnvelopeCipher } from '@herald/crypto';
import type { AppEntity } from '@herald/db';
import { heraldMetrics } from '@herald/metrics';
import { MicroBatcher, QueueService, splitOnFailure } from '@herald/platform';
import {
  insertMessage,
  insertMessages,
  isSingleShard,
  measurePayloads,
  planJob,
  recallJobId,
  shardJobs,
  type MessageSource,
  type PayloadSizes,
  type PushJob,
  type PushSpec,
  type TargetedMessage,
} from '@herald/push';
import { refusedByContent } from '@herald/db';
import {
  CID_TTL_S,
  cidClaim,
  claimRecords,
  findReplay,
  keyClaim,
  keyConflict,
  recordAnswer,
  requestHash,
  type Claim,
  type IdempotentRoute,
  type ReplayRules,
} from './idempotency';

export interface PushResult {
  sendno: string;
  msg_id: string;
}

export interface AcceptOptions {
  /** The `Idempotency-Key` header (Herald): the first response is returned for 30 days. */
  idempotencyKey?: string;
  /** The master secret the request authenticated with: the callback signing key, when there is a callback. */
  masterSecret?: string;
  source?: MessageSource;
  correlationId?: string;
}

/** A push's answer is `{sendno, msg_id}`; a cid a schedule used is refused. */
const PUSH_REPLAY: ReplayRules = {
  isResult: (response) => typeof response.msg_id === 'string',
  usedElsewhere: () =>
    new HeraldError('invalid_parameter', 'cid: already used by a schedule', { jpushCode: 1003 }),
  conflict: () => keyConflict(),
};

/**
 * Accepting a push: validation has happened; this decides "no device matches" (1011) cheaply, makes
 * cid and Idempotency-Key replays return the first answer without sending anything, commits the
 * message row (with its idempotency records, in one transaction) and only then enqueues its first job.
 * Pushes without idempotency claims that arrive together share one insert statement and one bulk
 * enqueue; each answers once its own row is committed and its job added.
 */
@Injectable()
export class PushService {
  private readonly logger = new Logger('push');
  private readonly audience: AudienceService;
  private readonly cipher: EnvelopeCipher;
  /**
   * One statement for the batch; if PostgreSQL refuses it for its content, each message alone, so an
   * error reaches only the request whose message caused it (a batch is never half written: the
   * statement is atomic). A statement that could not run at all fails every request of the batch.
   */
  private readonly inserts = new MicroBatcher<TargetedMessage, string | undefined>({
    run: splitOnFailure((items) => insertMessages(this.db, items), refusedByContent),
    maxBatch: 64,
  });
  private readonly jobs = new MicroBatcher<PushJob, void>({
    run: async (jobs) => {
      await this.queues.queue('push').addBulk(jobs);
      return jobs.map(() => undefined);
    },
    maxBatch: 200,
  });

  constructor(
    @InjectDataSource() private readonly db: DataSource,
    @Inject(HERALD_CONFIG) config: HeraldConfig,
    private readonly queues: QueueService,
  ) {
    this.audience = new AudienceService(db);
    this.cipher = new EnvelopeCipher(config.crypto);
  }

  async accept(app: AppEntity, spec: PushSpec, options: AcceptOptions = {}): Promise<PushResult> {
    const claims: Claim[] = [];
    if (spec.cid) claims.push(cidClaim(spec.cid));
    if (options.idempotencyKey) claims.push(keyClaim(options.idempotencyKey));
    const hash = claims.length > 0 ? requestHash('push', spec) : '';

    // A replay answers before any other check: the first request already passed them.
    if (claims.length > 0) {
      const replay = await findReplay<PushResult>(this.db, app.id, claims, hash, PUSH_REPLAY);
      if (replay) return replay;
    }
    await this.checkOverride(app, spec);
    // The segments' filters are kept with the message: its shards reach what this probe checked,
    // whatever becomes of the segments while it is in flight.
    const { compiled: target, segments } = await this.audience.resolve(app.id, spec);

    const stored: PushSpec = {
      ...spec,
      segment_filters: segments, // undefined (left out of the stored JSON) when it names no segment
      ...(spec.callback && {
        callback: {
          ...spec.callback,
          ...(options.masterSecret && {
            signing_key: this.cipher.encrypt(options.masterSecret, `callback:${app.id}`),
          }),
        },
      }),
    };
    const singleShard = isSingleShard(spec);
    const message = {
      appId: app.id,
      spec: stored,
      source: options.source,
      correlationId: options.correlationId,
      singleShard,
    };
    if (claims.length === 0) {
      // The common path: one statement writes the message (and its shard) if any device matches.
      const id = await this.inserts.submit({ message, target });
      if (id === undefined) throw noTarget();
      await this.enqueue(id, singleShard, options.source);
      return { sendno: spec.options.sendno, msg_id: id };
    }
    const outcome = await this.db.transaction(async (tx) => {
      await claimRecords(tx, app.id, claims);
      // Locks the records: a concurrent duplicate waits here and then finds the first response.
      const replay = await findReplay<PushResult>(tx, app.id, claims, hash, PUSH_REPLAY, true);
      if (replay) return { replay };
      const id = await insertMessage(tx, message, target);
      // Rolls the claims back with it: the cid stays usable for a push that has devices.
      if (id === undefined) throw noTarget();
      const response: PushResult = { sendno: spec.options.sendno, msg_id: id };
      await recordAnswer(tx, app.id, claims, hash, response, id);
      return { response };
    });
    if ('replay' in outcome) return outcome.replay!;
    await this.enqueue(outcome.response.msg_id, singleShard, options.source);
    return outcome.response;
  }

  /**
   * A whole request under an `Idempotency-Key` whose parts are made idempotent by their own claims —
   * a batch, each entry of which is a push with its own cid: the same key and request return the first
   * answer; the same key with another request, or on another route, is refused 409. The key is claimed
   * with the request's hash before `run`, so a conflicting request is refused even while the first
   * runs; the answer is stored once `run` returns. A crash in between leaves the claim unanswered: the
   * retry runs again, and each entry's cid replays what was already sent.
   */
  async onceByKey<T extends object>(
    app: AppEntity,
    route: IdempotentRoute,
    key: string,
    request: unknown,
    run: () => Promise<T>,
  ): Promise<T> {
    const claim = keyClaim(key);
    const hash = requestHash(route, request);
    // A record whose time is up (not purged yet) is a free key: taken anew.
    await claimRecords(this.db, app.id, [claim], hash);
    const rules: ReplayRules = { ...PUSH_REPLAY, isResult: () => true };
    const replay = await findReplay<T>(this.db, app.id, [claim], hash, rules);
    if (replay) return replay;
    let response: T;
    try {
      response = await run();
    } catch (err) {
      // Unanswered: the key is free again (a concurrent twin of the request claims it anew).
      await this.db
        .query(
          `DELETE FROM idempotency_records
            WHERE app_id = $1 AND kind = 'key' AND key = $2 AND request_hash = $3 AND response IS NULL`,
          [app.id, claim.key, hash],
        )
        .catch(() => undefined);
      throw err;
    }
    // The first answer stands: a concurrent twin's (the same: its entries replayed by cid) is not stored.
    await this.db.query(
      `INSERT INTO idempotency_records AS r (app_id, kind, key, request_hash, status_code, response, expires_at)
       VALUES ($1, 'key', $2, $3, 200, $4, now() + make_interval(secs => $5))
       ON CONFLICT (app_id, kind, key) DO UPDATE SET status_code = 200, response = EXCLUDED.response
        WHERE r.request_hash = EXCLUDED.request_hash AND r.response IS NULL`,
      [app.id, claim.key, hash, response, claim.ttlS],
    );
    return response;
  }

  /**
   * The message is committed: a failed enqueue (Redis down) is not the client's problem — the
   * reconciler enqueues it once Redis is back — so it is logged, not answered with an error.
   */
  private async enqueue(messageId: string, singleShard: boolean, source?: MessageSource): Promise<void> {
    heraldMetrics.pushesAccepted.inc({ source: source ?? 'push' });
    try {
      await this.jobs.submit(singleShard ? shardJobs(messageId, [0], 0, 1)[0] : planJob(messageId));
    } catch (err) {
      this.logger.warn({ err, messageId }, 'enqueue failed; the reconciler will enqueue the message');
    }
  }

  private async checkOverride(app: AppEntity, spec: PushSpec): Promise<void> {
    const id = spec.options.override_msg_id;
    if (id === undefined) return;
    const rows = await this.db.query<unknown[]>(`SELECT 1 FROM messages WHERE id = $1 AND app_id = $2`, [
      id,
      app.id,
    ]);
    if (rows.length === 0) {
      throw new HeraldError('invalid_parameter', `options.override_msg_id: no message ${id} in this app`, {
        jpushCode: 1003,
      });
    }
  }

  /**
   * `/v3/push/validate`: everything `accept` checks, nothing stored, and what it would reach. An empty
   * audience is `accept`'s 1011 (the count runs over the very clause `accept` probes with `EXISTS`);
   * the console's estimate (`emptyAudience: 'report'`) answers it as `audience_size: 0` instead.
   */
  async validate(
    app: AppEntity,
    spec: PushSpec,
    options: { emptyAudience?: 'refuse' | 'report' } = {},
  ): Promise<ValidateResult> {
    await this.checkOverride(app, spec);
    const sizes = measurePayloads(spec);
    const estimate = await this.audience.estimate(app.id, await this.audience.compile(app.id, spec));
    if (estimate.total === 0 && (options.emptyAudience ?? 'refuse') === 'refuse') throw noTarget();
    const channels: ValidateResult['channels'] = {};
    for (const c of CHANNELS) {
      const bytes = c === 'apns' ? (sizes.apns_voip ?? sizes.apns) : sizes[c];
      if (bytes === undefined && estimate.byChannel[c] === 0) continue;
      channels[c] = { count: estimate.byChannel[c], payload_bytes: bytes ?? null };
    }
    return {
      sendno: spec.options.sendno,
      msg_id: '0',
      audience_size: estimate.total,
      channels,
      payload_sizes: sizes,
    };
  }

  /**
   * JPush's cid pool: `{appKey}-{uuid}` ids, valid one day, each usable once. Push and schedule cids
   * share one pool here (JPush's `type` is accepted and checked, not stored).
   */
  async issueCids(app: AppEntity, count: number): Promise<string[]> {
    const cids = Array.from({ length: count }, () => `${app.appKey}-${randomUUID()}`);
    await this.db.query(
      `INSERT INTO idempotency_records (app_id, kind, key, expires_at, response)
       SELECT $1, 'cid', k, now() + make_interval(secs => $3), NULL FROM unnest($2::text[]) AS k`,
      [app.id, cids, CID_TTL_S],
    );
    return cids;
  }

  /**
   * Recall: the message stops (pending shards are cancelled, running ones stop at their next page),
   * then a job removes undelivered gateway copies and tells devices that have it. Recalling twice is
   * harmless.
   */
  async recall(app: AppEntity, messageId: string): Promise<void> {
    const rows = await this.db.query<{ status: string }[]>(
      `SELECT status FROM messages WHERE id = $1 AND app_id = $2`,
      [messageId, app.id],
    );
    if (rows.length === 0) {
      throw new HeraldError('not_found', `msg_id ${messageId} does not exist in this app`, {
        jpushCode: 1003,
        status: 404,
      });
    }
    await this.db.transaction(async (tx) => {
      await tx.query(
        `UPDATE messages SET status = 'cancelled', cancelled_at = COALESCE(cancelled_at, now()) WHERE id = $1`,
        [messageId],
      );
      await tx.query(
        `UPDATE message_shards SET status = 'cancelled', completed_at = now()
          WHERE message_id = $1 AND status = 'pending'`,
        [messageId],
      );
    });
    try {
      await this.queues.queue('push').add(
        'push.recall',
        { messageId },
        {
          jobId: recallJobId(messageId),
          attempts: 20,
          backoff: { type: 'exponential', delay: 500 },
          removeOnComplete: true,
          removeOnFail: { age: 7 * 24 * 3600 },
        },
      );
    } catch (err) {
      this.logger.warn({ err, messageId }, 'recall enqueue failed');
      throw new HeraldError('unavailable', 'the queue is unavailable; retry the recall', { cause: err });
    }
  }
}

/** JPush's 1011, decided by an index probe (`EXISTS`), never by counting the audience. */
function noTarget(): HeraldError {
  return new HeraldError('no_target', 'cannot find user by this audience or has been inactive for too long', {
    jpushCode: 1011,
  });
}

export interface ValidateResult extends PushResult {
  audience_size: number;
  channels: Partial<Record<Channel, { count: number; payload_bytes: number | null }>>;
  payload_sizes: PayloadSizes;
}
