import type { JobPayload } from '@herald/queue';

export type FeedbackItem = JobPayload<'feedback.invalid-tokens'>['items'][number];

/**
 * What an invalid-token outcome does to its device (product.md, token hygiene):
 * - `invalidate`: the provider says the token is dead (APNs 410 `Unregistered`, FCM `UNREGISTERED`,
 *   `SENDER_ID_MISMATCH`, token `INVALID_ARGUMENT`);
 * - `other-environment`: APNs `BadDeviceToken`, usually a sandbox token sent to production or the
 *   reverse; retried once on the other environment when the app can, quarantined otherwise;
 * - `quarantine`: APNs `DeviceTokenNotForTopic` (a token of another app or bundle: kept, not deleted);
 * - `none`: anything else (never expected: the fan-out only reports `invalid_token` outcomes).
 */
export type FeedbackRule = 'invalidate' | 'other-environment' | 'quarantine' | 'none';

const FCM_INVALID = new Set(['UNREGISTERED', 'SENDER_ID_MISMATCH', 'INVALID_ARGUMENT']);

export function ruleFor(item: Pick<FeedbackItem, 'channel' | 'reason' | 'status'>): FeedbackRule {
  if (item.channel === 'apns') {
    if (item.reason === 'Unregistered' || item.status === 410) return 'invalidate';
    if (item.reason === 'BadDeviceToken') return 'other-environment';
    if (item.reason === 'DeviceTokenNotForTopic') return 'quarantine';
    return 'none';
  }
  if (item.channel === 'fcm' && FCM_INVALID.has(item.reason)) return 'invalidate';
  return 'none';
}

const STRENGTH: Record<FeedbackRule, number> = {
  invalidate: 3,
  'other-environment': 2,
  quarantine: 1,
  none: 0,
};

/**
 * One item per device: a job may report a device twice (a retried page); the strongest rule wins,
 * and among 410s the latest provider timestamp (the most recent proof the token is dead).
 */
export function onePerDevice(items: readonly FeedbackItem[]): FeedbackItem[] {
  const best = new Map<string, FeedbackItem>();
  for (const item of items) {
    const seen = best.get(item.deviceId);
    if (!seen) {
      best.set(item.deviceId, item);
      continue;
    }
    const a = STRENGTH[ruleFor(item)];
    const b = STRENGTH[ruleFor(seen)];
    if (a > b || (a === b && time(item.providerTimestamp) > time(seen.providerTimestamp))) {
      best.set(item.deviceId, item);
    }
  }
  return [...best.values()];
}

function time(iso: string | undefined): number {
  return iso === undefined ? 0 : Date.parse(iso);
}
