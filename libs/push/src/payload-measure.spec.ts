import { HeraldError } from '@herald/common';
import { assertPayloadsFit, MEASURE_PLACEHOLDERS, measurePayloads } from './payload-measure';
import { parsePushRequest } from './push-request.parser';

const APP_KEY = '8103a4c628a0b98974ec1949';
const spec = (body: Record<string, unknown>) =>
  parsePushRequest({ platform: 'all', audience: 'all', ...body }, { appKey: APP_KEY });
const bytes = (v: unknown) => Buffer.byteLength(JSON.stringify(v), 'utf8');

function thrown(fn: () => unknown): HeraldError {
  try {
    fn();
  } catch (err) {
    if (err instanceof HeraldError) return err;
    throw err;
  }
  throw new Error('expected a HeraldError');
}

const ID = MEASURE_PLACEHOLDERS.messageId;

describe('measurePayloads', () => {
  it('measures each channel exactly as the provider receives it', () => {
    const sizes = measurePayloads(spec({ notification: { alert: 'hi' } }));
    expect(sizes).toEqual({
      apns: bytes({ aps: { alert: 'hi' }, _hmid: ID }),
      fcm: bytes({
        notification: { body: 'hi' },
        data: { _hmid: ID },
        android: { priority: 'high', ttl: 86_400_000 },
      }),
      gateway: bytes({ alert: 'hi' }),
    });
  });

  it('uses the longest msg_id (16 digits) as the placeholder', () => {
    expect(ID).toBe('9007199254740991');
  });

  it('measures only the channels the platform reaches', () => {
    expect(
      Object.keys(measurePayloads({ ...spec({ notification: { alert: 'x' } }), platform: ['ios'] })),
    ).toEqual(['apns']);
    expect(
      Object.keys(measurePayloads({ ...spec({ notification: { alert: 'x' } }), platform: ['android'] })),
    ).toEqual(['fcm', 'gateway']);
    expect(
      measurePayloads({ ...spec({ notification: { alert: 'x' } }), platform: ['winphone', 'hmos'] }),
    ).toEqual({});
  });

  it('a custom-message-only push to android measures fcm and gateway only', () => {
    const s = parsePushRequest(
      { platform: ['android'], audience: 'all', message: { msg_content: 'hello', extras: { k: 'v' } } },
      { appKey: APP_KEY },
    );
    expect(measurePayloads(s)).toEqual({
      fcm: bytes({
        data: { k: 'v', msg_content: 'hello', _hmid: ID },
        android: { priority: 'normal', ttl: 86_400_000 },
      }),
      gateway: bytes({ msg_content: 'hello', extras: { k: 'v' } }),
    });
  });

  it('a custom message to iOS is measured as the background push APNs gets', () => {
    const s = parsePushRequest(
      { platform: ['ios'], audience: 'all', message: { msg_content: 'hello' } },
      { appKey: APP_KEY },
    );
    expect(measurePayloads(s)).toEqual({
      apns: bytes({ aps: { 'content-available': 1 }, msg_content: 'hello', _hmid: ID }),
    });
  });

  it('notification.voip is measured on apns_voip (limit 5120), not apns', () => {
    const voip = { caller: 'x'.repeat(4500) };
    const s = spec({ notification: { voip } });
    const sizes = measurePayloads(s);
    expect(sizes.apns).toBeUndefined();
    expect(sizes.apns_voip).toBe(bytes({ ...voip, _hmid: ID }));
    expect(sizes.apns_voip).toBeGreaterThan(4096);
    // Over APNs' 4096 but within VoIP's 5120: it fits.
    expect(assertPayloadsFit({ ...s, platform: ['ios'] })).toEqual({ apns_voip: sizes.apns_voip });
  });

  it('measures a relative badge with the widest number a device can end up with', () => {
    const plain = measurePayloads(spec({ notification: { alert: 'x', ios: { badge: 1 } } })).apns!;
    const relative = measurePayloads(spec({ notification: { alert: 'x', ios: { badge: '+1' } } })).apns!;
    expect(relative - plain).toBe(4); // 99999 against 1
  });

  it('takes the largest payload over the default and every i18n language', () => {
    const long = 'ü'.repeat(1000); // 2,000 bytes
    const base = measurePayloads(spec({ notification: { alert: 'short' } }));
    const localized = measurePayloads(
      spec({ notification: { alert: 'short', i18n: { de: { alert: long } } } }),
    );
    expect(localized.apns! - base.apns!).toBe(bytes(long) - bytes('short'));
    expect(localized.gateway! - base.gateway!).toBe(bytes(long) - bytes('short'));
  });
});

describe('assertPayloadsFit', () => {
  it('returns the sizes when everything fits', () => {
    const s = spec({ notification: { alert: 'hi' } });
    expect(assertPayloadsFit(s)).toEqual(measurePayloads(s));
  });

  it('rejects a 5,000-byte alert for apns with 1005, naming the size and the limit', () => {
    const s = spec({ notification: { alert: 'a'.repeat(5000) } });
    const apns = bytes({ aps: { alert: 'a'.repeat(5000) }, _hmid: ID });
    const err = thrown(() => assertPayloadsFit(s));
    expect(err).toMatchObject({
      code: 'payload_too_large',
      jpushCode: 1005,
      status: 400,
      message: `apns payload is ${apns} bytes; the limit is 4096`,
      details: { channel: 'apns', bytes: apns, limit: 4096 },
    });
    expect(measurePayloads(s).apns).toBe(apns);
  });

  it('the same alert to android only fails on fcm', () => {
    const s = spec({ platform: ['android'], notification: { alert: 'a'.repeat(5000) } });
    expect(thrown(() => assertPayloadsFit(s))).toMatchObject({
      jpushCode: 1005,
      message: expect.stringMatching(/^fcm payload is \d+ bytes; the limit is 4096$/),
    });
  });

  it('a payload exactly at the limit fits, one byte more does not', () => {
    const overhead = bytes({ aps: { alert: '' }, _hmid: ID });
    const at = {
      ...spec({ notification: { alert: 'a'.repeat(4096 - overhead) } }),
      platform: ['ios' as const],
    };
    expect(assertPayloadsFit(at)).toEqual({ apns: 4096 });
    const over = {
      ...spec({ notification: { alert: 'a'.repeat(4097 - overhead) } }),
      platform: ['ios' as const],
    };
    expect(thrown(() => assertPayloadsFit(over))).toMatchObject({
      message: 'apns payload is 4097 bytes; the limit is 4096',
    });
  });

  it('an i18n language can make the push too large even when the default alert fits', () => {
    expect(assertPayloadsFit(spec({ notification: { alert: 'Hello' } }))).toBeDefined();
    const s = spec({ notification: { alert: 'Hello', i18n: { 'zh-cn': { alert: '你'.repeat(1500) } } } }); // 4,500 bytes
    expect(thrown(() => assertPayloadsFit(s))).toMatchObject({
      jpushCode: 1005,
      message: expect.stringMatching(/^apns payload is 45\d\d bytes; the limit is 4096$/),
    });
  });
});
