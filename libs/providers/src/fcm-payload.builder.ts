import type { TokenMessage } from 'firebase-admin/messaging';
import { DEFAULT_TIME_TO_LIVE_S, MESSAGE_ID_KEY } from './apns-payload.builder';
import { selectLocalized } from './i18n.selector';
import type { Extras, JPushMessage, JPushNotification, JPushOptions } from './jpush.types';
import { checkPayloadSize, type PayloadTooLarge } from './payload-size.check';

export type FcmMessage = TokenMessage;

export interface FcmBuildContext {
  messageId: string;
  language?: string;
  options?: JPushOptions;
  /** Only when the caller wants replacement semantics: FCM keeps at most four collapse keys per device. */
  collapseKey?: string;
}

export type FcmBuildResult = { ok: true; message: FcmMessage } | { ok: false; error: PayloadTooLarge };

/** JPush notification → an FCM HTTP v1 notification message for one token. */
export function buildFcmNotification(
  token: string,
  notification: JPushNotification,
  ctx: FcmBuildContext,
): FcmBuildResult {
  const android = notification.android ?? {};
  const localized = selectLocalized(notification.i18n, ctx.language);
  const title = localized?.title ?? android.title;
  const body = localized?.alert ?? android.alert ?? notification.alert;

  const androidNotification: NonNullable<NonNullable<FcmMessage['android']>['notification']> = {};
  if (android.channel_id !== undefined) androidNotification.channelId = android.channel_id;
  if (android.sound !== undefined) androidNotification.sound = android.sound;
  if (android.big_pic_path !== undefined && /^https?:\/\//.test(android.big_pic_path)) {
    androidNotification.imageUrl = android.big_pic_path;
  }

  const message: FcmMessage = {
    token,
    notification: { ...(title !== undefined && { title }), ...(body !== undefined && { body }) },
    data: stringData(android.extras, { [MESSAGE_ID_KEY]: ctx.messageId }),
    android: {
      // JPush's negative priorities are "quiet"; everything else is a notification the user should see now.
      priority: (android.priority ?? 0) < 0 ? 'normal' : 'high',
      ttl: ttlMs(ctx.options),
      ...(ctx.collapseKey !== undefined && { collapseKey: ctx.collapseKey }),
      ...(Object.keys(androidNotification).length > 0 && { notification: androidNotification }),
    },
  };
  return finish(message);
}

/** JPush custom message → an FCM data-only message (the app decides what to show). */
export function buildFcmDataMessage(token: string, msg: JPushMessage, ctx: FcmBuildContext): FcmBuildResult {
  const own: Record<string, string> = { msg_content: msg.msg_content };
  if (msg.title !== undefined) own.title = msg.title;
  if (msg.content_type !== undefined) own.content_type = msg.content_type;
  own[MESSAGE_ID_KEY] = ctx.messageId;
  return finish({
    token,
    data: stringData(msg.extras, own),
    android: {
      // High priority for messages that show nothing gets an app deprioritised by FCM.
      priority: 'normal',
      ttl: ttlMs(ctx.options),
      ...(ctx.collapseKey !== undefined && { collapseKey: ctx.collapseKey }),
    },
  });
}

/** FCM `data` holds strings only: non-strings travel as JSON, Herald's own keys win over extras. */
function stringData(extras: Extras | undefined, own: Record<string, string>): Record<string, string> {
  const data: Record<string, string> = {};
  if (extras) {
    for (const [k, v] of Object.entries(extras)) {
      if (v === undefined || k in own) continue;
      data[k] = typeof v === 'string' ? v : JSON.stringify(v);
    }
  }
  return Object.assign(data, own);
}

function ttlMs(options: JPushOptions | undefined): number {
  return (options?.time_to_live ?? DEFAULT_TIME_TO_LIVE_S) * 1000;
}

/** FCM counts the message without its target, so the token is left out of the measured bytes. */
function finish(message: FcmMessage): FcmBuildResult {
  const { token: _token, ...rest } = message;
  const error = checkPayloadSize('fcm', JSON.stringify(rest));
  return error ? { ok: false, error } : { ok: true, message };
}
