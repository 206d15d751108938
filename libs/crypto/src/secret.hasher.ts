import { createHmac, hkdfSync, timingSafeEqual } from 'node:crypto';
import { indexKeyRing, KeyRing } from './key-ring.util';

const VERSION = 'h1';
const HKDF_INFO = 'herald/secret-hash/v1';
const DIGEST_BYTES = 32;
// 32 bytes in unpadded base64url is always 43 characters.
const DIGEST = /^[A-Za-z0-9_-]{43}$/;

/**
 * Keyed hash for high-entropy random secrets (app master secrets, device secrets, API tokens).
 * Such secrets cannot be brute-forced, so a slow password hash would only cost latency on every
 * request; the HMAC key means a leaked database alone is not enough to test guesses offline.
 *
 * Format: `h1.<keyId>.<base64url HMAC-SHA-256>`.
 */
export class SecretHasher {
  private readonly subkeys = new Map<string, Buffer>();
  private readonly currentId: string;
  private readonly currentSubkey: Buffer;

  constructor(keyRing: KeyRing) {
    for (const [id, key] of indexKeyRing(keyRing)) {
      // A purpose-specific subkey keeps the master key from being reused directly across primitives.
      this.subkeys.set(id, Buffer.from(hkdfSync('sha256', key, Buffer.alloc(0), HKDF_INFO, DIGEST_BYTES)));
    }
    this.currentId = keyRing.current.id;
    this.currentSubkey = this.subkeys.get(this.currentId)!;
  }

  hash(secret: string): string {
    return this.format(this.currentId, this.currentSubkey, secret);
  }

  /**
   * The hash of a secret under every key of the ring, current key first: what a secret that is looked
   * up by its hash (`WHERE token_hash = ANY($1)`) must be matched against, so rows written before a
   * rotation are still found while their key is listed. New rows are written with `hash()`.
   */
  hashesForLookup(secret: string): string[] {
    return [...this.subkeys].map(([id, subkey]) => this.format(id, subkey, secret));
  }

  verify(secret: string, stored: string): boolean {
    // Secrets arrive from request input that may have bypassed validation; this must never throw.
    if (typeof secret !== 'string' || typeof stored !== 'string') return false;
    const parts = stored.split('.');
    if (parts.length !== 3 || parts[0] !== VERSION || !DIGEST.test(parts[2])) return false;
    const subkey = this.subkeys.get(parts[1]);
    if (!subkey) return false;
    return timingSafeEqual(this.digest(subkey, secret), Buffer.from(parts[2], 'base64url'));
  }

  needsRehash(stored: string): boolean {
    return !stored.startsWith(`${VERSION}.${this.currentId}.`);
  }

  private format(id: string, subkey: Buffer, secret: string): string {
    return `${VERSION}.${id}.${this.digest(subkey, secret).toString('base64url')}`;
  }

  private digest(subkey: Buffer, secret: string): Buffer {
    return createHmac('sha256', subkey).update(secret, 'utf8').digest();
  }
}
