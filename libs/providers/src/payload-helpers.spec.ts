import { nextBadge } from './badge.util';
import { selectLocalized } from './i18n.selector';
import { checkPayloadSize } from './payload-size.check';

describe('selectLocalized', () => {
  const i18n = { zh: { alert: 'zh' }, 'zh-Hant': { alert: 'zh-hant' }, 'en-us': { alert: 'en-us' } };
  it.each([
    ['zh-hant-tw', 'zh-hant'],
    ['zh-hans-cn', 'zh'],
    ['en-us', 'en-us'],
    ['EN_US', 'en-us'],
    ['en-gb', undefined],
    ['fr', undefined],
    [undefined, undefined],
  ])('%s → %s', (language, expected) => {
    expect(selectLocalized(i18n, language)?.alert).toBe(expected);
  });
});

describe('nextBadge', () => {
  it.each([
    [undefined, 4, undefined],
    [3, 4, 3],
    ['+1', 4, 5],
    ['-2', 4, 2],
    ['-9', 4, 0],
    ['7', 4, 7],
    ['0', 4, 0],
    ['garbage', 4, undefined],
  ])('badge %s with stored %d → %s', (spec, stored, expected) => {
    expect(nextBadge(spec, stored)).toBe(expected);
  });
});

describe('checkPayloadSize', () => {
  it('counts UTF-8 bytes, not characters', () => {
    expect(checkPayloadSize('apns', '界'.repeat(1365))).toBeUndefined();
    expect(checkPayloadSize('apns', '界'.repeat(1366))).toMatchObject({
      bytes: 4098,
      limit: 4096,
      channel: 'apns',
    });
  });
});
