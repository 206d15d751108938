import { MESSAGE_ID_KEY } from './apns-payload.builder';
import { selectLocalized } from './i18n.selector';
import type { JPushMessage, JPushNotification } from './jpush.types';
import { checkPayloadSize, type PayloadTooLarge } from './payload-size.check';

/** The `body` of a gateway `msg` frame (gateway protocol v1), plus its serialised form. */
export type GatewayBody = Record<string, unknown>;

export type GatewayBuildResult =
  { ok: true; body: GatewayBody; json: string } | { ok: false; error: PayloadTooLarge };

const ANDROID_FIELDS = [
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
] as const;

/**
 * JPush notification → gateway body: the Android notification fields (`alert`, `title`, `extras`, …),
 * localised for the device. The message id travels in the frame's `id`, not in the body.
 */
export function buildGatewayNotificationBody(
  notification: JPushNotification,
  ctx: { language?: string },
): GatewayBuildResult {
  const android = notification.android ?? {};
  const localized = selectLocalized(notification.i18n, ctx.language);
  const body: GatewayBody = {};
  const alert = localized?.alert ?? android.alert ?? notification.alert;
  const title = localized?.title ?? android.title;
  if (alert !== undefined) body.alert = alert;
  if (title !== undefined) body.title = title;
  for (const field of ANDROID_FIELDS) if (android[field] !== undefined) body[field] = android[field];
  if (android.extras !== undefined) body.extras = withoutMessageId(android.extras);
  return finish(body);
}

/** JPush custom message → gateway body `{msg_content, title, content_type, extras}`. */
export function buildGatewayMessageBody(msg: JPushMessage): GatewayBuildResult {
  const body: GatewayBody = { msg_content: msg.msg_content };
  if (msg.title !== undefined) body.title = msg.title;
  if (msg.content_type !== undefined) body.content_type = msg.content_type;
  if (msg.extras !== undefined) body.extras = withoutMessageId(msg.extras);
  return finish(body);
}

function withoutMessageId(extras: Record<string, unknown>): Record<string, unknown> {
  if (!(MESSAGE_ID_KEY in extras)) return extras;
  const { [MESSAGE_ID_KEY]: _dropped, ...rest } = extras;
  return rest;
}

function finish(body: GatewayBody): GatewayBuildResult {
  const json = JSON.stringify(body);
  const error = checkPayloadSize('gateway', json);
  return error ? { ok: false, error } : { ok: true, body, json };
}
