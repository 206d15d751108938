import type { AudienceDevice } from '@herald/audience';
import {
  buildApnsRequest,
  buildFcmDataMessage,
  buildFcmNotification,
  buildGatewayMessageBody,
  buildGatewayNotificationBody,
  type ApnsRequest,
  type FcmMessage,
  type GatewayBody,
  type JPushNotification,
  type PayloadTooLarge,
} from '@herald/providers';
import type { PushSpec } from './push.types';

export type Composed<T> = { ok: true; value: T } | { ok: false; error: PayloadTooLarge };

export interface ComposedApns {
  request: ApnsRequest;
  /** The badge the device shows after this push, when the push sets or adjusts it. */
  badge?: number;
}

export interface ComposedGateway {
  kind: 'notification' | 'message';
  body: GatewayBody;
}

/**
 * What each device of one message receives, per channel (api.md §1):
 * - a `notification` is what APNs, FCM and gateway devices get; `notification.voip` goes to APNs as
 *   VoIP instead of the alert;
 * - a custom `message` alone goes to FCM as data, to the gateway inbox as a message, and to APNs as a
 *   background push carrying `msg_content`;
 * - with both, devices get the notification (one entry per message and device keeps the ledger, the
 *   inbox and the counts one-to-one), and the message's fields travel in its extras.
 *
 * A payload depends on the device only through its language (`notification.i18n`) and its badge
 * (JPush's `"+N"`), so results are cached per (language, badge): a shard of thousands of devices
 * builds a handful of payloads. One composer per message and send time (`nowMs` fixes `apns-expiration`).
 */
export class PushComposer {
  private readonly apnsCache = new Map<string, Composed<ComposedApns>>();
  private readonly fcmCache = new Map<string, Composed<FcmMessage>>();
  private readonly gatewayCache = new Map<string, Composed<ComposedGateway>>();
  private readonly notification: JPushNotification | undefined;

  constructor(
    private readonly spec: PushSpec,
    private readonly messageId: string,
    private readonly nowMs: number,
  ) {
    this.notification = spec.notification ?? backgroundFromMessage(spec);
  }

  /** `undefined` when the push carries nothing for APNs. */
  apns(
    device: Pick<AudienceDevice, 'language' | 'badge'>,
    bundleId: string,
  ): Composed<ComposedApns> | undefined {
    const n = this.notification;
    if (!n) return undefined;
    const badgeMatters = typeof n.ios?.badge === 'string';
    const key = `${bundleId}|${device.language ?? ''}|${badgeMatters ? device.badge : ''}`;
    let hit = this.apnsCache.get(key);
    if (!hit) {
      const r = buildApnsRequest(
        n,
        {
          messageId: this.messageId,
          bundleId,
          nowMs: this.nowMs,
          language: device.language ?? undefined,
          storedBadge: device.badge,
          options: this.spec.options,
        },
        n.voip !== undefined ? 'voip' : 'alert',
      );
      hit = r.ok ? { ok: true, value: { request: r.request, badge: r.badge } } : r;
      this.apnsCache.set(key, hit);
    }
    return hit;
  }

  /** The FCM message for one token; `undefined` when the push carries nothing for FCM. */
  fcm(device: Pick<AudienceDevice, 'language'>, token: string): Composed<FcmMessage> | undefined {
    const { notification, message } = this.spec;
    if (!notification && !message) return undefined;
    const key = device.language ?? '';
    let hit = this.fcmCache.get(key);
    if (!hit) {
      const ctx = {
        messageId: this.messageId,
        language: device.language ?? undefined,
        options: this.spec.options,
        ...(this.spec.options.override_msg_id !== undefined && {
          collapseKey: `h${this.spec.options.override_msg_id}`,
        }),
      };
      const r = notification
        ? buildFcmNotification('', withMessageExtras(notification, this.spec), ctx)
        : buildFcmDataMessage('', message!, ctx);
      hit = r.ok ? { ok: true, value: r.message } : r;
      this.fcmCache.set(key, hit);
    }
    return hit.ok ? { ok: true, value: { ...hit.value, token } } : hit;
  }

  /** `undefined` when the push carries nothing for the gateway. */
  gateway(device: Pick<AudienceDevice, 'language'>): Composed<ComposedGateway> | undefined {
    const { notification, message } = this.spec;
    if (!notification && !message) return undefined;
    const key = notification ? (device.language ?? '') : '';
    let hit = this.gatewayCache.get(key);
    if (!hit) {
      const r = notification
        ? buildGatewayNotificationBody(withMessageExtras(notification, this.spec), {
            language: device.language ?? undefined,
          })
        : buildGatewayMessageBody(message!);
      hit = r.ok ? { ok: true, value: { kind: notification ? 'notification' : 'message', body: r.body } } : r;
      this.gatewayCache.set(key, hit);
    }
    return hit;
  }
}

/** A custom message alone → an APNs background push carrying the message's fields. */
function backgroundFromMessage(spec: PushSpec): JPushNotification | undefined {
  const m = spec.message;
  if (!m) return undefined;
  return {
    ios: {
      'content-available': true,
      extras: {
        ...m.extras,
        msg_content: m.msg_content,
        ...(m.title !== undefined && { title: m.title }),
        ...(m.content_type !== undefined && { content_type: m.content_type }),
      },
    },
  };
}

/** With both a notification and a message, Android devices find the message's fields in the extras. */
function withMessageExtras(n: JPushNotification, spec: PushSpec): JPushNotification {
  const m = spec.message;
  if (!m) return n;
  const android = n.android ?? {};
  return {
    ...n,
    android: {
      ...android,
      extras: {
        ...android.extras,
        msg_content: m.msg_content,
        ...(m.title !== undefined && { msg_title: m.title }),
        ...(m.content_type !== undefined && { content_type: m.content_type }),
        ...m.extras,
      },
    },
  };
}
