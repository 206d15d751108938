import { randomBytes } from 'node:crypto';
import { CryptoError } from './crypto.errors';
import { parseMasterKey } from './key-ring.util';

function codeOf(fn: () => unknown): string | undefined {
  try {
    fn();
  } catch (error) {
    return error instanceof CryptoError ? error.code : `not a CryptoError: ${String(error)}`;
  }
  return undefined;
}

describe('parseMasterKey', () => {
  // 0xfb/0xff bytes force `+`/`/` (or `-`/`_`) into the encoding, so both alphabets are exercised.
  const key = Buffer.concat([Buffer.from([0xfb, 0xff, 0xfe]), randomBytes(29)]);

  it('decodes padded standard base64 of 32 bytes', () => {
    const encoded = key.toString('base64');
    expect(encoded).toMatch(/[+/]/);
    expect(parseMasterKey(encoded).equals(key)).toBe(true);
  });

  it('decodes base64url, with or without padding', () => {
    const encoded = key.toString('base64url');
    expect(encoded).toMatch(/[-_]/);
    expect(parseMasterKey(encoded).equals(key)).toBe(true);
    expect(parseMasterKey(`${encoded}=`).equals(key)).toBe(true);
  });

  it('ignores surrounding whitespace such as a trailing newline from a secret file', () => {
    expect(parseMasterKey(`${key.toString('base64')}\n`).equals(key)).toBe(true);
  });

  it.each([0, 1, 16, 31, 33, 64])('rejects a key of %i bytes', (length) => {
    expect(codeOf(() => parseMasterKey(randomBytes(length).toString('base64')))).toBe('invalid_master_key');
  });

  it.each([
    ['non-base64 characters', `${key.toString('base64').slice(0, 40)}!!!!`],
    ['embedded whitespace', `${key.toString('base64').slice(0, 20)} ${key.toString('base64').slice(20)}`],
    ['hex of 32 bytes', key.toString('hex')],
  ])('rejects %s', (_label, input) => {
    expect(codeOf(() => parseMasterKey(input))).toBe('invalid_master_key');
  });

  it('does not echo the input in the error message', () => {
    const tooLong = randomBytes(33).toString('base64');
    try {
      parseMasterKey(tooLong);
      throw new Error('expected parseMasterKey to throw');
    } catch (error) {
      expect(error).toBeInstanceOf(CryptoError);
      expect((error as CryptoError).message).not.toContain(tooLong.slice(0, 8));
    }
  });
});
