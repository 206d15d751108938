import { createHash } from 'node:crypto';
import type { DataSource, EntityManager } from 'typeorm';
import { HeraldError } from '@herald/common';

/**
 * `idempotency_records`, shared by every `/v3` POST that creates something: a request's `cid` (JPush,
 * one day, one pool for pushes and schedules) and its `Idempotency-Key` (Herald, 30 days) each claim a
 * record (app, kind, key) that keeps the first answer. A key record also keeps the hash of its request,
 * route included: the same key with another body, or on another route, is a conflict.
 */
export const CID_TTL_S = 24 * 3600;
export const KEY_TTL_S = 30 * 24 * 3600;

export interface Claim {
  kind: 'cid' | 'key';
  key: string;
  ttlS: number;
}

export const cidClaim = (cid: string): Claim => ({ kind: 'cid', key: cid, ttlS: CID_TTL_S });
export const keyClaim = (key: string): Claim => ({ kind: 'key', key, ttlS: KEY_TTL_S });

/** The `/v3` POST routes that honour `Idempotency-Key`. */
export type IdempotentRoute = 'push' | 'schedule' | 'batch/regid' | 'batch/alias';

const IDEMPOTENCY_KEY = /^[\x21-\x7e]{1,255}$/;

/** The `Idempotency-Key` header, checked: 1 to 255 visible ASCII characters. */
export function idempotencyKey(value: string | undefined): string | undefined {
  if (value === undefined) return undefined;
  if (!IDEMPOTENCY_KEY.test(value)) {
    throw new HeraldError('invalid_parameter', 'Idempotency-Key: 1 to 255 visible ASCII characters', {
      jpushCode: 1003,
    });
  }
  return value;
}

/**
 * The request's hash, its route included. A push hashes as it always has (its records, written before
 * other routes took keys, stay replayable); other routes prefix theirs, which a push's JSON (`{…`)
 * never starts with, so one key cannot answer two routes.
 */
export function requestHash(route: IdempotentRoute, request: unknown): string {
  const text = JSON.stringify(request);
  return createHash('sha256')
    .update(route === 'push' ? text : `${route} ${text}`)
    .digest('base64url');
}

export interface ReplayRules {
  /** Whether a stored answer is this route's (a cid a schedule used holds a schedule's answer). */
  isResult(response: Record<string, unknown>): boolean;
  /** A cid whose stored answer is another route's. */
  usedElsewhere(): HeraldError;
  /** An `Idempotency-Key` used with another request (409). */
  conflict(): HeraldError;
}

/** 409 for a key used with another request; `jpushCode` as the route's family answers (schedules: 8100). */
export function keyConflict(jpushCode = 1003): HeraldError {
  return new HeraldError(
    'conflict',
    'this Idempotency-Key was used with a different request or on another route; use a new key for a new request',
    { jpushCode },
  );
}

/**
 * Inserts the records (unanswered) if absent, or resets one whose time is up (the hourly purge may not
 * have removed it yet: an expired cid or key is a new one); in the transaction that writes what they
 * answer for. `hash` claims them for one request already (a batch's key, while the batch runs).
 */
export async function claimRecords(
  tx: DataSource | EntityManager,
  appId: string,
  claims: Claim[],
  hash: string | null = null,
): Promise<void> {
  for (const c of claims) {
    await tx.query(
      `INSERT INTO idempotency_records AS r (app_id, kind, key, request_hash, expires_at)
       VALUES ($1, $2, $3, $5, now() + make_interval(secs => $4))
       ON CONFLICT (app_id, kind, key) DO UPDATE
         SET request_hash = excluded.request_hash, status_code = NULL, response = NULL, message_id = NULL,
             expires_at = excluded.expires_at
         WHERE r.expires_at <= now()`,
      [appId, c.kind, c.key, c.ttlS, hash],
    );
  }
}

/**
 * The first answer of any claim, or undefined. `lock` (in the claiming transaction) locks the records:
 * a concurrent duplicate waits there and then finds the first answer.
 */
export async function findReplay<T>(
  db: DataSource | EntityManager,
  appId: string,
  claims: Claim[],
  hash: string,
  rules: ReplayRules,
  lock = false,
): Promise<T | undefined> {
  for (const c of claims) {
    const [row] = await db.query<{ request_hash: string | null; response: Record<string, unknown> | null }[]>(
      `SELECT request_hash, response FROM idempotency_records
        WHERE app_id = $1 AND kind = $2 AND key = $3 AND expires_at > now() ${lock ? 'FOR UPDATE' : ''}`,
      [appId, c.kind, c.key],
    );
    if (!row) continue;
    // A key's record belongs to its request once answered, or once a batch claimed it (hash, no answer yet).
    if (c.kind === 'key' && (row.response || row.request_hash !== null) && row.request_hash !== hash) {
      throw rules.conflict();
    }
    if (!row.response) continue;
    // Pushes and schedules share the cid pool: another route's answer is no answer to this one.
    if (!rules.isResult(row.response)) throw rules.usedElsewhere();
    return row.response as T;
  }
  return undefined;
}

/** Stores the answer in every claimed record (in the transaction that wrote what it answers for). */
export async function recordAnswer(
  tx: EntityManager,
  appId: string,
  claims: Claim[],
  hash: string,
  response: object,
  messageId: string | null = null,
): Promise<void> {
  for (const c of claims) {
    await tx.query(
      `UPDATE idempotency_records
          SET request_hash = $4, status_code = 200, response = $5, message_id = $6,
              expires_at = GREATEST(expires_at, now() + make_interval(secs => $7))
        WHERE app_id = $1 AND kind = $2 AND key = $3`,
      [appId, c.kind, c.key, hash, response, messageId, c.ttlS],
    );
  }
}
