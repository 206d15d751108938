import { HeraldError } from '@herald/common';
import {
  isValidAlias,
  isValidTag,
  parseAudience,
  parseFilter,
  parsePlatform,
  parsePushTarget,
} from './audience.parser';

/** The HeraldError a call throws, so tests can check its code, JPush code and message. */
function thrown(fn: () => unknown): HeraldError {
  try {
    fn();
  } catch (err) {
    if (err instanceof HeraldError) return err;
    throw err;
  }
  throw new Error('expected a HeraldError');
}

const deep = (depth: number): unknown => (depth === 1 ? { tag: ['a'] } : { not: deep(depth - 1) });

describe('isValidTag / isValidAlias (JPush character set, ≤ 40 UTF-8 bytes)', () => {
  it.each(['vip', 'VIP_2', '深圳', '女会员', 'a@b', 'x!#$&*+=.|￥', '𠀀'])('accepts %s', (s) => {
    expect(isValidTag(s)).toBe(true);
    expect(isValidAlias(s)).toBe(true);
  });

  it.each(['', 'a b', 'a-b', 'a/b', 'a%b', 'é', 'tag😀', 'a,b', "a'b"])('refuses %j', (s) => {
    expect(isValidTag(s)).toBe(false);
    expect(isValidAlias(s)).toBe(false);
  });

  it('counts UTF-8 bytes, not characters', () => {
    expect(isValidTag('a'.repeat(40))).toBe(true);
    expect(isValidTag('a'.repeat(41))).toBe(false);
    expect(isValidTag('深'.repeat(13) + 'a')).toBe(true); // 39 + 1 bytes
    expect(isValidTag('深'.repeat(14))).toBe(false); // 42 bytes, 14 characters
    expect(isValidTag('￥'.repeat(14))).toBe(false);
  });
});

describe('parsePlatform', () => {
  it('accepts "all" and lists of JPush platforms', () => {
    expect(parsePlatform('all')).toBe('all');
    expect(parsePlatform(['ios', 'android', 'ios'])).toEqual(['ios', 'android']);
  });

  it('answers 1002 when missing and 1003 for anything else', () => {
    expect(thrown(() => parsePlatform(undefined))).toMatchObject({
      code: 'missing_parameter',
      jpushCode: 1002,
    });
    for (const bad of ['ios', [], ['IOS'], ['blackberry'], [1], {}]) {
      expect(thrown(() => parsePlatform(bad))).toMatchObject({ code: 'invalid_parameter', jpushCode: 1003 });
    }
  });
});

describe('parseAudience', () => {
  it('accepts "all" and each JPush key, de-duplicating values', () => {
    expect(parseAudience('all')).toEqual({ all: true });
    expect(
      parseAudience({
        tag: ['深圳', '广州', '深圳'],
        tag_and: ['女', '会员'],
        tag_not: ['x@y'],
        alias: ['4314'],
        registration_id: ['1a0018970a7d3c8d4ec'],
        segment: ['5B1E1F2A-0000-4000-8000-000000000001'],
      }),
    ).toEqual({
      all: false,
      tag: ['深圳', '广州'],
      tag_and: ['女', '会员'],
      tag_not: ['x@y'],
      alias: ['4314'],
      registration_id: ['1a0018970a7d3c8d4ec'],
      segment: ['5b1e1f2a-0000-4000-8000-000000000001'],
    });
  });

  it('treats an empty array as an absent key, as JPush does', () => {
    expect(parseAudience({ tag: [], alias: ['a'] })).toEqual({ all: false, alias: ['a'] });
  });

  it('refuses an audience with no target (1003), and a missing one (1002)', () => {
    for (const bad of [{}, { tag: [] }, { tag: [], tag_and: [], alias: [] }]) {
      const err = thrown(() => parseAudience(bad));
      expect(err).toMatchObject({ code: 'invalid_parameter', jpushCode: 1003 });
      expect(err.message).toMatch(/no target/);
    }
    expect(thrown(() => parseAudience(undefined))).toMatchObject({ jpushCode: 1002 });
  });

  it('accepts a filter alone (api.md) and tag_not alone', () => {
    expect(parseAudience({ filter: { country: ['cn'] } })).toEqual({
      all: false,
      filter: { country: ['CN'] },
    });
    expect(parseAudience({ tag_not: ['a'] })).toEqual({ all: false, tag_not: ['a'] });
  });

  it('names the offending key and value', () => {
    const err = thrown(() => parseAudience({ tag: ['ok', 'not ok'] }));
    expect(err).toMatchObject({ jpushCode: 1003 });
    expect(err.message).toContain('audience.tag[1]');
    expect(err.message).toContain('"not ok"');
    expect(thrown(() => parseAudience({ alias: [''] })).message).toContain('audience.alias[0]');
    expect(thrown(() => parseAudience({ tag: 'vip' })).message).toContain('audience.tag');
  });

  it('applies JPush limits: 20 tags per key, 1000 aliases and registration ids, 40 bytes', () => {
    const tags = (n: number) => Array.from({ length: n }, (_, i) => `t${i}`);
    expect(parseAudience({ tag: tags(20) }).tag).toHaveLength(20);
    for (const key of ['tag', 'tag_and', 'tag_not']) {
      expect(thrown(() => parseAudience({ [key]: tags(21) })).message).toMatch(/at most 20/);
    }
    expect(parseAudience({ alias: tags(1000) }).alias).toHaveLength(1000);
    expect(thrown(() => parseAudience({ alias: tags(1001) }))).toMatchObject({ jpushCode: 1003 });
    expect(thrown(() => parseAudience({ registration_id: tags(1001) }))).toMatchObject({ jpushCode: 1003 });
    expect(thrown(() => parseAudience({ alias: ['a'.repeat(41)] })).message).toMatch(/40 UTF-8 bytes/);
  });

  it('answers 1009 for an unknown key and 1003 for abtest and bad segment ids', () => {
    expect(thrown(() => parseAudience({ tags: ['a'] }))).toMatchObject({
      code: 'unknown_field',
      jpushCode: 1009,
    });
    expect(thrown(() => parseAudience({ abtest: ['1'] }))).toMatchObject({ jpushCode: 1003 });
    expect(thrown(() => parseAudience({ segment: ['not-a-uuid'] }))).toMatchObject({ jpushCode: 1003 });
    expect(thrown(() => parseAudience({ registration_id: ['has space'] }))).toMatchObject({
      jpushCode: 1003,
    });
    expect(thrown(() => parseAudience(['all']))).toMatchObject({ jpushCode: 1003 });
  });

  it('parsePushTarget combines both', () => {
    expect(parsePushTarget({ platform: ['ios'], audience: 'all' })).toEqual({
      platform: ['ios'],
      audience: { all: true },
    });
  });
});

describe('parseFilter', () => {
  it('normalises leaves', () => {
    expect(
      parseFilter({
        and: [
          { language: ['zh_CN', 'EN', 'zh-cn'] },
          { country: ['cn'] },
          { app_version: { gte: '2.1', lt: ' 3 ' } },
          { or: [{ last_active: { within_days: 30 } }, { not: { channel: ['gateway'] } }] },
          { city: [' Shenzhen '] },
        ],
      }),
    ).toEqual({
      and: [
        { language: ['zh-cn', 'en'] },
        { country: ['CN'] },
        { app_version: { gte: '2.1', lt: '3' } },
        { or: [{ last_active: { within_days: 30 } }, { not: { channel: ['gateway'] } }] },
        { city: ['Shenzhen'] },
      ],
    });
  });

  it('allows depth 8 and 50 leaves, refuses 9 and 51', () => {
    expect(() => parseFilter(deep(8))).not.toThrow();
    expect(thrown(() => parseFilter(deep(9))).message).toMatch(/deeper than 8/);
    const leaves = (n: number) => ({ or: Array.from({ length: n }, (_, i) => ({ tag: [`t${i}`] })) });
    expect(() => parseFilter(leaves(50))).not.toThrow();
    expect(thrown(() => parseFilter(leaves(51))).message).toMatch(/more than 50 leaves/);
  });

  it("canonicalises languages as a device registration does: Android's deprecated codes, script and region", () => {
    expect(parseFilter({ language: ['in', 'in_ID', 'iw', 'tl', 'ji', 'sh', 'mo', 'sh_RS'] })).toEqual({
      language: ['id', 'id-id', 'he', 'fil', 'yi', 'sr-latn', 'ro', 'sr-latn-rs'],
    });
    // Two spellings of one language are one value.
    expect(parseFilter({ language: ['id', 'IN', 'zh-Hans-CN', 'zh_hans_cn'] })).toEqual({
      language: ['id', 'zh-hans-cn'],
    });
    // BCP 47-shaped but not a tag Intl.Locale takes: kept lower-cased, as before (it matches no device).
    expect(parseFilter({ language: ['QQ-X1'] })).toEqual({ language: ['qq-x1'] });
  });

  it.each([2.1, 3, 0])('refuses the JSON number %j as an app_version, naming the field', (v) => {
    // 2.10 arrives as 2.1: a number cannot say which version was meant.
    const err = thrown(() => parseFilter({ and: [{ app_version: { gte: '1', lt: v } }] }, 'audience.filter'));
    expect(err.jpushCode).toBe(1003);
    expect(err.message).toMatch(/^audience\.filter\.and\[0\]\.app_version\.lt: must be a version string/);
  });

  it('allows 1000 values per leaf and refuses 1001', () => {
    const values = (n: number) => Array.from({ length: n }, (_, i) => `t${i}`);
    expect(() => parseFilter({ tag: values(1000) })).not.toThrow();
    expect(thrown(() => parseFilter({ tag: values(1001) }))).toMatchObject({ jpushCode: 1003 });
  });

  it.each([
    [{}, 1003, /exactly one key/],
    [{ tag: ['a'], alias: ['b'] }, 1003, /exactly one key/],
    [{ tags: ['a'] }, 1009, /unknown key "tags"/],
    [{ and: [] }, 1003, /non-empty array/],
    [{ or: {} }, 1003, /non-empty array/],
    [{ tag: [] }, 1003, /must not be empty/],
    [{ not: { language: [] } }, 1003, /must not be empty/],
    [{ language: ['not a language'] }, 1003, /BCP 47/],
    [{ country: ['CHN'] }, 1003, /alpha-2/],
    [{ channel: ['sms'] }, 1003, /apns, fcm, gateway/],
    [{ platform: ['symbian'] }, 1003, /android, ios/],
    [{ app_version: {} }, 1003, /at least one/],
    [{ app_version: { gte: 'latest' } }, 1003, /version/],
    [{ app_version: { since: '1' } }, 1009, /unknown key "since"/],
    [{ last_active: { within_days: 0 } }, 1003, /whole number/],
    [{ last_active: { within_days: 1.5 } }, 1003, /whole number/],
    [{ last_active: { within_days: 1, not_within_days: 2 } }, 1003, /exactly one/],
    [{ last_active: { days: 1 } }, 1009, /unknown key/],
    [{ province: [''] }, 1003, /non-empty string/],
    ['tag', 1003, /must be an object/],
  ])('refuses %j with %i', (filter, jpushCode, message) => {
    const err = thrown(() => parseFilter(filter, 'audience.filter'));
    expect(err.jpushCode).toBe(jpushCode);
    expect(err.message).toMatch(message);
    expect(err.message).toMatch(/^audience\.filter/);
  });

  it('names the path of a nested offender', () => {
    const err = thrown(() =>
      parseFilter(
        { and: [{ tag: ['a'] }, { or: [{ country: ['CN'] }, { tag: ['a b'] }] }] },
        'audience.filter',
      ),
    );
    expect(err.message).toContain('audience.filter.and[1].or[1].tag[0]');
  });
});
