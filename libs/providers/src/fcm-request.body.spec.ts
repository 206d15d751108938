import { buildFcmDataMessage, buildFcmNotification, type FcmMessage } from './fcm-payload.builder';
import { FcmRequestBodies } from './fcm-request.body';

function body(message: FcmMessage, bodies = new FcmRequestBodies()): string {
  const r = bodies.bodyFor(message);
  if (!r.ok) throw new Error(r.reason);
  return r.body;
}

describe('FcmRequestBodies', () => {
  it('writes the v1 request for a built notification, exactly', () => {
    const built = buildFcmNotification(
      'tok',
      {
        alert: 'Hello',
        android: {
          title: 'Hi',
          channel_id: 'news',
          sound: 'ding',
          big_pic_path: 'https://img.example/p.png',
          extras: { n: 1 },
        },
      },
      { messageId: '1000000042', options: { time_to_live: 60 }, collapseKey: 'h7' },
    );
    if (!built.ok) throw new Error('payload');
    expect(body(built.message)).toBe(
      '{"message":{"token":"tok","notification":{"title":"Hi","body":"Hello"},"data":{"n":"1","_hmid":"1000000042"},' +
        '"android":{"priority":"high","ttl":"60s","collapse_key":"h7","notification":{"channel_id":"news","sound":"ding","image":"https://img.example/p.png"}}}}',
    );
    // The builder's message is left as it was.
    expect(built.message.android?.ttl).toBe(60_000);
    expect(built.message.android?.collapseKey).toBe('h7');
  });

  it('converts the other fields firebase-admin converts', () => {
    const message: FcmMessage = {
      token: 'tok',
      notification: { imageUrl: 'https://img.example/a.png' },
      android: {
        ttl: 1500,
        restrictedPackageName: 'com.example',
        directBootOk: true,
        notification: {
          clickAction: 'OPEN',
          priority: 'high',
          visibility: 'private',
          eventTimestamp: new Date(Date.UTC(2026, 0, 2, 3, 4, 5)),
          vibrateTimingsMillis: [100, 2000],
          lightSettings: { color: '#FF0000', lightOnDurationMillis: 100, lightOffDurationMillis: 200 },
        },
      },
    };
    expect(JSON.parse(body(message))).toEqual({
      message: {
        token: 'tok',
        notification: { image: 'https://img.example/a.png' },
        android: {
          ttl: '1.500000000s',
          restricted_package_name: 'com.example',
          direct_boot_ok: true,
          notification: {
            click_action: 'OPEN',
            notification_priority: 'PRIORITY_HIGH',
            visibility: 'PRIVATE',
            event_time: '2026-01-02T03:04:05.000Z',
            vibrate_timings: ['0.100000000s', '2s'],
            light_settings: {
              color: { red: 1, green: 0, blue: 0, alpha: 1 },
              light_on_duration: '0.100000000s',
              light_off_duration: '0.200000000s',
            },
          },
        },
      },
    });
  });

  it('reuses the serialised rest for equal parts, and notices when they differ', () => {
    const bodies = new FcmRequestBodies();
    const msg = (token: string, content: string): FcmMessage => {
      const r = buildFcmDataMessage(token, { msg_content: content }, { messageId: '9' });
      if (!r.ok) throw new Error('payload');
      return r.message;
    };
    const a = body(msg('tok-a', 'one'), bodies);
    const b = body(msg('tok-b', 'one'), bodies);
    const c = body(msg('tok-c', 'two'), bodies);
    expect(a).toBe(
      '{"message":{"token":"tok-a","data":{"msg_content":"one","_hmid":"9"},"android":{"priority":"normal","ttl":"86400s"}}}',
    );
    expect(b).toBe(a.replace('tok-a', 'tok-b'));
    expect(c).toBe(a.replace('tok-a', 'tok-c').replace('"one"', '"two"'));
    expect(body({ token: 'x"y' }, bodies)).toBe('{"message":{"token":"x\\"y"}}');
  });

  it.each([
    [{ token: '' }, /one target/],
    [{ token: 't', topic: 'news' }, /one target/],
    [{ token: 't', data: { n: 1 } }, /data must only contain string values/],
    [{ token: 't', android: { ttl: -1 } }, /TTL must be a non-negative/],
    [{ token: 't', android: { notification: { color: 'red' } } }, /#RRGGBB/],
    [{ token: 't', notification: { imageUrl: 'ftp://x' } }, /imageUrl must be a valid URL/],
    [{ token: 't', apns: {} }, /not supported/],
    [{ token: 't', name: 'x' }, /unknown field "name"/],
  ])('refuses %j before sending', (message, reason) => {
    const r = new FcmRequestBodies().bodyFor(message as unknown as FcmMessage);
    expect(r).toEqual({ ok: false, reason: expect.stringMatching(reason) });
  });
});
