import { parsePage } from './audience.scanner';

/** One record as PostgreSQL builds it (see RECORD in audience.scanner.ts). */
const field = (v: string | null) => (v === null ? '-1\x1f' : `${[...v].length}\x1f${v}`);
const record = (
  id: string,
  token: string | null,
  language: string | null = 'en',
  { channel = 'apns', env = 'production', badge = '5', timezone = null as string | null } = {},
) =>
  [
    `${id}\x1f${channel}\x1f${env}\x1f${badge}\x1f`,
    field(`rid-${id}`),
    '\x1f',
    field('ios'),
    '\x1f',
    field(language),
    '\x1f',
    field(timezone),
    '\x1f',
    field(token),
  ].join('');

describe('parsePage', () => {
  it('reads records back to back, a token holding separators and digits included', () => {
    const page = record('7', 'a\x1f3\x1fb') + record('12', null, null);
    expect(parsePage(page)).toEqual([
      {
        id: '7',
        registrationId: 'rid-7',
        channel: 'apns',
        platform: 'ios',
        token: 'a\x1f3\x1fb',
        apnsEnvironment: 'production',
        language: 'en',
        badge: 5,
        timezone: null,
      },
      {
        id: '12',
        registrationId: 'rid-12',
        channel: 'apns',
        platform: 'ios',
        token: null,
        apnsEnvironment: 'production',
        language: null,
        badge: 5,
        timezone: null,
      },
    ]);
  });

  it('counts code points, not UTF-16 units, where a field holds characters outside the BMP', () => {
    const devices = parsePage(record('1', '😀\x1f9😀') + record('2', 'x'));
    expect(devices.map((d) => d.token)).toEqual(['😀\x1f9😀', 'x']);
  });

  it('puts a page that arrived out of id order back in order (ids compare as numbers)', () => {
    const devices = parsePage(record('100', 'c') + record('9', 'a') + record('10', 'b'));
    expect(devices.map((d) => d.id)).toEqual(['9', '10', '100']);
  });

  it('reads an empty page as no devices and refuses a truncated one', () => {
    expect(parsePage(null)).toEqual([]);
    expect(parsePage('')).toEqual([]);
    expect(() => parsePage('7\x1fapns')).toThrow(/truncated/);
  });

  it('reads every channel, environment and badge, and takes a value equal to the previous one for what it is', () => {
    const page =
      record('1', 't', 'zh-cn', { channel: 'gateway', env: '', badge: '0', timezone: 'Asia/Shanghai' }) +
      record('2', 't', 'zh-cn', { channel: 'fcm', env: '', badge: '-3', timezone: 'Asia/Shanghai' }) +
      record('3', 't', 'zh-tw', {
        channel: 'apns',
        env: 'sandbox',
        badge: '12345',
        timezone: 'Asia/Shangha',
      }) +
      // A value the reader has no constant for is read as written.
      record('4', 't', 'zh', { channel: 'other', env: 'staging', badge: '7', timezone: null });
    expect(
      parsePage(page).map((d) => [d.channel, d.apnsEnvironment, d.badge, d.language, d.timezone]),
    ).toEqual([
      ['gateway', null, 0, 'zh-cn', 'Asia/Shanghai'],
      ['fcm', null, -3, 'zh-cn', 'Asia/Shanghai'],
      ['apns', 'sandbox', 12345, 'zh-tw', 'Asia/Shangha'],
      ['other', 'staging', 7, 'zh', null],
    ]);
  });

  it('never takes a previous value outside the BMP for a longer one that starts with it', () => {
    // '😀' is one code point in two UTF-16 units: as long, in units, as the next value's 2 code points.
    const page = record('1', 't', '😀') + record('2', 't', '😀x') + record('3', 't', '😀x');
    expect(parsePage(page).map((d) => d.language)).toEqual(['😀', '😀x', '😀x']);
  });

  it('refuses a page whose numbers are not numbers, or whose last value runs past its end', () => {
    expect(() => parsePage(record('1', 't', 'en', { badge: 'x' }))).toThrow(/not a number/);
    expect(() => parsePage(record('1', 't', 'en', { badge: '' }))).toThrow(/not a number/);
    expect(() => parsePage(record('1', 'token').slice(0, -2))).toThrow(/truncated/);
  });
});
