import { HeraldError } from '@herald/common';
import { parsePushRequest } from './push-request.parser';
import type { PushSpec } from './push.types';

/** The appKey of JPush's documentation examples (its cid is `8103a4c628a0b98974ec1949-<uuid>`). */
const APP_KEY = '8103a4c628a0b98974ec1949';
const CID = `${APP_KEY}-711261d4-5f17-4d2f-a855-5e5a8909b26e`;

function thrown(fn: () => unknown): HeraldError {
  try {
    fn();
  } catch (err) {
    if (err instanceof HeraldError) return err;
    throw err;
  }
  throw new Error('expected a HeraldError');
}

const parse = (body: unknown) => parsePushRequest(body, { appKey: APP_KEY });
/** A minimal valid push with `patch` merged in at the top level. */
const push = (patch: Record<string, unknown>) =>
  parse({ platform: 'all', audience: 'all', notification: { alert: 'hi' }, ...patch });
const withOptions = (options: unknown) => push({ options });
const withIos = (ios: Record<string, unknown>) => push({ notification: { ios } });
const withAndroid = (android: Record<string, unknown>) => push({ notification: { android } });
const errorOf = (body: Record<string, unknown>) => thrown(() => push(body));

/** Fails on `undefined` anywhere and on anything JSON would not give back unchanged. */
function expectJsonSafe(spec: PushSpec): void {
  const walk = (v: unknown, path: string): void => {
    if (v === undefined) throw new Error(`undefined at ${path}`);
    if (typeof v === 'object' && v !== null) for (const [k, x] of Object.entries(v)) walk(x, `${path}.${k}`);
  };
  walk(spec, 'spec');
  expect(JSON.parse(JSON.stringify(spec))).toEqual(spec);
}

describe('parsePushRequest: JPush documentation examples are accepted unchanged', () => {
  // rest_api_v3_push.md, "请求示例" (the curl body).
  it('the curl example', () => {
    const spec = parse({
      platform: 'all',
      audience: 'all',
      notification: {
        alert: 'Hi,JPush !',
        android: { extras: { 'android-key1': 'android-value1' } },
        ios: { sound: 'sound.caf', badge: '+1', extras: { 'ios-key1': 'ios-value1' } },
      },
    });
    expect(spec).toEqual({
      platform: 'all',
      audience: { all: true },
      notification: {
        alert: 'Hi,JPush !',
        android: { extras: { 'android-key1': 'android-value1' } },
        ios: { sound: 'sound.caf', badge: '+1', extras: { 'ios-key1': 'ios-value1' } },
      },
      options: { sendno: '0', time_to_live: 86_400 },
    });
    expectJsonSafe(spec);
  });

  // "示例与说明" (the doc's JSON has a missing comma after "thread-id" and a trailing one in "intent").
  it('the full example with cid, sms_message and options', () => {
    const spec = parse({
      cid: CID,
      platform: 'all',
      audience: { tag: ['深圳', '北京'] },
      notification: {
        android: {
          alert: 'Hi, JPush!',
          title: 'Send to Android',
          builder_id: 1,
          large_icon: 'http://www.jiguang.cn/largeIcon.jpg',
          intent: {
            url: 'intent:#Intent;component=com.jiguang.push/com.example.jpushdemo.SettingActivity;end',
          },
          extras: { newsid: 321 },
        },
        ios: {
          alert: 'Hi, JPush!',
          sound: 'default',
          badge: '+1',
          'thread-id': 'default',
          extras: { newsid: 321 },
        },
      },
      message: { msg_content: 'Hi,JPush', content_type: 'text', title: 'msg', extras: { key: 'value' } },
      sms_message: { temp_id: 1250, temp_para: { code: '123456' }, delay_time: 3600, active_filter: false },
      options: { time_to_live: 60, apns_production: false, apns_collapse_id: 'jiguang_test_201706011100' },
    });
    expect(spec).toEqual({
      platform: 'all',
      audience: { all: false, tag: ['深圳', '北京'] },
      notification: {
        android: {
          alert: 'Hi, JPush!',
          title: 'Send to Android',
          builder_id: 1,
          large_icon: 'http://www.jiguang.cn/largeIcon.jpg',
          extras: { newsid: 321 },
        },
        ios: {
          alert: 'Hi, JPush!',
          sound: 'default',
          badge: '+1',
          'thread-id': 'default',
          extras: { newsid: 321 },
        },
      },
      message: { msg_content: 'Hi,JPush', content_type: 'text', title: 'msg', extras: { key: 'value' } },
      options: {
        sendno: '0',
        time_to_live: 60,
        apns_production: false,
        apns_collapse_id: 'jiguang_test_201706011100',
      },
      cid: CID,
    });
    expectJsonSafe(spec);
  });

  it('the broadcast example (an empty "android" next to the common alert)', () => {
    const spec = parse({
      platform: 'all',
      audience: 'all',
      notification: { alert: 'Hi, JPush!', android: {}, ios: { extras: { newsid: 321 } } },
    });
    expect(spec.notification).toEqual({ alert: 'Hi, JPush!', android: {}, ios: { extras: { newsid: 321 } } });
  });

  it.each([
    [{ tag: ['深圳', '广州', '北京'] }],
    [{ tag_and: ['深圳', '女'] }],
    [{ alias: ['4314', '892', '4531'] }],
    [{ registration_id: ['4312kjklfds2', '8914afd2', '45fdsa31'] }],
    [{ tag: ['深圳', '广州'], tag_and: ['女', '会员'] }],
  ])('the audience example %j', (audience) => {
    expect(
      parse({ platform: ['android', 'ios'], audience, notification: { alert: 'Hello, JPush!' } }).audience,
    ).toEqual({ all: false, ...audience });
  });

  it('the android example (style, alert_type, inbox, big_pic_path, priority, category, intent)', () => {
    const spec = withAndroid({
      alert: 'hello, JPush!',
      title: 'JPush test',
      builder_id: 3,
      style: 1,
      alert_type: 1,
      big_text: 'big text content',
      inbox: { line1: 'first' },
      big_pic_path: 'picture url',
      priority: 0,
      category: 'category str',
      large_icon: 'http://www.jiguang.cn/largeIcon.jpg',
      intent: { url: 'intent:#Intent;component=com.jiguang.push/com.example.jpushdemo.SettingActivity;end' },
      extras: { news_id: 134, my_key: 'a value' },
    });
    // inbox and intent are JPush SDK features Herald's payloads do not carry: accepted, then dropped.
    expect(spec.notification!.android).toEqual({
      alert: 'hello, JPush!',
      title: 'JPush test',
      builder_id: 3,
      style: 1,
      alert_type: 1,
      big_text: 'big text content',
      big_pic_path: 'picture url',
      priority: 0,
      category: 'category str',
      large_icon: 'http://www.jiguang.cn/largeIcon.jpg',
      extras: { news_id: 134, my_key: 'a value' },
    });
  });

  it('the iOS example (badge as a number)', () => {
    const ios = {
      alert: 'hello, JPush!',
      sound: 'sound.caf',
      badge: 1,
      extras: { news_id: 134, my_key: 'a value' },
    };
    expect(withIos(ios).notification!.ios).toEqual(ios);
  });

  it('the winphone example is understood, and answered 1011: Herald reaches no Windows Phone device', () => {
    const winphone = {
      alert: 'hello, JPush!',
      title: 'Push Test',
      _open_page: '/friends.xaml',
      extras: { news_id: 134, my_key: 'a value' },
    };
    const err = thrown(() => parse({ platform: ['winphone'], audience: 'all', notification: { winphone } }));
    expect(err.jpushCode).toBe(1011);
    // To every platform, too: an empty notification would go out to every other device (it did).
    expect(
      thrown(() => parse({ platform: 'all', audience: 'all', notification: { winphone } })).jpushCode,
    ).toBe(1011);
    // Beside a message, the message is what goes out.
    const spec = parse({
      platform: 'all',
      audience: 'all',
      notification: { winphone },
      message: { msg_content: 'm' },
    });
    expect(spec.notification).toBeUndefined();
    expect(spec.message).toMatchObject({ msg_content: 'm' });
  });

  it('the grouppush curl body', () => {
    const spec = parse({
      platform: ['android'],
      audience: 'all',
      notification: { android: { alert: 'notification content', title: 'notification title' } },
      message: { msg_content: 'message content' },
    });
    expect(spec.message).toEqual({ msg_content: 'message content' });
    expect(spec.notification).toEqual({
      android: { alert: 'notification content', title: 'notification title' },
    });
  });

  it("what JPush's Node client sends (random sendno up to 4294967294, apns_production false)", () => {
    const spec = parse({
      platform: ['android', 'ios'],
      audience: { alias: ['4314'] },
      notification: {
        alert: 'Hi',
        android: { alert: 'Hi android', title: null, builder_id: 1 },
        ios: { alert: null, sound: 'sound.caf', badge: 5 },
      },
      options: { sendno: 4_294_967_294, time_to_live: 60, apns_production: false },
    });
    expect(spec.options).toEqual({ sendno: '4294967294', time_to_live: 60, apns_production: false });
    expect(spec.notification!.ios).toEqual({ sound: 'sound.caf', badge: 5 });
    expect(spec.notification!.android).toEqual({ alert: 'Hi android', builder_id: 1 });
  });

  it("what JPush's Java client sends (badge and sound defaults, content-available: 1, subtitle)", () => {
    const spec = withIos({
      alert: 'Hi',
      badge: '+1',
      sound: '',
      'content-available': 1,
      'mutable-content': 1,
      subtitle: 'sub',
    });
    expect(spec.notification!.ios).toEqual({
      alert: { body: 'Hi', subtitle: 'sub' },
      badge: '+1',
      sound: '',
      'content-available': true,
      'mutable-content': true,
    });
  });
});

describe('parsePushRequest: the envelope', () => {
  it.each([null, [], 'push', 42])('refuses a body that is not an object (%j) with 1003', (body) => {
    expect(thrown(() => parse(body))).toMatchObject({ code: 'invalid_parameter', jpushCode: 1003 });
  });

  it('takes platform and audience errors from parsePushTarget', () => {
    expect(thrown(() => parse({ audience: 'all', notification: { alert: 'x' } }))).toMatchObject({
      jpushCode: 1002,
      message: expect.stringMatching(/^platform/),
    });
    expect(thrown(() => parse({ platform: 'all', notification: { alert: 'x' } }))).toMatchObject({
      jpushCode: 1002,
      message: expect.stringMatching(/^audience/),
    });
    expect(
      thrown(() => parse({ platform: 'all', audience: { tag: ['a b'] }, notification: { alert: 'x' } })),
    ).toMatchObject({ jpushCode: 1003 });
  });

  it('needs a notification or a message (1002)', () => {
    const err = thrown(() => parse({ platform: 'all', audience: 'all', options: { time_to_live: 60 } }));
    expect(err).toMatchObject({
      code: 'missing_parameter',
      jpushCode: 1002,
      message: 'notification or message is required',
    });
    expect(thrown(() => parse({ platform: 'all', audience: 'all', notification: null }))).toMatchObject({
      jpushCode: 1002,
    });
  });

  it('refuses a Live Activity alone (1003): Herald cannot deliver it', () => {
    expect(
      thrown(() => parse({ platform: ['ios'], audience: 'all', live_activity: { ios: {} } })),
    ).toMatchObject({
      jpushCode: 1003,
      message: expect.stringMatching(/^live_activity/),
    });
  });

  it('accepts and leaves out what JPush clients send but Herald cannot deliver', () => {
    const spec = push({
      message: { msg_content: 'x', alternate_title: 't', alternate_content: 'c' },
      notification: { alert: 'hi', alternate_alert: 'hey', hmos: { alert: 'x' }, quickapp: { alert: 'y' } },
      sms_message: { content: 'sms msg content', delay_time: 3600 },
      notification_3rd: { title: 't', content: 'c' },
      inapp_message: { inapp_message: true },
      options: {
        third_party_channel: { xiaomi: { distribution: 'ospush' } },
        classification: 1,
        target_event: ['jg_app_show'],
      },
    });
    expect(spec).toEqual({
      platform: 'all',
      audience: { all: true },
      notification: { alert: 'hi' },
      message: { msg_content: 'x' },
      options: { sendno: '0', time_to_live: 86_400 },
    });
  });

  it('ignores unknown top-level fields, as JPush does', () => {
    expect(push({ request_id: 'abc', whatever: { a: 1 } })).toEqual(push({}));
  });

  it('refuses a NUL character (U+0000) anywhere in what is stored, naming the field (1003)', () => {
    const cases: [Record<string, unknown>, string][] = [
      [{ notification: { alert: 'a\u0000' } }, 'notification.alert'],
      [{ notification: { ios: { alert: { title: 't\u0000' } } } }, 'notification.ios.alert.title'],
      [
        { notification: { android: { alert: 'x', extras: { list: ['ok', 'b\u0000'] } } } },
        'notification.android.extras.list[1]',
      ],
      [{ message: { msg_content: 'x', extras: { 'k\u0000': 1 } } }, 'message.extras'],
      [{ callback: { url: 'https://example.com/cb', params: { p: 'v\u0000' } } }, 'callback.params.p'],
    ];
    for (const [body, field] of cases) {
      const err = errorOf(body);
      expect([err.jpushCode, err.message]).toEqual([1003, expect.stringContaining(`${field}:`)]);
      expect(err.message).toContain('U+0000');
    }
    // Ignored top-level fields are not stored, so they are not looked at.
    expect(push({ whatever: 'a\u0000' })).toEqual(push({}));
  });

  it('copies extras: the spec does not change when the request object does', () => {
    const extras = { a: { b: 1 } };
    const spec = push({ notification: { android: { extras } } });
    extras.a.b = 2;
    expect(spec.notification!.android!.extras).toEqual({ a: { b: 1 } });
  });
});

describe('parsePushRequest: notification', () => {
  it('refuses an empty notification and one that is not an object (1003)', () => {
    expect(errorOf({ notification: {} })).toMatchObject({
      jpushCode: 1003,
      message: expect.stringMatching(/^notification:/),
    });
    expect(errorOf({ notification: 'hi' })).toMatchObject({ jpushCode: 1003 });
  });

  it('answers 1009 for an unsupported key, naming it (JPush: build_id, content_available, …)', () => {
    expect(errorOf({ notification: { alert: 'x', title: 'y' } })).toMatchObject({
      code: 'unknown_field',
      jpushCode: 1009,
      message: 'notification: unsupported key "title"',
    });
    expect(thrown(() => withAndroid({ alert: 'x', build_id: 1 }))).toMatchObject({
      jpushCode: 1009,
      message: 'notification.android: unsupported key "build_id"',
    });
    expect(thrown(() => withIos({ alert: 'x', content_available: true }))).toMatchObject({
      jpushCode: 1009,
      message: 'notification.ios: unsupported key "content_available"',
    });
  });

  it('checks alert types, naming the field path (1003)', () => {
    expect(errorOf({ notification: { alert: 5 } })).toMatchObject({
      jpushCode: 1003,
      message: 'notification.alert: must be a string',
    });
    expect(thrown(() => withAndroid({ alert: ['x'] }))).toMatchObject({
      message: 'notification.android.alert: must be a string',
    });
    expect(thrown(() => withIos({ alert: 7 }))).toMatchObject({
      jpushCode: 1003,
      message: /^notification\.ios\.alert/,
    });
  });

  it('accepts empty alerts (JPush: an empty alert shows nothing) and an APNs alert object', () => {
    expect(push({ notification: { alert: '' } }).notification).toEqual({ alert: '' });
    const alert = { title: 'T', subtitle: 'S', body: 'B', 'loc-key': 'K', 'loc-args': ['a'] };
    expect(withIos({ alert }).notification!.ios!.alert).toEqual(alert);
  });

  it('keeps voip as given', () => {
    expect(push({ notification: { voip: { caller: 'Ann', n: 1 } } }).notification).toEqual({
      voip: { caller: 'Ann', n: 1 },
    });
    expect(errorOf({ notification: { voip: 'ring' } })).toMatchObject({
      jpushCode: 1003,
      message: /^notification\.voip/,
    });
  });

  it.each([
    [{ extras: [1, 2] }, 'notification.android.extras'],
    [{ extras: 'x' }, 'notification.android.extras'],
    [{ priority: 3 }, 'notification.android.priority'],
    [{ priority: -3 }, 'notification.android.priority'],
    [{ priority: 1.5 }, 'notification.android.priority'],
    [{ style: 4 }, 'notification.android.style'],
    [{ alert_type: 8 }, 'notification.android.alert_type'],
    [{ alert_type: -2 }, 'notification.android.alert_type'],
    [{ builder_id: -1 }, 'notification.android.builder_id'],
    [{ builder_id: '1' }, 'notification.android.builder_id'],
    [{ channel_id: 'c'.repeat(1001) }, 'notification.android.channel_id'],
    [{ inbox: 'x' }, 'notification.android.inbox'],
    [{ badge_add_num: 100 }, 'notification.android.badge_add_num'],
    [{ display_foreground: 1 }, 'notification.android.display_foreground'],
    [{ title: 3 }, 'notification.android.title'],
  ])('android %j → 1003 naming %s', (android, field) => {
    const err = thrown(() => withAndroid({ alert: 'x', ...android }));
    expect(err).toMatchObject({ code: 'invalid_parameter', jpushCode: 1003 });
    expect(err.message.startsWith(`${field}:`)).toBe(true);
  });

  it('accepts the android ranges at their bounds', () => {
    const android = { alert: 'x', priority: -2, style: 3, alert_type: -1, channel_id: 'c'.repeat(1000) };
    expect(withAndroid(android).notification!.android).toEqual(android);
    expect(
      withAndroid({ alert: 'x', priority: 2, style: 0, alert_type: 7 }).notification!.android,
    ).toMatchObject({
      priority: 2,
      style: 0,
      alert_type: 7,
    });
  });

  it('needs intent.url when intent is given (1002)', () => {
    expect(thrown(() => withAndroid({ alert: 'x', intent: {} }))).toMatchObject({
      code: 'missing_parameter',
      jpushCode: 1002,
      message: 'notification.android.intent.url is required',
    });
  });

  describe('ios.badge', () => {
    it.each([
      [0, 0],
      [5, 5],
      [99_999, 99_999],
      ['5', 5],
      ['0', 0],
      ['', 0],
      ['+1', '+1'],
      ['-3', '-3'],
      ['+007', '+7'],
      [' +2 ', '+2'],
      ['+99999', '+99999'],
      ['-99999', '-99999'],
    ])('%j → %j', (badge, expected) => {
      expect(withIos({ alert: 'x', badge }).notification!.ios!.badge).toEqual(expected);
    });

    it.each([100_000, -1, 1.5, '100000', '+100000', '-1000000', 'abc', '+', '1+', '+1.5', true, {}, [1]])(
      '%j → 1003',
      (badge) => {
        expect(thrown(() => withIos({ alert: 'x', badge }))).toMatchObject({
          jpushCode: 1003,
          message: expect.stringMatching(/^notification\.ios\.badge:/),
        });
      },
    );

    it('absent or null leaves the badge alone', () => {
      expect(withIos({ alert: 'x', badge: null }).notification!.ios).toEqual({ alert: 'x' });
    });
  });

  it('reads content-available / mutable-content as booleans', () => {
    expect(withIos({ 'content-available': true, 'mutable-content': 0 }).notification!.ios).toEqual({
      'content-available': true,
      'mutable-content': false,
    });
    expect(thrown(() => withIos({ 'content-available': 'yes' }))).toMatchObject({
      jpushCode: 1003,
      message: /^notification\.ios\.content-available/,
    });
    expect(thrown(() => withIos({ 'mutable-content': 2 }))).toMatchObject({ jpushCode: 1003 });
  });

  it('accepts a critical-alert sound object and checks it', () => {
    expect(
      withIos({ alert: 'x', sound: { critical: 1, name: 'alarm.caf', volume: 0.5 } }).notification!.ios!
        .sound,
    ).toEqual({
      critical: 1,
      name: 'alarm.caf',
      volume: 0.5,
    });
    expect(withIos({ alert: 'x', sound: { critical: true } }).notification!.ios!.sound).toEqual({
      critical: 1,
    });
    expect(thrown(() => withIos({ alert: 'x', sound: { volume: 2 } }))).toMatchObject({ jpushCode: 1003 });
    expect(thrown(() => withIos({ alert: 'x', sound: { critical: 3 } }))).toMatchObject({ jpushCode: 1003 });
    expect(thrown(() => withIos({ alert: 'x', sound: { loud: true } }))).toMatchObject({ jpushCode: 1009 });
    expect(thrown(() => withIos({ alert: 'x', sound: 5 }))).toMatchObject({ jpushCode: 1003 });
  });

  it('checks interruption-level and relevance-score', () => {
    expect(
      withIos({ alert: 'x', 'interruption-level': 'time-sensitive', 'relevance-score': 0.7 }).notification!
        .ios,
    ).toEqual({
      alert: 'x',
      'interruption-level': 'time-sensitive',
      'relevance-score': 0.7,
    });
    expect(thrown(() => withIos({ alert: 'x', 'interruption-level': 'urgent' }))).toMatchObject({
      jpushCode: 1003,
    });
    expect(thrown(() => withIos({ alert: 'x', 'relevance-score': 1.5 }))).toMatchObject({ jpushCode: 1003 });
  });

  it('folds a legacy ios.subtitle into the alert object, over the common alert when ios has none', () => {
    expect(push({ notification: { alert: 'common', ios: { subtitle: 's' } } }).notification!.ios).toEqual({
      alert: { body: 'common', subtitle: 's' },
    });
    expect(withIos({ alert: { title: 't' }, subtitle: 's' }).notification!.ios).toEqual({
      alert: { title: 't', subtitle: 's' },
    });
  });
});

describe('parsePushRequest: notification.i18n (Herald)', () => {
  it('lower-cases tags and reads Android locales (zh_CN) as BCP 47', () => {
    const spec = push({
      notification: {
        alert: 'Hello',
        i18n: {
          'zh-Hans-CN': { alert: '你好' },
          en_GB: { title: 'Hi', alert: 'Hello' },
          de: { title: 'Hallo' },
        },
      },
    });
    expect(spec.notification!.i18n).toEqual({
      'zh-hans-cn': { alert: '你好' },
      'en-gb': { title: 'Hi', alert: 'Hello' },
      de: { title: 'Hallo' },
    });
  });

  it("reads languages as devices' are stored (canonical): Android's in, iw and tl are id, he and fil", () => {
    const spec = push({
      notification: {
        alert: 'x',
        i18n: { in: { alert: 'Halo' }, iw_IL: { alert: 'שלום' }, tl: { alert: 'Kumusta' } },
      },
    });
    expect(Object.keys(spec.notification!.i18n!)).toEqual(['id', 'he-il', 'fil']);
    // Two spellings of one language are one language.
    expect(
      errorOf({ notification: { alert: 'x', i18n: { in: { alert: 'a' }, id: { alert: 'b' } } } }),
    ).toMatchObject({
      jpushCode: 1003,
    });
  });

  it.each([
    [{ 'not a tag': { alert: 'x' } }, 1003],
    [{ zh: { alert: 'x' }, ZH: { alert: 'y' } }, 1003],
    [{ zh: {} }, 1003],
    [{ zh: 'x' }, 1003],
    [{ zh: { alert: 5 } }, 1003],
    [{ zh: { body: 'x' } }, 1009],
    [[{ zh: 'x' }], 1003],
  ])('refuses %j with %i', (i18n, code) => {
    expect(errorOf({ notification: { alert: 'x', i18n } })).toMatchObject({
      jpushCode: code,
      message: expect.stringMatching(/^notification\.i18n/),
    });
  });

  it('allows at most 100 languages', () => {
    const many = (n: number) =>
      Object.fromEntries(Array.from({ length: n }, (_, i) => [`en-r${i}`, { alert: 'a' }]));
    expect(Object.keys(push({ notification: { i18n: many(100) } }).notification!.i18n!)).toHaveLength(100);
    expect(errorOf({ notification: { i18n: many(101) } })).toMatchObject({ jpushCode: 1003 });
  });
});

describe('parsePushRequest: message', () => {
  it('keeps the four fields JPush documents', () => {
    const message = { msg_content: 'c', title: 't', content_type: 'text', extras: { k: [1, { v: true }] } };
    expect(parse({ platform: ['android'], audience: 'all', message }).message).toEqual(message);
  });

  it('needs msg_content (1002) as a string (1003), with no unknown keys (1009)', () => {
    const base = { platform: 'all', audience: 'all' };
    expect(thrown(() => parse({ ...base, message: { title: 't' } }))).toMatchObject({
      jpushCode: 1002,
      message: 'message.msg_content is required',
    });
    expect(thrown(() => parse({ ...base, message: { msg_content: 1 } }))).toMatchObject({ jpushCode: 1003 });
    expect(thrown(() => parse({ ...base, message: { msg_content: 'x', body: 'y' } }))).toMatchObject({
      jpushCode: 1009,
    });
    expect(thrown(() => parse({ ...base, message: 'x' }))).toMatchObject({ jpushCode: 1003 });
  });
});

describe('parsePushRequest: options', () => {
  it('defaults: sendno "0", time_to_live 86400, nothing else', () => {
    expect(push({}).options).toEqual({ sendno: '0', time_to_live: 86_400 });
    expect(withOptions(null).options).toEqual({ sendno: '0', time_to_live: 86_400 });
    expect(withOptions({}).options).toEqual({ sendno: '0', time_to_live: 86_400 });
  });

  it.each([0, 1, 86_400, 864_000])('time_to_live %i is accepted', (ttl) => {
    expect(withOptions({ time_to_live: ttl }).options.time_to_live).toBe(ttl);
  });

  it.each([-1, 864_001, 1.5, '60', true])('time_to_live %j → 1003', (ttl) => {
    expect(thrown(() => withOptions({ time_to_live: ttl }))).toMatchObject({
      jpushCode: 1003,
      message: 'options.time_to_live: must be an integer from 0 to 864000',
    });
  });

  it('keeps sendno as its decimal string', () => {
    expect(withOptions({ sendno: 18 }).options.sendno).toBe('18');
    expect(withOptions({ sendno: '18' }).options.sendno).toBe('18');
    expect(withOptions({ sendno: -5 }).options.sendno).toBe('-5');
    for (const bad of [1.5, 'abc', 2 ** 53, {}]) {
      expect(thrown(() => withOptions({ sendno: bad }))).toMatchObject({
        jpushCode: 1003,
        message: /^options\.sendno/,
      });
    }
  });

  it('reads override_msg_id as a msg_id below 2^53', () => {
    expect(withOptions({ override_msg_id: 1_828_256_757 }).options.override_msg_id).toBe('1828256757');
    expect(withOptions({ override_msg_id: '9007199254740991' }).options.override_msg_id).toBe(
      '9007199254740991',
    );
    expect(withOptions({ override_msg_id: 0 }).options).not.toHaveProperty('override_msg_id');
    for (const bad of [2 ** 53, '9007199254740993', -1, '12a', 1.5, true]) {
      expect(thrown(() => withOptions({ override_msg_id: bad }))).toMatchObject({
        jpushCode: 1003,
        message: /^options\.override_msg_id/,
      });
    }
  });

  it('big_push_duration: 0 means absent, at most 1400', () => {
    expect(withOptions({ big_push_duration: 0 }).options).not.toHaveProperty('big_push_duration');
    expect(withOptions({ big_push_duration: 1400 }).options.big_push_duration).toBe(1400);
    expect(thrown(() => withOptions({ big_push_duration: 1401 }))).toMatchObject({ jpushCode: 1003 });
    expect(thrown(() => withOptions({ big_push_duration: -1 }))).toMatchObject({ jpushCode: 1003 });
  });

  it('apns_collapse_id: at most 64 UTF-8 bytes; empty means absent', () => {
    expect(withOptions({ apns_collapse_id: 'c'.repeat(64) }).options.apns_collapse_id).toHaveLength(64);
    expect(withOptions({ apns_collapse_id: '' }).options).not.toHaveProperty('apns_collapse_id');
    expect(withOptions({ apns_collapse_id: '深'.repeat(21) }).options.apns_collapse_id).toBe('深'.repeat(21)); // 63 bytes
    expect(thrown(() => withOptions({ apns_collapse_id: '深'.repeat(22) }))).toMatchObject({
      jpushCode: 1003,
      message: 'options.apns_collapse_id: must be at most 64 UTF-8 bytes (got 66)',
    });
    expect(thrown(() => withOptions({ apns_collapse_id: 'c'.repeat(65) }))).toMatchObject({
      jpushCode: 1003,
    });
  });

  it('apns_production is a boolean', () => {
    expect(withOptions({ apns_production: true }).options.apns_production).toBe(true);
    expect(thrown(() => withOptions({ apns_production: 'true' }))).toMatchObject({ jpushCode: 1003 });
  });

  it('throttle_per_minute (Herald) is a positive integer', () => {
    expect(withOptions({ throttle_per_minute: 600 }).options.throttle_per_minute).toBe(600);
    for (const bad of [0, -1, 1.5, '600']) {
      expect(thrown(() => withOptions({ throttle_per_minute: bad }))).toMatchObject({ jpushCode: 1003 });
    }
  });

  it('refuses an unknown option (1009) and options that are not an object (1003)', () => {
    expect(thrown(() => withOptions({ time_to_lve: 60 }))).toMatchObject({
      jpushCode: 1009,
      message: 'options: unsupported key "time_to_lve"',
    });
    expect(thrown(() => withOptions([1]))).toMatchObject({ jpushCode: 1003 });
  });
});

describe('parsePushRequest: cid', () => {
  it('accepts {appKey}-{uuid} and lower-cases the uuid', () => {
    expect(push({ cid: CID }).cid).toBe(CID);
    expect(push({ cid: CID.toUpperCase().replace(APP_KEY.toUpperCase(), APP_KEY) }).cid).toBe(CID);
  });

  it.each([
    'abc',
    `${APP_KEY}-not-a-uuid`,
    `${APP_KEY}711261d4-5f17-4d2f-a855-5e5a8909b26e`,
    `aaaaaaaaaaaaaaaaaaaaaaaa-711261d4-5f17-4d2f-a855-5e5a8909b26e`,
    `${APP_KEY.toUpperCase()}-711261d4-5f17-4d2f-a855-5e5a8909b26e`,
    '',
    12,
  ])('refuses %j with 1003', (cid) => {
    expect(errorOf({ cid })).toMatchObject({ jpushCode: 1003, message: expect.stringMatching(/^cid:/) });
  });
});

describe('parsePushRequest: callback', () => {
  it('keeps url, params and type', () => {
    const callback = { url: 'https://example.com/jpush?x=1', params: { name: 'joe', n: [1] }, type: 3 };
    expect(push({ callback }).callback).toEqual(callback);
    expect(push({ callback: { url: 'http://10.0.0.1:8080/cb' } }).callback).toEqual({
      url: 'http://10.0.0.1:8080/cb',
    });
  });

  it.each([
    [{}, 1002, 'callback.url is required'],
    [{ url: 'ftp://example.com/x' }, 1003, 'callback.url: must be an http or https URL'],
    [{ url: 'example.com/x' }, 1003, 'callback.url: must be an http or https URL'],
    [{ url: 42 }, 1003, 'callback.url: must be a string'],
    [
      { url: `https://example.com/${'a'.repeat(2048)}` },
      1003,
      'callback.url: must be at most 2048 characters',
    ],
    [{ url: 'https://example.com', type: 4 }, 1003, expect.stringMatching(/^callback\.type/)],
    [{ url: 'https://example.com', params: 'x' }, 1003, 'callback.params: must be a JSON object'],
    [{ url: 'https://example.com', signing_key: 'k' }, 1009, 'callback: unsupported key "signing_key"'],
    ['https://example.com', 1003, 'callback: must be a JSON object'],
  ])('refuses callback case %#', (callback, code, message) => {
    expect(errorOf({ callback })).toMatchObject({ jpushCode: code, message });
  });

  it.each([1, 2, 3, 8, 9, 10, 11])('type %i is a valid event mask', (type) => {
    expect(push({ callback: { url: 'https://e.com', type } }).callback!.type).toBe(type);
  });
});
