import { createHmac, hkdfSync, randomBytes } from 'node:crypto';

const ALPHANUMERIC_CHARS = '0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz';
const LOWER_ALPHANUMERIC_CHARS = '0123456789abcdefghijklmnopqrstuvwxyz';
const TOKEN_PREFIX = /^[A-Za-z0-9]+(?:_[A-Za-z0-9]+)*$/;
const MIN_TOKEN_BYTES = 16;

export const ALPHANUMERIC = /^[A-Za-z0-9]+$/;
const APP_KEY = /^[A-Za-z0-9]{24}$/;

export function isAppKey(s: string): boolean {
  return APP_KEY.test(s);
}

export function generateAppKey(): string {
  return randomString(ALPHANUMERIC_CHARS, 24);
}

export function generateMasterSecret(): string {
  return randomString(ALPHANUMERIC_CHARS, 24);
}

/** 32 characters of a 62-symbol alphabet: about 190 bits. */
export function generateDeviceSecret(): string {
  return randomString(ALPHANUMERIC_CHARS, 32);
}

/** Only needs to be unique and hard to enumerate; device authentication relies on the device secret. */
export function generateRegistrationId(): string {
  return randomString(LOWER_ALPHANUMERIC_CHARS, 20);
}

export function generateToken(prefix: string, bytes = 32): string {
  if (!TOKEN_PREFIX.test(prefix)) {
    throw new RangeError('Token prefix must be alphanumeric words joined by underscores');
  }
  if (!Number.isInteger(bytes) || bytes < MIN_TOKEN_BYTES) {
    throw new RangeError(`Tokens need at least ${MIN_TOKEN_BYTES} random bytes`);
  }
  return `${prefix}_${randomBytes(bytes).toString('base64url')}`;
}

/**
 * A deterministic alphanumeric value for `label`, derived from `key` (through an HKDF subkey, never the
 * raw key). The same key and label always give the same value; without the key it is unpredictable.
 */
export function deriveAlphanumeric(key: Buffer, label: string, length = 24): string {
  const subkey = Buffer.from(hkdfSync('sha256', key, Buffer.alloc(0), 'herald/derived-secret/v1', 32));
  let counter = 0;
  return sampleAlphabet(ALPHANUMERIC_CHARS, length, (n) => {
    let out = Buffer.alloc(0);
    while (out.length < n) {
      const block = createHmac('sha256', subkey).update(`${label}/${counter++}`).digest();
      out = Buffer.concat([out, block]);
    }
    return out.subarray(0, n);
  });
}

function randomString(alphabet: string, length: number): string {
  return sampleAlphabet(alphabet, length, randomBytes);
}

/**
 * Rejection sampling: bytes at or above the largest multiple of the alphabet size are discarded,
 * because mapping them with `%` would make the first symbols of the alphabet more likely.
 */
function sampleAlphabet(alphabet: string, length: number, bytes: (n: number) => Buffer): string {
  const limit = 256 - (256 % alphabet.length);
  let out = '';
  while (out.length < length) {
    // Oversampling slightly makes a second call rare.
    for (const byte of bytes(length + 8)) {
      if (byte < limit) {
        out += alphabet[byte % alphabet.length];
        if (out.length === length) break;
      }
    }
  }
  return out;
}
