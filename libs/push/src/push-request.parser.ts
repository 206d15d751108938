import { canonicalLanguage, parsePushTarget } from '@herald/audience';
import { HeraldError } from '@herald/common';
import type {
  Extras,
  JPushAndroidNotification,
  JPushIosNotification,
  JPushLocalized,
  JPushMessage,
  JPushNotification,
} from '@herald/providers';
import type { CallbackSpec, PushOptions, PushSpec } from './push.types';

/**
 * JPush's limits for a push (rest_api_v3_push.md, api.md §1) and Herald's own where JPush is silent.
 */
export const PUSH_LIMITS = {
  defaultTimeToLive: 86_400,
  /** 10 days: JPush's VIP maximum, which api.md adopts for everyone. */
  maxTimeToLive: 864_000,
  maxBigPushDuration: 1_400,
  apnsCollapseIdBytes: 64,
  /** JPush's Java client: "Badge number should be 0~99999, and can be prefixed with + to add, - to minus". */
  maxBadge: 99_999,
  androidChannelIdBytes: 1_000,
  /** Herald: every language is a payload to measure and to cache per shard. */
  i18nLanguages: 100,
  callbackUrlLength: 2_048,
} as const;

type Json = Record<string, unknown>;

const invalid = (field: string, message: string) =>
  new HeraldError('invalid_parameter', `${field}: ${message}`, { jpushCode: 1003, details: { field } });
const missing = (field: string) =>
  new HeraldError('missing_parameter', `${field} is required`, { jpushCode: 1002, details: { field } });
/** JPush 1009 "推送对象中有不支持的 key" — it names typos such as `content_available` or `build_id`. */
const unsupported = (field: string, key: string) =>
  new HeraldError('unknown_field', `${field}: unsupported key "${key}"`, {
    jpushCode: 1009,
    details: { field: `${field}.${key}` },
  });

export const isPlainObject = (v: unknown): v is Json =>
  typeof v === 'object' && v !== null && !Array.isArray(v);

const utf8 = (s: string) => Buffer.byteLength(s, 'utf8');
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
/** BCP 47-shaped, after `_` → `-` and lower-casing (the form devices are stored in). */
const LANGUAGE = /^[a-z]{1,8}(?:-[a-z0-9]{1,8})*$/;

/**
 * JSON `null` counts as absent for every optional field: JPush's own clients send `"alert": null` when
 * a builder argument was left out (the Node client's `JPush.ios(null, …)`).
 */
const present = (v: unknown) => v !== undefined && v !== null;

function checkKeys(obj: Json, field: string, known: readonly string[]): void {
  for (const key of Object.keys(obj)) if (!known.includes(key)) throw unsupported(field, key);
}

function objectAt(value: unknown, field: string): Json {
  if (!isPlainObject(value)) throw invalid(field, 'must be a JSON object');
  return value;
}

/** A deep copy that is guaranteed JSON (the spec is stored as jsonb and re-read by workers). */
function jsonObject(value: unknown, field: string): Json {
  const obj = objectAt(value, field);
  try {
    return JSON.parse(JSON.stringify(obj)) as Json;
  } catch {
    throw invalid(field, 'must be a JSON object');
  }
}

function str(obj: Json, key: string, field: string, opts: { maxBytes?: number } = {}): string | undefined {
  const v = obj[key];
  if (!present(v)) return undefined;
  if (typeof v !== 'string') throw invalid(`${field}.${key}`, 'must be a string');
  if (opts.maxBytes !== undefined && utf8(v) > opts.maxBytes) {
    throw invalid(`${field}.${key}`, `must be at most ${opts.maxBytes} UTF-8 bytes (got ${utf8(v)})`);
  }
  return v;
}

function int(obj: Json, key: string, field: string, min: number, max: number): number | undefined {
  const v = obj[key];
  if (!present(v)) return undefined;
  if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max) {
    throw invalid(`${field}.${key}`, `must be an integer from ${min} to ${max}`);
  }
  return v;
}

function bool(obj: Json, key: string, field: string, acceptBits = false): boolean | undefined {
  const v = obj[key];
  if (!present(v)) return undefined;
  if (typeof v === 'boolean') return v;
  // JPush's Java client sends `"content-available": 1` and `"mutable-content": 1`.
  if (acceptBits && (v === 0 || v === 1)) return v === 1;
  throw invalid(`${field}.${key}`, acceptBits ? 'must be true, false, 1 or 0' : 'must be true or false');
}

function extrasAt(obj: Json, key: string, field: string): Extras | undefined {
  return present(obj[key]) ? jsonObject(obj[key], `${field}.${key}`) : undefined;
}

/** Copies only the defined entries, so the output never carries `undefined`. */
function compact<T extends object>(obj: T): T {
  const out: Json = {};
  for (const [k, v] of Object.entries(obj)) if (v !== undefined) out[k] = v;
  return out as T;
}

// ---------------------------------------------------------------------------------------------------
// notification

const NOTIFICATION_KEYS = [
  'alert',
  'android',
  'ios',
  'voip',
  'i18n',
  // JPush platforms and fields Herald cannot deliver: accepted and ignored.
  'winphone',
  'hmos',
  'quickapp',
  'alternate_alert',
];

/** Delivered by Herald (they are in `JPushAndroidNotification`). */
const ANDROID_KEYS = [
  'alert',
  'title',
  'builder_id',
  'channel_id',
  'priority',
  'category',
  'style',
  'alert_type',
  'big_text',
  'big_pic_path',
  'large_icon',
  'sound',
  'extras',
];
/** Documented by JPush for vendor channels and its own SDK's UI: validated, then ignored. */
const ANDROID_IGNORED_KEYS = [
  'inbox',
  'intent',
  'uri_activity',
  'uri_action',
  'small_icon_uri',
  'icon_bg_color',
  'badge_add_num',
  'badge_set_num',
  'badge_class',
  'show_begin_time',
  'show_end_time',
  'display_foreground',
  'custom_buttons',
];

const IOS_KEYS = [
  'alert',
  'sound',
  'badge',
  'content-available',
  'mutable-content',
  'category',
  'extras',
  'thread-id',
  'interruption-level',
  'relevance-score',
  'target-content-id',
  // Older JPush clients (Java `setSubtitle`) send it next to the alert; folded into the alert object.
  'subtitle',
];
const INTERRUPTION_LEVELS = ['passive', 'active', 'time-sensitive', 'critical'] as const;

function parseNotification(value: unknown, field: string): JPushNotification {
  const n = objectAt(value, field);
  checkKeys(n, field, NOTIFICATION_KEYS);
  const alert = str(n, 'alert', field);
  const out: JPushNotification = compact({
    alert,
    android: present(n.android) ? parseAndroid(n.android, `${field}.android`) : undefined,
    ios: present(n.ios) ? parseIos(n.ios, `${field}.ios`, alert) : undefined,
    voip: extrasAt(n, 'voip', field),
    i18n: present(n.i18n) ? parseI18n(n.i18n, `${field}.i18n`) : undefined,
  });
  const ignoredOnly = ['winphone', 'hmos', 'quickapp'].some((k) => present(n[k]));
  if (Object.keys(out).length === 0 && !ignoredOnly) {
    throw invalid(field, 'must carry an alert, or an android, ios, voip or i18n part');
  }
  return out;
}

function parseAndroid(value: unknown, field: string): JPushAndroidNotification {
  const a = objectAt(value, field);
  checkKeys(a, field, [...ANDROID_KEYS, ...ANDROID_IGNORED_KEYS]);
  // Ignored keys still have to be what JPush documents, so a malformed request fails here as at JPush.
  if (present(a.inbox)) objectAt(a.inbox, `${field}.inbox`);
  if (present(a.intent)) {
    const intent = objectAt(a.intent, `${field}.intent`);
    if (!present(intent.url)) throw missing(`${field}.intent.url`);
    str(intent, 'url', `${field}.intent`);
  }
  for (const key of [
    'uri_activity',
    'uri_action',
    'small_icon_uri',
    'icon_bg_color',
    'badge_class',
    'show_begin_time',
    'show_end_time',
  ]) {
    str(a, key, field);
  }
  int(a, 'badge_add_num', field, 1, 99);
  int(a, 'badge_set_num', field, 0, 99);
  if (present(a.display_foreground) && a.display_foreground !== '0' && a.display_foreground !== '1') {
    throw invalid(`${field}.display_foreground`, 'must be "0" or "1"');
  }
  if (present(a.custom_buttons) && !Array.isArray(a.custom_buttons)) {
    throw invalid(`${field}.custom_buttons`, 'must be an array');
  }

  return compact<JPushAndroidNotification>({
    alert: str(a, 'alert', field),
    title: str(a, 'title', field),
    builder_id: int(a, 'builder_id', field, 0, 2_147_483_647),
    channel_id: str(a, 'channel_id', field, { maxBytes: PUSH_LIMITS.androidChannelIdBytes }),
    priority: int(a, 'priority', field, -2, 2),
    category: str(a, 'category', field),
    style: int(a, 'style', field, 0, 3),
    alert_type: int(a, 'alert_type', field, -1, 7),
    big_text: str(a, 'big_text', field),
    big_pic_path: str(a, 'big_pic_path', field),
    large_icon: str(a, 'large_icon', field),
    sound: str(a, 'sound', field),
    extras: extrasAt(a, 'extras', field),
  });
}

function parseIos(value: unknown, field: string, commonAlert: string | undefined): JPushIosNotification {
  const i = objectAt(value, field);
  checkKeys(i, field, IOS_KEYS);

  let alert: string | Record<string, unknown> | undefined;
  if (present(i.alert)) {
    if (typeof i.alert === 'string') alert = i.alert;
    else if (isPlainObject(i.alert)) alert = jsonObject(i.alert, `${field}.alert`);
    else throw invalid(`${field}.alert`, 'must be a string or an APNs alert object');
  }
  const subtitle = str(i, 'subtitle', field);
  if (subtitle !== undefined) {
    const base = alert ?? commonAlert;
    alert =
      typeof base === 'object'
        ? { ...base, subtitle }
        : { ...(base !== undefined && { body: base }), subtitle };
  }

  const level = str(i, 'interruption-level', field);
  if (level !== undefined && !(INTERRUPTION_LEVELS as readonly string[]).includes(level)) {
    throw invalid(`${field}.interruption-level`, `must be one of ${INTERRUPTION_LEVELS.join(', ')}`);
  }
  const score = i['relevance-score'];
  if (present(score) && (typeof score !== 'number' || !Number.isFinite(score) || score < 0 || score > 1)) {
    throw invalid(`${field}.relevance-score`, 'must be a number from 0 to 1');
  }

  return compact<JPushIosNotification>({
    alert,
    sound: parseSound(i.sound, `${field}.sound`),
    badge: parseBadge(i.badge, `${field}.badge`),
    'content-available': bool(i, 'content-available', field, true),
    'mutable-content': bool(i, 'mutable-content', field, true),
    category: str(i, 'category', field),
    'thread-id': str(i, 'thread-id', field),
    'interruption-level': level as JPushIosNotification['interruption-level'],
    'relevance-score': present(score) ? score : undefined,
    'target-content-id': str(i, 'target-content-id', field),
    extras: extrasAt(i, 'extras', field),
  });
}

/** A sound file name, or APNs' critical-alert dictionary `{critical, name, volume}`. */
function parseSound(value: unknown, field: string): JPushIosNotification['sound'] {
  if (!present(value)) return undefined;
  if (typeof value === 'string') return value;
  const s = objectAt(value, field);
  checkKeys(s, field, ['critical', 'name', 'volume']);
  let critical: number | undefined;
  if (present(s.critical)) {
    if (s.critical === true || s.critical === 1) critical = 1;
    else if (s.critical === false || s.critical === 0) critical = 0;
    else throw invalid(`${field}.critical`, 'must be 1 or 0');
  }
  const volume = s.volume;
  if (present(volume) && (typeof volume !== 'number' || !(volume >= 0 && volume <= 1))) {
    throw invalid(`${field}.volume`, 'must be a number from 0 to 1');
  }
  return compact({
    critical,
    name: str(s, 'name', field),
    volume: present(volume) ? volume : undefined,
  });
}

/**
 * JPush's badge: a number sets it, `"+N"` / `"-N"` change the count Herald keeps per device, `0` (or
 * `""`, JPush's other spelling) clears it; N is 0…99999. A digit string (`"5"`, what the Java
 * client's `setBadge(5)` sends) is stored as the number.
 */
function parseBadge(value: unknown, field: string): number | string | undefined {
  if (!present(value)) return undefined;
  const range = `0 to ${PUSH_LIMITS.maxBadge}`;
  if (typeof value === 'number') {
    if (!Number.isInteger(value) || value < 0 || value > PUSH_LIMITS.maxBadge) {
      throw invalid(field, `must be an integer from ${range}, or "+N" / "-N"`);
    }
    return value;
  }
  if (typeof value !== 'string') throw invalid(field, `must be an integer from ${range}, or "+N" / "-N"`);
  const text = value.trim();
  if (text === '') return 0;
  const m = /^([+-]?)(\d{1,6})$/.exec(text);
  if (!m || Number(m[2]) > PUSH_LIMITS.maxBadge) {
    throw invalid(field, `must be an integer from ${range}, or "+N" / "-N" with N from ${range}`);
  }
  return m[1] === '' ? Number(m[2]) : `${m[1]}${Number(m[2])}`;
}

/** Herald's `notification.i18n`: `{"<BCP 47 tag>": {alert?, title?}}`, keys lower-cased. */
function parseI18n(value: unknown, field: string): Record<string, JPushLocalized> {
  const obj = objectAt(value, field);
  const entries = Object.entries(obj);
  if (entries.length > PUSH_LIMITS.i18nLanguages) {
    throw invalid(field, `at most ${PUSH_LIMITS.i18nLanguages} languages (got ${entries.length})`);
  }
  const out: Record<string, JPushLocalized> = {};
  for (const [tag, content] of entries) {
    const at = `${field}.${tag}`;
    // The form devices' languages are stored in (canonical, lower-cased: Android's `in` is `id`), so
    // the per-device choice (exact tag, then primary language) finds it.
    const key = canonicalLanguage(tag)?.tag ?? tag.replace(/_/g, '-').toLowerCase();
    if (!LANGUAGE.test(key)) throw invalid(field, `"${tag.slice(0, 64)}" is not a BCP 47 language tag`);
    if (Object.prototype.hasOwnProperty.call(out, key)) {
      throw invalid(field, `"${tag}" repeats a language already given (tags are case-insensitive)`);
    }
    const c = objectAt(content, at);
    checkKeys(c, at, ['alert', 'title']);
    const localized = compact<JPushLocalized>({ alert: str(c, 'alert', at), title: str(c, 'title', at) });
    if (localized.alert === undefined && localized.title === undefined) {
      throw invalid(at, 'needs an alert or a title');
    }
    out[key] = localized;
  }
  return out;
}

// ---------------------------------------------------------------------------------------------------
// message, options, cid, callback

const MESSAGE_KEYS = [
  'msg_content',
  'title',
  'content_type',
  'extras',
  'alternate_title',
  'alternate_content',
];

function parseMessage(value: unknown, field: string): JPushMessage {
  const m = objectAt(value, field);
  checkKeys(m, field, MESSAGE_KEYS);
  if (!present(m.msg_content)) throw missing(`${field}.msg_content`);
  return compact<JPushMessage>({
    msg_content: str(m, 'msg_content', field)!,
    title: str(m, 'title', field),
    content_type: str(m, 'content_type', field),
    extras: extrasAt(m, 'extras', field),
  });
}

const OPTION_KEYS = [
  'sendno',
  'time_to_live',
  'override_msg_id',
  'apns_production',
  'apns_collapse_id',
  'big_push_duration',
  // Herald extension.
  'throttle_per_minute',
  // JPush options for vendor channels, test modes and its console: accepted and ignored.
  'third_party_channel',
  'classification',
  'target_event',
  'test_message',
  'receipt_id',
  'active_push',
  'need_backup',
  'business_operation_code',
  'test_model',
  'alternate_set',
  'geofence',
  'portal_extra',
  'notification_3rd_ver',
];

/** Decimal digits, optionally signed, as a safe integer; `undefined` when it is not one. */
function safeInteger(v: unknown): number | undefined {
  if (typeof v === 'number') return Number.isSafeInteger(v) ? v : undefined;
  if (typeof v === 'string' && /^-?\d{1,16}$/.test(v.trim())) {
    const n = Number(v.trim());
    return Number.isSafeInteger(n) ? n : undefined;
  }
  return undefined;
}

function parseOptions(value: unknown, field: string): PushOptions {
  const o: Json = present(value) ? objectAt(value, field) : {};
  checkKeys(o, field, OPTION_KEYS);

  let sendno = '0';
  if (present(o.sendno)) {
    const n = safeInteger(o.sendno);
    if (n === undefined) throw invalid(`${field}.sendno`, 'must be an integer');
    sendno = String(n);
  }

  let overrideMsgId: string | undefined;
  if (present(o.override_msg_id)) {
    const n = safeInteger(o.override_msg_id);
    if (n === undefined || n < 0) {
      throw invalid(`${field}.override_msg_id`, 'must be a msg_id (a decimal number below 2^53)');
    }
    // 0 is what SDKs that cannot omit a long send for "none" (the Go SDK drops it; JPush ignores it).
    if (n > 0) overrideMsgId = String(n);
  }

  const collapseId = str(o, 'apns_collapse_id', field, { maxBytes: PUSH_LIMITS.apnsCollapseIdBytes });
  const bigPush = int(o, 'big_push_duration', field, 0, PUSH_LIMITS.maxBigPushDuration);

  const throttle = o.throttle_per_minute;
  if (
    present(throttle) &&
    (typeof throttle !== 'number' || !Number.isSafeInteger(throttle) || throttle < 1)
  ) {
    throw invalid(`${field}.throttle_per_minute`, 'must be a positive integer');
  }

  return compact<PushOptions>({
    sendno,
    time_to_live:
      int(o, 'time_to_live', field, 0, PUSH_LIMITS.maxTimeToLive) ?? PUSH_LIMITS.defaultTimeToLive,
    override_msg_id: overrideMsgId,
    apns_production: bool(o, 'apns_production', field),
    // An empty collapse id is what SDKs send for "none"; APNs would refuse an empty header.
    apns_collapse_id: collapseId === '' ? undefined : collapseId,
    // JPush: "未设置则不是定速推送" — 0 means the same as absent.
    big_push_duration: bigPush === 0 ? undefined : bigPush,
    throttle_per_minute: present(throttle) ? throttle : undefined,
  });
}

/** JPush's cid: `{appKey}-{uuid}`, issued by `GET /v3/push/cid`. The uuid is kept lower-cased. */
export function parseCid(value: unknown, appKey: string, field = 'cid'): string {
  if (typeof value !== 'string') throw invalid(field, 'must be a string');
  const prefix = `${appKey}-`;
  const uuid = value.slice(prefix.length);
  if (!value.startsWith(prefix) || !UUID.test(uuid)) {
    throw invalid(
      field,
      `"${value.slice(0, 100)}" is not a cid of this app ({appKey}-{uuid}, from GET /v3/push/cid)`,
    );
  }
  return `${prefix}${uuid.toLowerCase()}`;
}

/** JPush's callback event mask: received 1, clicked 2, push 8, and their combinations. */
const CALLBACK_TYPES = [1, 2, 3, 8, 9, 10, 11];

function parseCallback(value: unknown, field: string): CallbackSpec {
  const c = objectAt(value, field);
  // `signing_key` is set by the API from the authenticated secret, never accepted from the client.
  checkKeys(c, field, ['url', 'params', 'type']);
  // JPush falls back to the URL configured in its console; Herald has no such setting.
  if (!present(c.url)) throw missing(`${field}.url`);
  const url = str(c, 'url', field, {})!;
  let parsed: URL | undefined;
  try {
    parsed = new URL(url);
  } catch {
    parsed = undefined;
  }
  if (!parsed || (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') || !parsed.hostname) {
    throw invalid(`${field}.url`, 'must be an http or https URL');
  }
  if (url.length > PUSH_LIMITS.callbackUrlLength) {
    throw invalid(`${field}.url`, `must be at most ${PUSH_LIMITS.callbackUrlLength} characters`);
  }
  const type = c.type;
  if (present(type) && !CALLBACK_TYPES.includes(type as number)) {
    throw invalid(
      `${field}.type`,
      `must be one of ${CALLBACK_TYPES.join(', ')} (received 1, clicked 2, push 8, or'ed)`,
    );
  }
  return compact<CallbackSpec>({
    url,
    params: extrasAt(c, 'params', field),
    type: present(type) ? (type as number) : undefined,
  });
}

// ---------------------------------------------------------------------------------------------------

/**
 * Validates and normalises a JPush v3 push request (`POST /v3/push`, `/v3/push/validate`, one entry of
 * a batch). Errors are `HeraldError`s with JPush's codes: 1002 for a missing field, 1003 for a bad
 * value, 1009 for an unsupported key inside `notification`, `message`, `options` or `callback` (where
 * JPush is strict, and a typo such as `content_available` must not pass silently). Unknown top-level
 * fields are ignored, as JPush does; documented fields Herald cannot deliver (`sms_message`,
 * `notification_3rd`, `inapp_message`, vendor options, …) are accepted and left out of the spec.
 * Payload sizes are not checked here: see `assertPayloadsFit`.
 */
export function parsePushRequest(body: unknown, opts: { appKey: string }): PushSpec {
  if (!isPlainObject(body)) throw invalid('body', 'must be a JSON object');
  const { platform, audience } = parsePushTarget({ platform: body.platform, audience: body.audience });

  const hasNotification = present(body.notification);
  const hasMessage = present(body.message);
  if (!hasNotification && !hasMessage) {
    if (present(body.live_activity)) {
      throw invalid(
        'live_activity',
        'Herald does not deliver Live Activity pushes; send a notification or message',
      );
    }
    throw missing('notification or message');
  }

  let notification = hasNotification ? parseNotification(body.notification, 'notification') : undefined;
  // Parts only for platforms Herald does not deliver (winphone, hmos, quickapp): nothing to show, and
  // an empty notification must not go out to every other device.
  if (notification && Object.keys(notification).length === 0) notification = undefined;
  const message = hasMessage ? parseMessage(body.message, 'message') : undefined;
  if (!notification && !message) {
    throw new HeraldError(
      'no_target',
      'notification: Herald delivers no winphone, hmos or quickapp notification, and the push carries nothing else',
      { jpushCode: 1011, details: { field: 'notification' } },
    );
  }
  const spec = compact<PushSpec>({
    platform,
    audience,
    notification,
    message,
    options: parseOptions(body.options, 'options'),
    cid: present(body.cid) ? parseCid(body.cid, opts.appKey) : undefined,
    callback: present(body.callback) ? parseCallback(body.callback, 'callback') : undefined,
  });
  for (const [key, value] of Object.entries(spec)) refuseNul(value, key);
  return spec;
}

/**
 * JSON can carry U+0000; PostgreSQL's `text` and `jsonb` cannot hold it. Any string or key of the spec
 * (which is stored as is) with one is the client's mistake: 1003 naming the field, not a failed insert.
 */
function refuseNul(value: unknown, field: string): void {
  if (typeof value === 'string') {
    if (value.includes('\0')) throw invalid(field, 'must not contain the NUL character (U+0000)');
  } else if (Array.isArray(value)) {
    value.forEach((v, i) => refuseNul(v, `${field}[${i}]`));
  } else if (isPlainObject(value)) {
    for (const [key, v] of Object.entries(value)) {
      if (key.includes('\0')) throw invalid(field, 'keys must not contain the NUL character (U+0000)');
      refuseNul(v, `${field}.${key}`);
    }
  }
}
