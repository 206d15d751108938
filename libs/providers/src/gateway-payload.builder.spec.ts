import { buildGatewayMessageBody, buildGatewayNotificationBody } from './gateway-payload.builder';

describe('gateway body builders', () => {
  it('carries the Android notification fields, localised', () => {
    const r = buildGatewayNotificationBody(
      {
        alert: 'common',
        android: { title: 'T', builder_id: 2, extras: { k: 'v' } },
        i18n: { zh: { alert: '你好' } },
      },
      { language: 'zh-hant-tw' },
    );
    if (!r.ok) throw new Error('unexpected');
    expect(r.json).toBe('{"alert":"你好","title":"T","builder_id":2,"extras":{"k":"v"}}');
  });

  it('carries a custom message as msg_content/title/content_type/extras', () => {
    const r = buildGatewayMessageBody({ msg_content: 'hi', content_type: 'text', extras: { a: 1 } });
    expect(r.ok && r.json).toBe('{"msg_content":"hi","content_type":"text","extras":{"a":1}}');
  });

  it('refuses a body the 64 KiB frame could not carry', () => {
    expect(buildGatewayMessageBody({ msg_content: 'x'.repeat(70_000) })).toMatchObject({
      ok: false,
      error: { channel: 'gateway' },
    });
  });
});
