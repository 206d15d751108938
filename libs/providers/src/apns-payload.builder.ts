import { nextBadge } from './badge.util';
import { selectLocalized } from './i18n.selector';
import type { JPushNotification, JPushOptions } from './jpush.types';
import { checkPayloadSize, type PayloadTooLarge } from './payload-size.check';

export type ApnsPushType =
  | 'alert'
  | 'background'
  | 'voip'
  | 'liveactivity'
  | 'complication'
  | 'fileprovider'
  | 'mdm'
  | 'location'
  | 'pushtotalk';

/** One APNs request, ready to send: the headers Herald sets and the exact body bytes. */
export interface ApnsRequest {
  pushType: ApnsPushType;
  topic: string;
  priority: 10 | 5 | 1;
  /** Epoch seconds; 0 asks APNs to try once and not store the notification. */
  expiration?: number;
  collapseId?: string;
  payload: Record<string, unknown>;
  body: string;
}

/**
 * The key that carries Herald's message id in every APNs payload (and FCM `data`, and gateway
 * extras): the client SDK reads it to report receipts and clicks. Extras cannot override it.
 */
export const MESSAGE_ID_KEY = '_hmid';

export const DEFAULT_TIME_TO_LIVE_S = 86_400;

export interface ApnsBuildContext {
  messageId: string;
  bundleId: string;
  /** The clock for `apns-expiration`, injected so the builder stays pure. */
  nowMs: number;
  /** The device's lower-cased BCP 47 tag, for `notification.i18n`. */
  language?: string;
  /** The badge Herald keeps for the device, for JPush's `"+N"`. */
  storedBadge?: number;
  options?: JPushOptions;
}

export type ApnsBuildResult =
  { ok: true; request: ApnsRequest; badge?: number } | { ok: false; error: PayloadTooLarge };

/** JPush notification → the APNs request for one device (the alert, or the VoIP notification). */
export function buildApnsRequest(
  notification: JPushNotification,
  ctx: ApnsBuildContext,
  kind: 'alert' | 'voip' = 'alert',
): ApnsBuildResult {
  const common = {
    expiration: expirationFor(ctx),
    collapseId: collapseIdFor(ctx),
  };
  if (kind === 'voip') {
    const payload: Record<string, unknown> = { ...withoutReserved(notification.voip) };
    payload[MESSAGE_ID_KEY] = ctx.messageId;
    return finish(
      { pushType: 'voip', topic: `${ctx.bundleId}.voip`, priority: 10, ...common, payload },
      'apns_voip',
    );
  }

  const ios = notification.ios ?? {};
  const badge = nextBadge(ios.badge, ctx.storedBadge ?? 0);
  const alert = alertFor(notification, ctx.language);
  const visible = alert !== undefined || ios.sound !== undefined || badge !== undefined;

  const aps: Record<string, unknown> = {};
  if (alert !== undefined) aps.alert = alert;
  if (badge !== undefined) aps.badge = badge;
  if (ios.sound !== undefined) aps.sound = ios.sound;
  if (ios['thread-id'] !== undefined) aps['thread-id'] = ios['thread-id'];
  if (ios.category !== undefined) aps.category = ios.category;
  // A push with nothing to show is a background push, which only means something with content-available.
  if (ios['content-available'] || !visible) aps['content-available'] = 1;
  if (ios['mutable-content']) aps['mutable-content'] = 1;
  if (ios['interruption-level'] !== undefined) aps['interruption-level'] = ios['interruption-level'];
  if (ios['relevance-score'] !== undefined) aps['relevance-score'] = ios['relevance-score'];
  if (ios['target-content-id'] !== undefined) aps['target-content-id'] = ios['target-content-id'];

  const payload: Record<string, unknown> = { aps, ...withoutReserved(ios.extras) };
  payload[MESSAGE_ID_KEY] = ctx.messageId;
  const result = finish(
    {
      pushType: visible ? 'alert' : 'background',
      topic: ctx.bundleId,
      // Apple rejects priority 10 on background pushes and throttles them anyway.
      priority: visible ? 10 : 5,
      ...common,
      payload,
    },
    'apns',
  );
  return result.ok ? { ...result, badge } : result;
}

function alertFor(
  n: JPushNotification,
  language: string | undefined,
): string | Record<string, unknown> | undefined {
  const localized = selectLocalized(n.i18n, language);
  const base = n.ios?.alert ?? n.alert;
  if (!localized) return base;
  const body = localized.alert ?? (typeof base === 'string' ? base : undefined);
  const fromObject = typeof base === 'object' ? { ...base } : {};
  if (localized.title === undefined && Object.keys(fromObject).length === 0) return body;
  const out: Record<string, unknown> = { ...fromObject };
  if (localized.title !== undefined) out.title = localized.title;
  if (body !== undefined) out.body = body;
  return out;
}

function expirationFor(ctx: ApnsBuildContext): number {
  const ttl = ctx.options?.time_to_live ?? DEFAULT_TIME_TO_LIVE_S;
  return ttl === 0 ? 0 : Math.floor(ctx.nowMs / 1000) + ttl;
}

/**
 * Without an explicit `apns_collapse_id`, the collapse id is derived from the message id (or the id
 * it overrides), so a retry that APNs already accepted replaces the first copy instead of doubling it.
 */
function collapseIdFor(ctx: ApnsBuildContext): string {
  const explicit = ctx.options?.apns_collapse_id;
  if (explicit) return explicit;
  const override = ctx.options?.override_msg_id;
  return `h${override !== undefined ? String(override) : ctx.messageId}`;
}

function withoutReserved(extras: Record<string, unknown> | undefined): Record<string, unknown> {
  if (!extras) return {};
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(extras)) if (k !== 'aps' && k !== MESSAGE_ID_KEY) out[k] = v;
  return out;
}

function finish(request: Omit<ApnsRequest, 'body'>, channel: 'apns' | 'apns_voip'): ApnsBuildResult {
  const body = JSON.stringify(request.payload);
  const error = checkPayloadSize(channel, body);
  if (error) return { ok: false, error };
  return { ok: true, request: { ...request, body } };
}
