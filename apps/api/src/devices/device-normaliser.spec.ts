import {
  normaliseCountry,
  normaliseLanguage,
  normaliseProvince,
  normaliseTimezone,
} from './device-normaliser';

describe('device normalisation', () => {
  it.each([
    ['zh-Hans-CN', { tag: 'zh-hans-cn', language: 'zh', script: 'hans', region: 'cn' }],
    ['en_US', { tag: 'en-us', language: 'en', region: 'us' }],
    ['EN', { tag: 'en', language: 'en' }],
    ['pt-br', { tag: 'pt-br', language: 'pt', region: 'br' }],
    // Android's deprecated codes, canonicalised as the audience parser reads filter values.
    ['in_ID', { tag: 'id-id', language: 'id', region: 'id' }],
    ['sh_RS', { tag: 'sr-latn-rs', language: 'sr', script: 'latn', region: 'rs' }],
  ])('language %s', (input, expected) => {
    expect(normaliseLanguage(input)).toEqual(expected);
  });

  it('rejects what is not a language tag, with the device API code', () => {
    expect(() => normaliseLanguage('not a tag!')).toThrow(/language: .* is not a BCP 47 language tag/);
    let error: unknown;
    try {
      normaliseLanguage('x');
    } catch (err) {
      error = err;
    }
    expect(error).toMatchObject({ code: 'invalid_parameter', jpushCode: 7002 });
  });

  it('upper-cases known ISO countries and rejects others', () => {
    expect(normaliseCountry('cn')).toBe('CN');
    expect(normaliseCountry(' de ')).toBe('DE');
    expect(() => normaliseCountry('XX')).toThrow(/ISO 3166-1/);
    expect(() => normaliseCountry('ZZ')).toThrow(/ISO 3166-1/);
    expect(() => normaliseCountry('CHN')).toThrow(/ISO 3166-1/);
  });

  it('writes province codes as ISO 3166-2 and keeps names', () => {
    expect(normaliseProvince('gd', 'CN')).toBe('CN-GD');
    expect(normaliseProvince('CN-GD', 'CN')).toBe('CN-GD');
    expect(normaliseProvince('us-ca', null)).toBe('US-CA');
    expect(normaliseProvince('Guangdong', 'CN')).toBe('Guangdong');
    expect(() => normaliseProvince('US-CA', 'CN')).toThrow(/not in country CN/);
  });

  it('accepts IANA time zones in canonical form and rejects others', () => {
    expect(normaliseTimezone('Asia/Shanghai')).toBe('Asia/Shanghai');
    expect(normaliseTimezone('UTC')).toBe('UTC');
    expect(() => normaliseTimezone('Mars/Olympus')).toThrow(/IANA time zone/);
  });
});
