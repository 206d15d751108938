import { HeraldError } from '@herald/common';
import { assertPayloadsFit, parseCid, parsePushRequest, type PushSpec } from '@herald/push';
import { parseTrigger, SCHEDULE_LIMITS, scheduleInvalid, type Trigger } from './trigger';

type Json = Record<string, unknown>;
const isObject = (v: unknown): v is Json => typeof v === 'object' && v !== null && !Array.isArray(v);

/** JPush: a name of letters (Chinese included), digits and underscores, at most 255 bytes. */
const NAME = /^[\p{L}\p{N}_]+$/u;

export interface ParsedPush {
  /** The push as the client sent it (minus an ignored `cid`), shown back by GET. */
  stored: Json;
  spec: PushSpec;
  /** Herald's `options.local_time`: the trigger is read in each device's own time zone. */
  localTime: boolean;
}

export interface ParsedSchedule {
  name?: string;
  enabled?: boolean;
  trigger?: { trigger: Trigger; stored: Json };
  push?: ParsedPush;
  cid?: string;
}

const missing = (field: string) =>
  new HeraldError('missing_parameter', `${field} is required`, { jpushCode: 8100 });

/**
 * A push inside a schedule: the push API's own validation (`parsePushRequest`, payload limits), its
 * errors answered with the schedule API's 8100. `options.local_time` is Herald's and is taken out
 * first; `push.cid` is ignored, as JPush documents (the schedule's own `cid` is the idempotency id).
 */
export function parseSchedulePush(value: unknown, appKey: string): ParsedPush {
  if (!isObject(value)) throw scheduleInvalid('push: must be a push object (as POST /v3/push takes)');
  const stored: Json = JSON.parse(JSON.stringify(value)) as Json;
  delete stored.cid;
  const body: Json = JSON.parse(JSON.stringify(stored)) as Json;
  let localTime = false;
  if (isObject(body.options) && 'local_time' in body.options) {
    const lt = body.options.local_time;
    if (lt !== null && typeof lt !== 'boolean')
      throw scheduleInvalid('push.options.local_time: must be a boolean');
    localTime = lt === true;
    delete body.options.local_time;
  }
  try {
    const spec = parsePushRequest(body, { appKey });
    assertPayloadsFit(spec);
    return { stored, spec, localTime };
  } catch (err) {
    if (err instanceof HeraldError && err.status < 500) {
      throw new HeraldError(
        err.code === 'missing_parameter' ? 'missing_parameter' : 'invalid_parameter',
        `push: ${err.message}`,
        { jpushCode: 8100, details: err.details },
      );
    }
    throw err;
  }
}

/**
 * The body of `POST /v3/schedules` (every section required, `enabled` must be true) or of
 * `PUT /v3/schedules/{id}` (any of name, enabled, trigger, push; each replaced whole, as JPush
 * documents: no partial update inside a section).
 */
export function parseScheduleBody(
  body: unknown,
  opts: { appKey: string; mode: 'create' | 'update' },
): ParsedSchedule {
  if (!isObject(body)) throw scheduleInvalid('request body must be a JSON object');
  const known =
    opts.mode === 'create'
      ? ['cid', 'name', 'enabled', 'trigger', 'push']
      : ['name', 'enabled', 'trigger', 'push'];
  for (const k of Object.keys(body)) {
    if (!known.includes(k)) throw scheduleInvalid(`unsupported key "${k}"`);
  }
  const present = (k: string) => body[k] !== undefined && body[k] !== null;
  const out: ParsedSchedule = {};
  if (opts.mode === 'create') {
    for (const k of ['name', 'enabled', 'trigger', 'push']) if (!present(k)) throw missing(k);
    if (present('cid')) {
      try {
        out.cid = parseCid(body.cid, opts.appKey);
      } catch (err) {
        if (err instanceof HeraldError) throw scheduleInvalid(err.message);
        throw err;
      }
    }
  } else if (!['name', 'enabled', 'trigger', 'push'].some(present)) {
    throw scheduleInvalid('nothing to update: send name, enabled, trigger or push');
  }
  if (present('name')) {
    const name = body.name;
    if (typeof name !== 'string' || !NAME.test(name) || Buffer.byteLength(name) > SCHEDULE_LIMITS.nameBytes) {
      throw scheduleInvalid('name: letters, digits and underscores, at most 255 bytes');
    }
    out.name = name;
  }
  if (present('enabled')) {
    if (typeof body.enabled !== 'boolean') throw scheduleInvalid('enabled: must be true or false');
    if (opts.mode === 'create' && !body.enabled)
      throw scheduleInvalid('enabled: a schedule is created enabled (true)');
    out.enabled = body.enabled;
  }
  if (present('trigger')) out.trigger = parseTrigger(body.trigger);
  if (present('push')) out.push = parseSchedulePush(body.push, opts.appKey);
  return out;
}
