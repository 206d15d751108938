import { parseAudience } from '@herald/audience';
import { HeraldError } from '@herald/common';
import { assertPayloadsFit } from './payload-measure';
import { isPlainObject, parsePushRequest } from './push-request.parser';
import type { PushSpec } from './push.types';

/** JPush: "pushList 的 key 为 CID 值，最多支持填写 1000 个". */
export const BATCH_MAX_ENTRIES = 1000;

/** One cid of a batch: its validated push, or the error JPush answers for that cid alone. */
export type BatchEntry =
  { cid: string; spec: PushSpec } | { cid: string; error: { code: number; message: string } };

const invalid = (field: string, message: string) =>
  new HeraldError('invalid_parameter', `${field}: ${message}`, { jpushCode: 1003, details: { field } });

/**
 * JPush's batch single push (`POST /v3/push/batch/regid/single`, `/v3/push/batch/alias/single`):
 * `{"pushlist": {"<cid>": {platform, target, notification, message, options, callback, …}}}` with at most
 * 1000 cids. A malformed envelope throws (1002 / 1003); each entry is validated on its own, as a push
 * whose audience is its one `target` and whose cid (idempotency id) is its key, payload sizes
 * included, so a bad entry yields `{cid, error: {code, message}}` and the others still go.
 * Entries come back in the order of the request.
 */
export function parseBatchSingle(
  body: unknown,
  kind: 'registration_id' | 'alias',
  opts: { appKey: string },
): BatchEntry[] {
  if (!isPlainObject(body)) throw invalid('body', 'must be a JSON object');
  const list = body.pushlist;
  if (list === undefined || list === null) {
    throw new HeraldError('missing_parameter', 'pushlist is required', {
      jpushCode: 1002,
      details: { field: 'pushlist' },
    });
  }
  if (!isPlainObject(list)) throw invalid('pushlist', 'must be a JSON object keyed by cid');
  const cids = Object.keys(list);
  if (cids.length === 0) throw invalid('pushlist', 'must hold at least one cid');
  if (cids.length > BATCH_MAX_ENTRIES) {
    throw invalid('pushlist', `at most ${BATCH_MAX_ENTRIES} cids (got ${cids.length})`);
  }

  return cids.map((cid): BatchEntry => {
    try {
      return { cid, spec: parseEntry(cid, list[cid], kind, opts.appKey) };
    } catch (err) {
      if (err instanceof HeraldError) return { cid, error: { code: err.jpushCode, message: err.message } };
      throw err;
    }
  });
}

function parseEntry(
  cid: string,
  value: unknown,
  kind: 'registration_id' | 'alias',
  appKey: string,
): PushSpec {
  if (!isPlainObject(value)) throw invalid(cid, 'must be a JSON object');
  const audience = targetAudience(value.target, kind);
  // The entry is a push of its own: same fields, its target as the audience, its key as its cid
  // (checked against the app like any cid).
  const spec = parsePushRequest({ ...value, audience, cid }, { appKey });
  assertPayloadsFit(spec);
  return spec;
}

/** The request-shaped audience `{"<kind>": [target]}`, once the target is known to be valid. */
function targetAudience(target: unknown, kind: 'registration_id' | 'alias'): Record<string, string[]> {
  const what = kind === 'alias' ? 'an alias' : 'a registration id';
  if (target === undefined || target === null) {
    throw new HeraldError('missing_parameter', `target is required (${what})`, {
      jpushCode: 1002,
      details: { field: 'target' },
    });
  }
  if (typeof target !== 'string' || target.length === 0) throw invalid('target', `must be ${what}`);
  try {
    // The audience parser owns the rules for registration ids and aliases (charset, 40 bytes, …).
    parseAudience({ [kind]: [target] }, 'target');
    return { [kind]: [target] };
  } catch (err) {
    if (err instanceof HeraldError) throw invalid('target', `"${target.slice(0, 64)}" is not ${what}`);
    throw err;
  }
}
