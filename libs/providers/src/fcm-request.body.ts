import type { FcmMessage } from './fcm-payload.builder';

/** A message's HTTP v1 request body, or why FCM would not accept it (checked before sending). */
export type FcmRequestBody = { ok: true; body: string } | { ok: false; reason: string };

type Json = Record<string, unknown>;

const ANDROID_RENAMES: Record<string, string> = {
  collapseKey: 'collapse_key',
  restrictedPackageName: 'restricted_package_name',
  directBootOk: 'direct_boot_ok',
  bandwidthConstrainedOk: 'bandwidth_constrained_ok',
  restrictedSatelliteOk: 'restricted_satellite_ok',
};
const ANDROID_NOTIFICATION_RENAMES: Record<string, string> = {
  clickAction: 'click_action',
  bodyLocKey: 'body_loc_key',
  bodyLocArgs: 'body_loc_args',
  titleLocKey: 'title_loc_key',
  titleLocArgs: 'title_loc_args',
  channelId: 'channel_id',
  imageUrl: 'image',
  eventTimestamp: 'event_time',
  localOnly: 'local_only',
  priority: 'notification_priority',
  vibrateTimingsMillis: 'vibrate_timings',
  defaultVibrateTimings: 'default_vibrate_timings',
  defaultSound: 'default_sound',
  lightSettings: 'light_settings',
  defaultLightSettings: 'default_light_settings',
  notificationCount: 'notification_count',
};

/** `TokenMessage`'s fields (and the other targets, refused below). */
const MESSAGE_FIELDS = new Set([
  'token',
  'topic',
  'condition',
  'data',
  'notification',
  'android',
  'apns',
  'webpush',
  'fcmOptions',
]);

class Invalid extends Error {}

/**
 * Turns Herald's messages (firebase-admin's `TokenMessage` shape, which the builders produce) into the
 * JSON body of `POST /v1/projects/{id}/messages:send`, applying the checks and renames firebase-admin's
 * `validateMessage` applies (`ttl` in ms → `"86400s"`, `collapseKey` → `collapse_key`, `imageUrl` →
 * `image`, …), so FCM receives the JSON it received through firebase-admin (key order aside: firebase-admin moves
 * renamed keys last).
 *
 * Only `token` differs between the messages of a push, so the rest is serialised once and reused while
 * the parts equal the previous message's: the same objects (the worker's composer shares them) or
 * equal values (a caller that builds every message afresh; comparing costs less than serialising).
 * One instance per `send` call: parts are not expected to change while the call runs.
 */
export class FcmRequestBodies {
  private lastNotification: unknown = null;
  private lastData: unknown = null;
  private lastAndroid: unknown = null;
  private lastFcmOptions: unknown = null;
  private lastTail = '';

  bodyFor(message: FcmMessage): FcmRequestBody {
    const m = message as FcmMessage & Json;
    if (typeof m !== 'object' || m === null) return { ok: false, reason: 'invalid message: not an object' };
    const token = m.token;
    if (typeof token !== 'string' || token === '' || m.topic !== undefined || m.condition !== undefined) {
      return { ok: false, reason: 'invalid message: exactly one target, a non-empty token, is required' };
    }
    for (const key in m) {
      // Anything else would be passed through by firebase-admin, and FCM refuses unknown fields.
      if (!MESSAGE_FIELDS.has(key)) return { ok: false, reason: `invalid message: unknown field "${key}"` };
    }
    if (m.apns !== undefined || m.webpush !== undefined) {
      // Herald sends to iOS through APNs directly; nothing it builds carries FCM's apns/webpush blocks.
      return { ok: false, reason: 'invalid message: apns and webpush blocks are not supported' };
    }
    if (
      this.lastTail === '' ||
      !same(m.notification, this.lastNotification) ||
      !same(m.data, this.lastData) ||
      !same(m.android, this.lastAndroid) ||
      !same(m.fcmOptions, this.lastFcmOptions)
    ) {
      let rest: Json;
      try {
        rest = wireRest(m);
      } catch (err) {
        this.lastTail = '';
        return { ok: false, reason: `invalid message: ${(err as Error).message}` };
      }
      const json = JSON.stringify(rest);
      this.lastTail = json === '{}' ? '}}' : `,${json.slice(1)}}`;
      this.lastNotification = m.notification;
      this.lastData = m.data;
      this.lastAndroid = m.android;
      this.lastFcmOptions = m.fcmOptions;
    }
    return { ok: true, body: `{"message":{"token":${JSON.stringify(token)}${this.lastTail}` };
  }
}

/** Structural equality of JSON-like values (plain objects, arrays, primitives, dates), key order included. */
function same(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (typeof a !== 'object' || typeof b !== 'object' || a === null || b === null) return false;
  if (a instanceof Date || b instanceof Date) {
    return a instanceof Date && b instanceof Date && a.getTime() === b.getTime();
  }
  if (Array.isArray(a)) {
    if (!Array.isArray(b) || a.length !== b.length) return false;
    for (let i = 0; i < a.length; i++) if (!same(a[i], b[i])) return false;
    return true;
  }
  if (Array.isArray(b)) return false;
  const ka = Object.keys(a);
  const kb = Object.keys(b);
  if (ka.length !== kb.length) return false;
  for (let i = 0; i < ka.length; i++) {
    const k = ka[i];
    if (k !== kb[i] || !same((a as Json)[k], (b as Json)[k])) return false;
  }
  return true;
}

/** Everything but the target, in FCM's wire form; copies, never changes the caller's objects. */
function wireRest(m: Json): Json {
  const out: Json = {};
  for (const key of Object.keys(m)) {
    const value = m[key];
    if (key === 'token' || value === undefined) continue;
    if (key === 'data') out.data = stringMap(value, 'data');
    else if (key === 'notification') out.notification = notification(value);
    else if (key === 'android') out.android = android(value);
    else if (key === 'fcmOptions') out.fcmOptions = fcmOptions(value, 'fcmOptions');
    else out[key] = value;
  }
  return out;
}

function object(value: unknown, label: string): Json {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new Invalid(`${label} must be a non-null object`);
  }
  return value as Json;
}

function stringMap(value: unknown, label: string): Json {
  const map = object(value, label);
  for (const key of Object.keys(map)) {
    if (typeof map[key] !== 'string') throw new Invalid(`${label} must only contain string values`);
  }
  return map;
}

function notification(value: unknown): Json {
  const n = object(value, 'notification');
  if (n.imageUrl !== undefined && !isUrl(n.imageUrl)) {
    throw new Invalid('notification.imageUrl must be a valid URL string');
  }
  if ('imageUrl' in n && 'image' in n)
    throw new Invalid('Multiple specifications for imageUrl in Notification');
  return rename(n, { imageUrl: 'image' });
}

function fcmOptions(value: unknown, label: string): Json {
  const o = object(value, label);
  if (o.analyticsLabel !== undefined && typeof o.analyticsLabel !== 'string') {
    throw new Invalid('analyticsLabel must be a string value');
  }
  return o;
}

function android(value: unknown): Json {
  const a = { ...object(value, 'android') };
  if (a.ttl !== undefined) {
    if (typeof a.ttl !== 'number' || !Number.isFinite(a.ttl) || a.ttl < 0) {
      throw new Invalid('TTL must be a non-negative duration in milliseconds');
    }
    a.ttl = seconds(a.ttl);
  }
  if (a.data !== undefined) stringMap(a.data, 'android.data');
  if (a.notification !== undefined) a.notification = androidNotification(a.notification);
  if (a.fcmOptions !== undefined) fcmOptions(a.fcmOptions, 'fcmOptions');
  return rename(a, ANDROID_RENAMES);
}

function androidNotification(value: unknown): Json {
  const n = { ...object(value, 'android.notification') };
  if (n.color !== undefined && !(typeof n.color === 'string' && /^#[0-9a-fA-F]{6}$/.test(n.color))) {
    throw new Invalid('android.notification.color must be in the form #RRGGBB');
  }
  if (nonEmptyArray(n.bodyLocArgs) && !nonEmptyString(n.bodyLocKey)) {
    throw new Invalid('android.notification.bodyLocKey is required when specifying bodyLocArgs');
  }
  if (nonEmptyArray(n.titleLocArgs) && !nonEmptyString(n.titleLocKey)) {
    throw new Invalid('android.notification.titleLocKey is required when specifying titleLocArgs');
  }
  if (n.imageUrl !== undefined && !isUrl(n.imageUrl)) {
    throw new Invalid('android.notification.imageUrl must be a valid URL string');
  }
  if (n.eventTimestamp !== undefined) {
    if (!(n.eventTimestamp instanceof Date)) {
      throw new Invalid('android.notification.eventTimestamp must be a valid `Date` object');
    }
    n.eventTimestamp = n.eventTimestamp.toISOString();
  }
  if (n.vibrateTimingsMillis !== undefined) {
    if (!nonEmptyArray(n.vibrateTimingsMillis)) {
      throw new Invalid('android.notification.vibrateTimingsMillis must be a non-empty array of numbers');
    }
    n.vibrateTimingsMillis = n.vibrateTimingsMillis.map((v: unknown) => {
      if (typeof v !== 'number' || v < 0) {
        throw new Invalid(
          'android.notification.vibrateTimingsMillis must be non-negative durations in milliseconds',
        );
      }
      return seconds(v);
    });
  }
  if (typeof n.priority === 'string') n.priority = `PRIORITY_${n.priority.toUpperCase()}`;
  if (typeof n.proxy === 'string') n.proxy = n.proxy.toUpperCase();
  if (typeof n.visibility === 'string') n.visibility = n.visibility.toUpperCase();
  if (n.lightSettings !== undefined) n.lightSettings = lightSettings(n.lightSettings);
  return rename(n, ANDROID_NOTIFICATION_RENAMES);
}

function lightSettings(value: unknown): Json {
  const l = object(value, 'android.notification.lightSettings');
  const duration = (ms: unknown, name: string): string => {
    if (typeof ms !== 'number' || ms < 0) {
      throw new Invalid(
        `android.notification.lightSettings.${name} must be a non-negative duration in milliseconds`,
      );
    }
    return seconds(ms);
  };
  const on = duration(l.lightOnDurationMillis, 'lightOnDurationMillis');
  const off = duration(l.lightOffDurationMillis, 'lightOffDurationMillis');
  const color = typeof l.color === 'string' ? l.color : '';
  if (!/^#[0-9a-fA-F]{6}([0-9a-fA-F]{2})?$/.test(color)) {
    throw new Invalid(
      'android.notification.lightSettings.color must be in the form #RRGGBB or #RRGGBBAA format',
    );
  }
  const rgba = color.length === 7 ? `${color}FF` : color;
  const channel = (i: number): number => parseInt(rgba.slice(1 + i * 2, 3 + i * 2), 16) / 255.0;
  const { lightOnDurationMillis: _on, lightOffDurationMillis: _off, ...rest } = l;
  return {
    ...rest,
    color: { red: channel(0), green: channel(1), blue: channel(2), alpha: channel(3) },
    light_on_duration: on,
    light_off_duration: off,
  };
}

/** A copy with the given keys renamed, keeping the other keys' order (as firebase-admin's rename does). */
function rename(source: Json, names: Record<string, string>): Json {
  const out: Json = {};
  for (const key of Object.keys(source)) {
    const value = source[key];
    if (value === undefined) continue;
    out[names[key] ?? key] = value;
  }
  return out;
}

/** Milliseconds → a protobuf Duration string, as firebase-admin writes it (`1500` → `"1.500000000s"`). */
function seconds(ms: number): string {
  const whole = Math.floor(ms / 1000);
  const nanos = Math.floor((ms - whole * 1000) * 1_000_000);
  return nanos > 0 ? `${whole}.${String(nanos).padStart(9, '0')}s` : `${whole}s`;
}

function nonEmptyArray(value: unknown): value is unknown[] {
  return Array.isArray(value) && value.length > 0;
}

function nonEmptyString(value: unknown): boolean {
  return typeof value === 'string' && value !== '';
}

/** firebase-admin's `isURL`: http(s), a plain host name or IPv6 literal, a conservative path. */
function isUrl(value: unknown): boolean {
  if (typeof value !== 'string' || /[^a-z0-9:/?#[\]@!$&'()*+,;=.\-_~%]/i.test(value)) return false;
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    return false;
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') return false;
  const host = /^[a-zA-Z0-9]([a-zA-Z0-9-]*[a-zA-Z0-9])?(\.[a-zA-Z0-9]([a-zA-Z0-9-]*[a-zA-Z0-9])?)*$/;
  if (!host.test(url.hostname) && !/^\[[a-fA-F0-9:.]+\]$/.test(url.hostname)) return false;
  return url.pathname === '/' || /^(\/[\w\-.~!$'()*+,;=:@%]+)*\/?$/.test(url.pathname);
}
