import { randomBytes } from 'node:crypto';
import { CryptoError, CryptoErrorCode } from './crypto.errors';
import { EnvelopeCipher } from './envelope.cipher';
import { KeyRing } from './key-ring.util';

const k1 = { id: 'k1', key: randomBytes(32) };
const k2 = { id: 'k2', key: randomBytes(32) };

function ring(current: KeyRing['current'], ...previous: KeyRing['previous']): KeyRing {
  return { current, previous };
}

function errorOf(fn: () => unknown): CryptoError {
  try {
    fn();
  } catch (error) {
    if (error instanceof CryptoError) return error;
    throw error;
  }
  throw new Error('expected a CryptoError to be thrown');
}

function codeOf(fn: () => unknown): CryptoErrorCode {
  return errorOf(fn).code;
}

const FIELDS = ['wrapped key', 'wrap iv', 'wrap tag', 'data iv', 'data tag', 'ciphertext'] as const;

function mutateField(
  envelope: string,
  field: (typeof FIELDS)[number],
  mutate: (bytes: Buffer) => Buffer,
): string {
  const parts = envelope.split('.');
  const index = 2 + FIELDS.indexOf(field);
  parts[index] = mutate(Buffer.from(parts[index], 'base64url')).toString('base64url');
  return parts.join('.');
}

function flipByte(bytes: Buffer): Buffer {
  const copy = Buffer.from(bytes);
  copy[copy.length >> 1] ^= 0x01;
  return copy;
}

describe('EnvelopeCipher', () => {
  const cipher = new EnvelopeCipher(ring(k1));

  describe('round trip', () => {
    it('decrypts a string to its UTF-8 bytes', () => {
      const text = 'p8 key: -----BEGIN PRIVATE KEY----- ✓ 推送';
      expect(cipher.decrypt(cipher.encrypt(text)).toString('utf8')).toBe(text);
    });

    it('decrypts arbitrary binary, including every byte value', () => {
      const binary = Buffer.from(Array.from({ length: 512 }, (_, i) => i % 256));
      expect(cipher.decrypt(cipher.encrypt(binary)).equals(binary)).toBe(true);
    });

    it('handles empty plaintext', () => {
      expect(cipher.decrypt(cipher.encrypt('')).length).toBe(0);
      expect(cipher.decrypt(cipher.encrypt(Buffer.alloc(0))).length).toBe(0);
    });

    it('handles a 1 MiB plaintext', () => {
      const big = randomBytes(1024 * 1024);
      expect(cipher.decrypt(cipher.encrypt(big, 'row-1'), 'row-1').equals(big)).toBe(true);
    });

    it('produces a different envelope for every encryption of the same plaintext', () => {
      const a = cipher.encrypt('same');
      const b = cipher.encrypt('same');
      expect(a).not.toBe(b);
      const [, , wrappedA, wrapIvA, , dataIvA] = a.split('.');
      const [, , wrappedB, wrapIvB, , dataIvB] = b.split('.');
      expect(wrappedA).not.toBe(wrappedB);
      expect(wrapIvA).not.toBe(wrapIvB);
      expect(dataIvA).not.toBe(dataIvB);
    });
  });

  describe('format', () => {
    it('is v1.<keyId> followed by six base64url fields with the documented sizes', () => {
      const envelope = cipher.encrypt(Buffer.alloc(100), 'row-1');
      const parts = envelope.split('.');
      expect(parts).toHaveLength(8);
      expect(parts.slice(0, 2)).toEqual(['v1', 'k1']);
      for (const part of parts.slice(2)) expect(part).toMatch(/^[A-Za-z0-9_-]+$/);
      const sizes = parts.slice(2).map((part) => Buffer.from(part, 'base64url').length);
      expect(sizes).toEqual([32, 12, 16, 12, 16, 100]);
    });

    it('does not contain the plaintext or the master key', () => {
      const envelope = cipher.encrypt('hunter2-hunter2-hunter2');
      expect(envelope).not.toContain(
        Buffer.from('hunter2-hunter2-hunter2').toString('base64url').slice(0, 12),
      );
      expect(envelope).not.toContain(k1.key.toString('base64url').slice(0, 12));
    });
  });

  describe('tamper detection', () => {
    const envelope = cipher.encrypt('device credentials', 'app-42');

    it.each(FIELDS)('rejects a flipped byte in the %s', (field) => {
      const tampered = mutateField(envelope, field, flipByte);
      expect(tampered).not.toBe(envelope);
      expect(codeOf(() => cipher.decrypt(tampered, 'app-42'))).toBe('decryption_failed');
    });

    it('rejects a truncated ciphertext', () => {
      const tampered = mutateField(envelope, 'ciphertext', (bytes) => bytes.subarray(0, bytes.length - 1));
      expect(codeOf(() => cipher.decrypt(tampered, 'app-42'))).toBe('decryption_failed');
    });

    it('rejects data fields spliced onto another envelope’s wrapped key', () => {
      const other = cipher.encrypt('device credentials', 'app-42').split('.');
      const spliced = [...envelope.split('.').slice(0, 5), ...other.slice(5)].join('.');
      expect(codeOf(() => cipher.decrypt(spliced, 'app-42'))).toBe('decryption_failed');
    });

    it('rejects an envelope relabelled with another configured key id', () => {
      const both = new EnvelopeCipher(ring(k2, k1));
      const relabelled = both.encrypt('x').replace(/^v1\.k2\./, 'v1.k1.');
      expect(codeOf(() => both.decrypt(relabelled))).toBe('decryption_failed');
    });
  });

  describe('additional authenticated data', () => {
    const envelope = cipher.encrypt('secret', 'credential:1');

    it('decrypts with the same aad', () => {
      expect(cipher.decrypt(envelope, 'credential:1').toString()).toBe('secret');
    });

    it('fails with a different aad (ciphertext moved to another row)', () => {
      expect(codeOf(() => cipher.decrypt(envelope, 'credential:2'))).toBe('decryption_failed');
    });

    it('fails when the aad is omitted', () => {
      expect(codeOf(() => cipher.decrypt(envelope))).toBe('decryption_failed');
    });

    it('fails when aad is supplied for an envelope encrypted without one', () => {
      expect(codeOf(() => cipher.decrypt(cipher.encrypt('secret'), 'credential:1'))).toBe(
        'decryption_failed',
      );
    });
  });

  describe('key rotation', () => {
    const old = new EnvelopeCipher(ring(k1)).encrypt('apns p8', 'app-7');
    const rotated = new EnvelopeCipher(ring(k2, k1));

    it('decrypts envelopes whose key is only in previous', () => {
      expect(rotated.decrypt(old, 'app-7').toString()).toBe('apns p8');
    });

    it('reports whether an envelope needs rewrapping', () => {
      expect(rotated.needsRewrap(old)).toBe(true);
      expect(rotated.needsRewrap(rotated.encrypt('x'))).toBe(false);
    });

    it('rewraps under the current key, after which the old key is no longer needed', () => {
      const rewrapped = rotated.rewrap(old, 'app-7');
      expect(rewrapped.startsWith('v1.k2.')).toBe(true);
      expect(rotated.needsRewrap(rewrapped)).toBe(false);
      expect(new EnvelopeCipher(ring(k2)).decrypt(rewrapped, 'app-7').toString()).toBe('apns p8');
    });

    it('keeps the aad binding across a rewrap', () => {
      const rewrapped = rotated.rewrap(old, 'app-7');
      expect(codeOf(() => rotated.decrypt(rewrapped, 'app-8'))).toBe('decryption_failed');
    });

    it('refuses to rewrap with the wrong aad', () => {
      expect(codeOf(() => rotated.rewrap(old, 'app-8'))).toBe('decryption_failed');
    });

    it('rejects an envelope whose key id is not configured', () => {
      const onlyK2 = new EnvelopeCipher(ring(k2));
      expect(codeOf(() => onlyK2.decrypt(old, 'app-7'))).toBe('unknown_key_id');
      expect(codeOf(() => onlyK2.rewrap(old, 'app-7'))).toBe('unknown_key_id');
    });
  });

  describe('malformed envelopes', () => {
    const valid = cipher.encrypt('payload');
    const parts = valid.split('.');

    it.each([
      ['empty string', ''],
      ['wrong version prefix', ['v2', ...parts.slice(1)].join('.')],
      ['missing version prefix', parts.slice(1).join('.')],
      ['a missing field', parts.slice(0, 7).join('.')],
      ['an extra field', [...parts, 'AAAA'].join('.')],
      ['an invalid key id', ['v1', 'k 1', ...parts.slice(2)].join('.')],
      ['an empty key id', ['v1', '', ...parts.slice(2)].join('.')],
      ['invalid base64url characters', [...parts.slice(0, 7), `${parts[7]}!`].join('.')],
      [
        'standard-base64 characters',
        [...parts.slice(0, 3), `${parts[3].slice(0, -1)}+`, ...parts.slice(4)].join('.'),
      ],
      ['base64 padding', [...parts.slice(0, 7), `${parts[7]}=`].join('.')],
      [
        'an iv of the wrong length',
        [...parts.slice(0, 3), randomBytes(11).toString('base64url'), ...parts.slice(4)].join('.'),
      ],
      [
        'a tag of the wrong length',
        [...parts.slice(0, 6), randomBytes(12).toString('base64url'), parts[7]].join('.'),
      ],
      [
        'a wrapped key of the wrong length',
        [...parts.slice(0, 2), randomBytes(31).toString('base64url'), ...parts.slice(3)].join('.'),
      ],
    ])('rejects %s', (_label, envelope) => {
      expect(codeOf(() => cipher.decrypt(envelope))).toBe('malformed_envelope');
    });

    it('makes needsRewrap throw instead of guessing', () => {
      expect(codeOf(() => cipher.needsRewrap('v1.k1.nope'))).toBe('malformed_envelope');
    });
  });

  describe('key ring validation', () => {
    it.each(['', 'has.dot', 'has space', 'x'.repeat(33), 'ключ'])('rejects key id %j', (id) => {
      expect(codeOf(() => new EnvelopeCipher(ring({ id, key: k1.key })))).toBe('invalid_key_id');
      expect(codeOf(() => new EnvelopeCipher(ring(k2, { id, key: k1.key })))).toBe('invalid_key_id');
    });

    it('accepts the full key id alphabet up to 32 characters', () => {
      const id = 'Az09_-'.padEnd(32, 'x');
      const withLongId = new EnvelopeCipher(ring({ id, key: k1.key }));
      expect(withLongId.encrypt('x').split('.')[1]).toBe(id);
    });

    it('rejects duplicate key ids', () => {
      expect(codeOf(() => new EnvelopeCipher(ring(k1, { id: 'k1', key: k2.key })))).toBe('invalid_key_id');
    });

    it.each([16, 31, 33])('rejects a %i-byte master key', (length) => {
      expect(codeOf(() => new EnvelopeCipher(ring({ id: 'k1', key: randomBytes(length) })))).toBe(
        'invalid_master_key',
      );
    });
  });

  it('never puts key material in error messages', () => {
    const rotated = new EnvelopeCipher(ring(k2, k1));
    const envelope = rotated.encrypt('x', 'aad');
    const errors = [
      errorOf(() => rotated.decrypt(envelope, 'other')),
      errorOf(() => rotated.decrypt(mutateField(envelope, 'wrapped key', flipByte), 'aad')),
      errorOf(() => new EnvelopeCipher(ring(k1)).decrypt(envelope, 'aad')),
      errorOf(() => rotated.decrypt(`${envelope}.x`)),
    ];
    for (const { message } of errors) {
      for (const { key } of [k1, k2]) {
        for (const encoding of ['hex', 'base64', 'base64url'] as const) {
          expect(message).not.toContain(key.toString(encoding).slice(0, 8));
        }
      }
    }
  });
});
