import { CryptoError } from './crypto.errors';

export interface KeyRing {
  current: { id: string; key: Buffer };
  previous: { id: string; key: Buffer }[];
}

export const MASTER_KEY_BYTES = 32;

// Key ids are embedded in `.`-separated stored strings, so they must never contain a dot.
const KEY_ID = /^[A-Za-z0-9_-]{1,32}$/;
const BASE64 = /^[A-Za-z0-9+/]+={0,2}$/;
const BASE64URL = /^[A-Za-z0-9_-]+={0,2}$/;

export function parseMasterKey(base64: string): Buffer {
  // Secrets mounted from files usually end with a newline.
  const text = base64.trim();
  if (!BASE64.test(text) && !BASE64URL.test(text)) {
    throw new CryptoError('invalid_master_key', 'Master key is not valid base64');
  }
  const key = Buffer.from(text, 'base64');
  if (key.length !== MASTER_KEY_BYTES) {
    throw new CryptoError('invalid_master_key', `Master key must decode to ${MASTER_KEY_BYTES} bytes`);
  }
  return key;
}

export function isValidKeyId(id: string): boolean {
  return KEY_ID.test(id);
}

/** Validates the ring once so that per-call code can trust every id and key it looks up. */
export function indexKeyRing(ring: KeyRing): Map<string, Buffer> {
  const keys = new Map<string, Buffer>();
  for (const { id, key } of [ring.current, ...ring.previous]) {
    if (!isValidKeyId(id)) {
      throw new CryptoError('invalid_key_id', 'Key id must match /^[A-Za-z0-9_-]{1,32}$/');
    }
    // The same id naming two keys would make stored strings ambiguous.
    if (keys.has(id)) {
      throw new CryptoError('invalid_key_id', 'Key ids in a key ring must be unique');
    }
    if (key.length !== MASTER_KEY_BYTES) {
      throw new CryptoError('invalid_master_key', `Master key must be ${MASTER_KEY_BYTES} bytes`);
    }
    keys.set(id, key);
  }
  return keys;
}
