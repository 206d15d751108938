import { onePerDevice, ruleFor, type FeedbackItem } from './feedback-rules';

const item = (over: Partial<FeedbackItem>): FeedbackItem => ({
  deviceId: '1',
  messageId: '1000000001',
  channel: 'apns',
  reason: 'Unregistered',
  ...over,
});

describe('token hygiene rules', () => {
  it.each([
    ['apns', 'Unregistered', 410, 'invalidate'],
    ['apns', 'BadDeviceToken', 400, 'other-environment'],
    ['apns', 'DeviceTokenNotForTopic', 400, 'quarantine'],
    ['apns', 'SomethingNew', 410, 'invalidate'],
    ['apns', 'SomethingNew', 400, 'none'],
    ['fcm', 'UNREGISTERED', 404, 'invalidate'],
    ['fcm', 'SENDER_ID_MISMATCH', 403, 'invalidate'],
    ['fcm', 'INVALID_ARGUMENT', 400, 'invalidate'],
    ['fcm', 'Unregistered', 404, 'none'],
    ['gateway', 'UNREGISTERED', undefined, 'none'],
  ] as const)('%s %s (%s) → %s', (channel, reason, status, rule) => {
    expect(ruleFor({ channel, reason, status })).toBe(rule);
  });

  it('keeps one item per device: the strongest rule, then the latest 410', () => {
    const out = onePerDevice([
      item({ deviceId: '1', reason: 'DeviceTokenNotForTopic', status: 400 }),
      item({ deviceId: '1', reason: 'Unregistered', providerTimestamp: '2025-01-01T00:00:00Z' }),
      item({ deviceId: '1', reason: 'Unregistered', providerTimestamp: '2025-01-02T00:00:00+08:00' }),
      item({ deviceId: '1', reason: 'Unregistered', providerTimestamp: '2025-01-01T12:00:00Z' }),
      item({ deviceId: '2', reason: 'BadDeviceToken' }),
    ]);
    expect(out.map((i) => [i.deviceId, i.reason, i.providerTimestamp])).toEqual([
      ['1', 'Unregistered', '2025-01-02T00:00:00+08:00'],
      ['2', 'BadDeviceToken', undefined],
    ]);
  });
});
