import { buildApnsRequest, type ApnsBuildContext } from './apns-payload.builder';

const ctx: ApnsBuildContext = {
  messageId: '1000000042',
  bundleId: 'com.herald.demo',
  nowMs: 1_763_800_000_000,
};

function ok(result: ReturnType<typeof buildApnsRequest>) {
  if (!result.ok) throw new Error(result.error.message);
  return result;
}

describe('buildApnsRequest', () => {
  it('builds an alert with title, sound, badge, thread, extras and the message id, byte for byte', () => {
    const { request, badge } = ok(
      buildApnsRequest(
        {
          alert: 'common',
          ios: {
            alert: 'Hello',
            sound: 'default',
            badge: '+2',
            'thread-id': 'news',
            category: 'reply',
            'mutable-content': true,
            'interruption-level': 'time-sensitive',
            extras: { article: 7, aps: 'ignored', _hmid: 'ignored' },
          },
          i18n: { zh: { title: '标题', alert: '你好' } },
        },
        { ...ctx, language: 'zh-hans-cn', storedBadge: 3, options: { time_to_live: 600 } },
      ),
    );
    expect(request.body).toBe(
      '{"aps":{"alert":{"title":"标题","body":"你好"},"badge":5,"sound":"default","thread-id":"news","category":"reply","mutable-content":1,"interruption-level":"time-sensitive"},"article":7,"_hmid":"1000000042"}',
    );
    expect(badge).toBe(5);
    expect(request).toMatchObject({
      pushType: 'alert',
      topic: 'com.herald.demo',
      priority: 10,
      expiration: 1_763_800_600,
      collapseId: 'h1000000042',
    });
  });

  it('falls back to the platform alert, then the common alert, when no language matches', () => {
    expect(
      ok(
        buildApnsRequest(
          { alert: 'common', i18n: { fr: { alert: 'salut' } } },
          { ...ctx, language: 'de-de' },
        ),
      ).request.body,
    ).toBe('{"aps":{"alert":"common"},"_hmid":"1000000042"}');
    expect(ok(buildApnsRequest({ alert: 'common', ios: { alert: 'ios' } }, ctx)).request.body).toBe(
      '{"aps":{"alert":"ios"},"_hmid":"1000000042"}',
    );
  });

  it('makes a push with nothing to show a background push at priority 5', () => {
    const { request } = ok(
      buildApnsRequest({ ios: { 'content-available': true, extras: { sync: true } } }, ctx),
    );
    expect(request.body).toBe('{"aps":{"content-available":1},"sync":true,"_hmid":"1000000042"}');
    expect(request.pushType).toBe('background');
    expect(request.priority).toBe(5);
  });

  it('sends VoIP on the .voip topic with the JPush voip keys at the top level', () => {
    const { request } = ok(buildApnsRequest({ voip: { caller: 'ada' } }, ctx, 'voip'));
    expect(request.body).toBe('{"caller":"ada","_hmid":"1000000042"}');
    expect(request).toMatchObject({ pushType: 'voip', topic: 'com.herald.demo.voip', priority: 10 });
  });

  it('honours time_to_live 0, apns_collapse_id and override_msg_id', () => {
    expect(
      ok(buildApnsRequest({ alert: 'x' }, { ...ctx, options: { time_to_live: 0 } })).request.expiration,
    ).toBe(0);
    expect(
      ok(buildApnsRequest({ alert: 'x' }, { ...ctx, options: { apns_collapse_id: 'score' } })).request
        .collapseId,
    ).toBe('score');
    expect(
      ok(buildApnsRequest({ alert: 'x' }, { ...ctx, options: { override_msg_id: 99 } })).request.collapseId,
    ).toBe('h99');
  });

  it('refuses a payload over 4096 bytes (5120 for VoIP) naming the channel', () => {
    const big = 'x'.repeat(4100);
    const alert = buildApnsRequest({ alert: big }, ctx);
    expect(alert).toMatchObject({
      ok: false,
      error: { code: 'payload_too_large', channel: 'apns', limit: 4096 },
    });
    expect(buildApnsRequest({ voip: { d: 'x'.repeat(4500) } }, ctx, 'voip').ok).toBe(true);
    expect(buildApnsRequest({ voip: { d: 'x'.repeat(5200) } }, ctx, 'voip')).toMatchObject({
      ok: false,
      error: { channel: 'apns_voip', limit: 5120 },
    });
  });
});
