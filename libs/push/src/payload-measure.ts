import { HeraldError } from '@herald/common';
import { PAYLOAD_LIMITS, type FcmMessage, type PayloadChannel } from '@herald/providers';
import { PushComposer, type Composed } from './composer';
import type { PayloadSizes, PushSpec } from './push.types';

/**
 * Placeholders for what a payload depends on but a request does not say. Only the message id and the
 * badge end up in the measured bytes; the rest is named for completeness:
 * - the message id: the longest one Herald issues (a msg_id is below 2^53: 16 digits);
 * - the badge: a stored badge of 99,999 (the clamp), so `"+N"` / `"-N"` produce the widest number;
 * - the bundle id becomes the APNs topic, a header, and the FCM token is left out of FCM's size count,
 *   so neither changes a size; they are realistic anyway in case a builder ever puts them in the body.
 */
export const MEASURE_PLACEHOLDERS = {
  messageId: String(Number.MAX_SAFE_INTEGER),
  badge: 99_999,
  bundleId: 'com.example.herald.app',
  fcmToken: 'f'.repeat(64),
} as const;

const ORDER: readonly PayloadChannel[] = ['apns', 'apns_voip', 'fcm', 'gateway'];

const bytes = (s: string) => Buffer.byteLength(s, 'utf8');

/** The channels a push's `platform` reaches: iOS → APNs, Android → FCM and the gateway. */
function reach(spec: PushSpec): { ios: boolean; android: boolean } {
  if (spec.platform === 'all') return { ios: true, android: true };
  return { ios: spec.platform.includes('ios'), android: spec.platform.includes('android') };
}

/**
 * For each channel the push can reach, the size in bytes of the largest payload a device would get,
 * measured as the provider counts it, over the default content and every `notification.i18n`
 * language. Oversized payloads are measured too (the builders report their size).
 */
export function measurePayloads(spec: PushSpec): PayloadSizes {
  const composer = new PushComposer(spec, MEASURE_PLACEHOLDERS.messageId, 0);
  const { ios, android } = reach(spec);
  const languages: (string | null)[] = [null, ...Object.keys(spec.notification?.i18n ?? {})];
  const sizes: PayloadSizes = {};
  const record = (channel: PayloadChannel, n: number) => {
    sizes[channel] = Math.max(sizes[channel] ?? 0, n);
  };
  const measure = <T>(
    composed: Composed<T> | undefined,
    channel: PayloadChannel,
    size: (value: T) => number,
  ) => {
    if (!composed) return;
    if (composed.ok) record(channel, size(composed.value));
    else record(composed.error.channel, composed.error.bytes);
  };

  for (const language of languages) {
    if (ios) {
      const apnsChannel: PayloadChannel = spec.notification?.voip !== undefined ? 'apns_voip' : 'apns';
      measure(
        composer.apns({ language, badge: MEASURE_PLACEHOLDERS.badge }, MEASURE_PLACEHOLDERS.bundleId),
        apnsChannel,
        (v) => bytes(v.request.body),
      );
    }
    if (android) {
      measure(composer.fcm({ language }, MEASURE_PLACEHOLDERS.fcmToken), 'fcm', fcmBytes);
      measure(composer.gateway({ language }), 'gateway', (v) => bytes(JSON.stringify(v.body)));
    }
  }

  const ordered: PayloadSizes = {};
  for (const channel of ORDER) if (sizes[channel] !== undefined) ordered[channel] = sizes[channel];
  return ordered;
}

/** FCM counts the message without its target, as `buildFcm*` does. */
function fcmBytes(message: FcmMessage): number {
  const { token: _token, ...rest } = message;
  return bytes(JSON.stringify(rest));
}

/**
 * `measurePayloads`, then JPush's 1005 for the first channel (APNs, VoIP, FCM, gateway) whose payload
 * is over the provider's limit. Returns the sizes when everything fits.
 */
export function assertPayloadsFit(spec: PushSpec): PayloadSizes {
  const sizes = measurePayloads(spec);
  for (const channel of ORDER) {
    const size = sizes[channel];
    const limit = PAYLOAD_LIMITS[channel];
    if (size !== undefined && size > limit) {
      throw new HeraldError(
        'payload_too_large',
        `${channel} payload is ${size} bytes; the limit is ${limit}`,
        {
          jpushCode: 1005,
          details: { channel, bytes: size, limit },
        },
      );
    }
  }
  return sizes;
}
