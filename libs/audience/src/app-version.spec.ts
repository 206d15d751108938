import { appVersionKey } from './app-version';

/** Sorts versions by their keys, byte-wise (what `COLLATE "C"` does). */
const sortByKey = (versions: string[]) =>
  [...versions].sort((a, b) => {
    const ka = Buffer.from(appVersionKey(a)!);
    const kb = Buffer.from(appVersionKey(b)!);
    return Buffer.compare(ka, kb);
  });

describe('appVersionKey', () => {
  it('has the documented format', () => {
    expect(appVersionKey('1.2.3')).toBe('0000000001.0000000002.0000000003~');
    expect(appVersionKey('1.2.0-beta.11')).toBe('0000000001.0000000002.0000000000-1beta!00000000011');
  });

  it('treats missing parts as 0 and ignores build metadata and a leading v', () => {
    expect(appVersionKey('2')).toBe(appVersionKey('2.0.0'));
    expect(appVersionKey('2.1')).toBe(appVersionKey('2.1.0'));
    expect(appVersionKey('v2.1.0+build.7')).toBe(appVersionKey('2.1.0'));
    expect(appVersionKey(' 2.01.0 ')).toBe(appVersionKey('2.1.0'));
  });

  it('orders as SemVer 2.0.0 §11, including pre-releases before their release', () => {
    const ordered = [
      '0.9.9',
      '1.0.0-0',
      '1.0.0-2',
      '1.0.0-10',
      '1.0.0-alpha',
      '1.0.0-alpha.1',
      '1.0.0-alpha.beta',
      '1.0.0-alpha-x',
      '1.0.0-alphabet',
      '1.0.0-beta',
      '1.0.0-beta.2',
      '1.0.0-beta.11',
      '1.0.0-rc.1',
      '1.0.0',
      '1.0.1',
      '1.2',
      '1.10.0',
      '2.0.0-rc.1',
      '2',
      '10.0.0',
      '9999999999.0.0',
    ];
    const shuffled = [...ordered].reverse();
    shuffled.push(shuffled.shift()!);
    expect(sortByKey(shuffled)).toEqual(ordered);
  });

  it('refuses what is not a version', () => {
    for (const bad of [
      '',
      'abc',
      '1.2.3.4',
      '1..2',
      '1.2.3-',
      '1.2.3-beta..1',
      '12345678901.0.0',
      '1.2.3-12345678901',
      '1.2 beta',
      '-1',
    ])
      expect(appVersionKey(bad)).toBeNull();
  });
});
