import { createHmac } from 'node:crypto';
import {
  ALPHANUMERIC,
  deriveAlphanumeric,
  generateAppKey,
  generateDeviceSecret,
  generateMasterSecret,
  generateRegistrationId,
  generateToken,
  isAppKey,
} from './secret.generator';

const ALPHANUMERIC_CHARS = '0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz';
const LOWER_ALPHANUMERIC_CHARS = '0123456789abcdefghijklmnopqrstuvwxyz';

/**
 * Every symbol must land within ±10% of its expected count. With 200k samples that tolerance is
 * over 5 standard deviations (no flakes in practice), yet `byte % alphabet.length` without
 * rejection over-represents some symbols by 12-21% and fails.
 */
function expectUniform(generate: () => string, alphabet: string, totalChars: number): void {
  const counts = new Map<string, number>([...alphabet].map((c) => [c, 0]));
  let seen = 0;
  while (seen < totalChars) {
    for (const c of generate()) {
      const count = counts.get(c);
      if (count === undefined) throw new Error(`unexpected character ${JSON.stringify(c)}`);
      counts.set(c, count + 1);
      seen++;
    }
  }
  const expected = seen / alphabet.length;
  const chiSquare = [...counts.values()].reduce((sum, n) => sum + (n - expected) ** 2 / expected, 0);
  for (const [symbol, count] of counts) {
    expect({ symbol, deviation: Math.abs(count - expected) / expected < 0.1 }).toEqual({
      symbol,
      deviation: true,
    });
  }
  // Degrees of freedom are 61 or 35; 2.5x that is far in the tail of a fair generator.
  expect(chiSquare).toBeLessThan(2.5 * (alphabet.length - 1));
}

describe('secret generators', () => {
  it.each([
    ['generateAppKey', generateAppKey, 24],
    ['generateMasterSecret', generateMasterSecret, 24],
    ['generateDeviceSecret', generateDeviceSecret, 32],
  ])('%s yields %i alphanumeric characters', (_name, generate, length) => {
    for (let i = 0; i < 1000; i++) {
      const value = generate();
      expect(value).toHaveLength(length);
      expect(value).toMatch(ALPHANUMERIC);
    }
  });

  it('generateRegistrationId yields 20 characters of [0-9a-z]', () => {
    for (let i = 0; i < 1000; i++) expect(generateRegistrationId()).toMatch(/^[0-9a-z]{20}$/);
  });

  it('app keys satisfy isAppKey and 10k of them are unique', () => {
    const keys = Array.from({ length: 10_000 }, generateAppKey);
    expect(keys.every(isAppKey)).toBe(true);
    expect(new Set(keys).size).toBe(keys.length);
  });

  it('master secrets and device secrets are unique', () => {
    expect(new Set(Array.from({ length: 10_000 }, generateMasterSecret)).size).toBe(10_000);
    expect(new Set(Array.from({ length: 10_000 }, generateDeviceSecret)).size).toBe(10_000);
    expect(new Set(Array.from({ length: 10_000 }, generateRegistrationId)).size).toBe(10_000);
  });

  it('uses all 62 alphanumeric symbols uniformly', () => {
    expectUniform(generateDeviceSecret, ALPHANUMERIC_CHARS, 200_000);
    expectUniform(generateAppKey, ALPHANUMERIC_CHARS, 200_000);
  });

  it('uses all 36 registration-id symbols uniformly', () => {
    expectUniform(generateRegistrationId, LOWER_ALPHANUMERIC_CHARS, 200_000);
  });

  describe('isAppKey', () => {
    it.each([
      '',
      'a'.repeat(23),
      'a'.repeat(25),
      `${'a'.repeat(23)}-`,
      `${'a'.repeat(23)}é`,
      ` ${'a'.repeat(24)}`,
    ])('rejects %j', (value) => expect(isAppKey(value)).toBe(false));

    it('accepts 24 alphanumerics and is not stateful across calls', () => {
      const key = 'aZ09'.repeat(6);
      expect([isAppKey(key), isAppKey(key), isAppKey(key)]).toEqual([true, true, true]);
    });
  });

  describe('generateToken', () => {
    it('is <prefix>_<base64url of 32 random bytes> by default', () => {
      const token = generateToken('hrd_at');
      expect(token).toMatch(/^hrd_at_[A-Za-z0-9_-]{43}$/);
      expect(Buffer.from(token.slice('hrd_at_'.length), 'base64url')).toHaveLength(32);
    });

    it('honours the byte count', () => {
      expect(Buffer.from(generateToken('rt', 48).slice(3), 'base64url')).toHaveLength(48);
    });

    it('is unique', () => {
      expect(new Set(Array.from({ length: 10_000 }, () => generateToken('t'))).size).toBe(10_000);
    });

    it.each(['', '_', 'a_', '_a', 'a__b', 'a.b', 'a b', 'a-b'])('rejects prefix %j', (prefix) => {
      expect(() => generateToken(prefix)).toThrow(RangeError);
    });

    it.each([0, 8, 15, 16.5, Number.NaN])('rejects %d bytes', (bytes) => {
      expect(() => generateToken('t', bytes)).toThrow(RangeError);
    });
  });
});

describe('deriveAlphanumeric', () => {
  const key = Buffer.alloc(32, 1);

  it('is deterministic per key and label, and differs across either', () => {
    const a = deriveAlphanumeric(key, 'app-key');
    expect(a).toMatch(/^[A-Za-z0-9]{24}$/);
    expect(deriveAlphanumeric(key, 'app-key')).toBe(a);
    expect(deriveAlphanumeric(key, 'master-secret')).not.toBe(a);
    expect(deriveAlphanumeric(Buffer.alloc(32, 2), 'app-key')).not.toBe(a);
    expect(deriveAlphanumeric(key, 'password', 16)).toHaveLength(16);
  });

  it('does not key the HMAC with the raw master key', () => {
    const raw = createHmac('sha256', key).update('app-key/0').digest();
    const naive = [...raw]
      .filter((b) => b < 248)
      .map((b) => ALPHANUMERIC_CHARS[b % 62])
      .join('')
      .slice(0, 24);
    expect(deriveAlphanumeric(key, 'app-key')).not.toBe(naive);
  });
});
