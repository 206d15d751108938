import { buildFcmDataMessage, buildFcmNotification } from './fcm-payload.builder';

describe('FCM builders', () => {
  it('maps a JPush notification to an HTTP v1 message with string data, byte for byte', () => {
    const result = buildFcmNotification(
      'tok',
      {
        alert: 'common',
        android: {
          title: 'Title',
          channel_id: 'news',
          sound: 'ding',
          big_pic_path: 'https://img.example/p.png',
          extras: { n: 1, s: 'two', o: { a: [1] }, _hmid: 'spoofed' },
        },
        i18n: { 'en-gb': { alert: 'Hello', title: 'Hi' } },
      },
      { messageId: '1000000042', language: 'en-gb', options: { time_to_live: 60 } },
    );
    if (!result.ok) throw new Error(result.error.message);
    expect(JSON.stringify(result.message)).toBe(
      '{"token":"tok","notification":{"title":"Hi","body":"Hello"},"data":{"n":"1","s":"two","o":"{\\"a\\":[1]}","_hmid":"1000000042"},"android":{"priority":"high","ttl":60000,"notification":{"channelId":"news","sound":"ding","imageUrl":"https://img.example/p.png"}}}',
    );
  });

  it('uses normal priority for quiet notifications and data-only messages', () => {
    const quiet = buildFcmNotification('tok', { alert: 'a', android: { priority: -1 } }, { messageId: '1' });
    expect(quiet.ok && quiet.message.android?.priority).toBe('normal');
    const data = buildFcmDataMessage(
      'tok',
      { msg_content: 'body', title: 't', content_type: 'text', extras: { k: true } },
      { messageId: '7', collapseKey: 'c' },
    );
    if (!data.ok) throw new Error('unexpected');
    expect(JSON.stringify(data.message)).toBe(
      '{"token":"tok","data":{"k":"true","msg_content":"body","title":"t","content_type":"text","_hmid":"7"},"android":{"priority":"normal","ttl":86400000,"collapseKey":"c"}}',
    );
  });

  it('refuses a message over 4096 bytes, naming fcm', () => {
    expect(buildFcmDataMessage('tok', { msg_content: 'x'.repeat(4100) }, { messageId: '1' })).toMatchObject({
      ok: false,
      error: { channel: 'fcm', limit: 4096 },
    });
  });
});
