import { parsePage } from './audience.scanner';

/** One record as PostgreSQL builds it (see RECORD in audience.scanner.ts). */
const field = (v: string | null) => (v === null ? '-1\x1f' : `${[...v].length}\x1f${v}`);
const record = (id: string, token: string | null, language: string | null = 'en') =>
  [
    `${id}\x1fapns\x1fproduction\x1f5\x1f`,
    field(`rid-${id}`),
    '\x1f',
    field('ios'),
    '\x1f',
    field(language),
    '\x1f',
    field(null),
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
});
