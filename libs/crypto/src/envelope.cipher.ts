import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import { CryptoError } from './crypto.errors';
import { indexKeyRing, isValidKeyId, KeyRing, MASTER_KEY_BYTES } from './key-ring.util';

const VERSION = 'v1';
const ALGORITHM = 'aes-256-gcm';
const IV_BYTES = 12;
const TAG_BYTES = 16;

interface Sealed {
  iv: Buffer;
  tag: Buffer;
  ciphertext: Buffer;
}

interface Envelope {
  keyId: string;
  wrapped: Sealed;
  data: Sealed;
}

/**
 * Envelope encryption: every value gets its own random data key and only that key is encrypted with
 * the master key, so the master key never processes caller data and each value stands on its own key.
 *
 * Format: `v1.<keyId>.<wrappedKey>.<wrapIv>.<wrapTag>.<dataIv>.<dataTag>.<ciphertext>` (base64url).
 */
export class EnvelopeCipher {
  private readonly keys: Map<string, Buffer>;
  private readonly current: KeyRing['current'];

  constructor(keyRing: KeyRing) {
    this.keys = indexKeyRing(keyRing);
    this.current = keyRing.current;
  }

  /** `aad` binds the ciphertext to its context (e.g. the owning row id): decrypting elsewhere fails. */
  encrypt(plaintext: Buffer | string, aad?: string): string {
    const dataKey = randomBytes(MASTER_KEY_BYTES);
    try {
      const data = seal(
        dataKey,
        typeof plaintext === 'string' ? Buffer.from(plaintext, 'utf8') : plaintext,
        aad,
      );
      const wrapped = seal(this.current.key, dataKey, wrapAad(this.current.id));
      const fields = [wrapped.ciphertext, wrapped.iv, wrapped.tag, data.iv, data.tag, data.ciphertext];
      return [VERSION, this.current.id, ...fields.map((field) => field.toString('base64url'))].join('.');
    } finally {
      // Limits how long the unwrapped key lingers in the heap.
      dataKey.fill(0);
    }
  }

  decrypt(envelope: string, aad?: string): Buffer {
    const parsed = parseEnvelope(envelope);
    const masterKey = this.keys.get(parsed.keyId);
    if (!masterKey) {
      throw new CryptoError(
        'unknown_key_id',
        'Envelope was encrypted with a master key that is not configured',
      );
    }
    const dataKey = open(masterKey, parsed.wrapped, wrapAad(parsed.keyId));
    try {
      return open(dataKey, parsed.data, aad);
    } finally {
      dataKey.fill(0);
    }
  }

  /** Throws `malformed_envelope` rather than guessing, since rewrapping such a value would fail anyway. */
  needsRewrap(envelope: string): boolean {
    return parseEnvelope(envelope).keyId !== this.current.id;
  }

  /**
   * Decrypts fully instead of only re-wrapping the data key so that a tampered or misplaced value
   * (wrong `aad`) is rejected before it gets rewritten under the current key.
   */
  rewrap(envelope: string, aad?: string): string {
    return this.encrypt(this.decrypt(envelope, aad), aad);
  }
}

// Binding the version and key id to the wrapped key keeps the header from being edited independently.
function wrapAad(keyId: string): string {
  return `${VERSION}.${keyId}`;
}

function seal(key: Buffer, plaintext: Buffer, aad: string | undefined): Sealed {
  const iv = randomBytes(IV_BYTES);
  const cipher = createCipheriv(ALGORITHM, key, iv, { authTagLength: TAG_BYTES });
  if (aad !== undefined) cipher.setAAD(Buffer.from(aad, 'utf8'));
  const ciphertext = Buffer.concat([cipher.update(plaintext), cipher.final()]);
  return { iv, tag: cipher.getAuthTag(), ciphertext };
}

function open(key: Buffer, sealed: Sealed, aad: string | undefined): Buffer {
  const decipher = createDecipheriv(ALGORITHM, key, sealed.iv, { authTagLength: TAG_BYTES });
  decipher.setAuthTag(sealed.tag);
  if (aad !== undefined) decipher.setAAD(Buffer.from(aad, 'utf8'));
  try {
    return Buffer.concat([decipher.update(sealed.ciphertext), decipher.final()]);
  } catch {
    throw new CryptoError('decryption_failed', 'Envelope failed authentication');
  }
}

function parseEnvelope(envelope: string): Envelope {
  const parts = envelope.split('.');
  if (parts.length !== 8 || parts[0] !== VERSION || !isValidKeyId(parts[1])) {
    throw malformed();
  }
  const [, keyId, wrappedKey, wrapIv, wrapTag, dataIv, dataTag, ciphertext] = parts;
  return {
    keyId,
    wrapped: {
      iv: decodeField(wrapIv, IV_BYTES),
      tag: decodeField(wrapTag, TAG_BYTES),
      ciphertext: decodeField(wrappedKey, MASTER_KEY_BYTES),
    },
    data: {
      iv: decodeField(dataIv, IV_BYTES),
      tag: decodeField(dataTag, TAG_BYTES),
      ciphertext: decodeField(ciphertext),
    },
  };
}

function decodeField(field: string, expectedBytes?: number): Buffer {
  const bytes = Buffer.from(field, 'base64url');
  // Node's decoder silently skips invalid characters; re-encoding is how we notice them.
  if (
    bytes.toString('base64url') !== field ||
    (expectedBytes !== undefined && bytes.length !== expectedBytes)
  ) {
    throw malformed();
  }
  return bytes;
}

function malformed(): CryptoError {
  return new CryptoError('malformed_envelope', 'Envelope is not a valid v1 envelope');
}
