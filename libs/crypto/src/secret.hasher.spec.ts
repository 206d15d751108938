import { createHmac, hkdfSync, randomBytes } from 'node:crypto';
import { CryptoError } from './crypto.errors';
import { KeyRing } from './key-ring.util';
import { SecretHasher } from './secret.hasher';

const k1 = { id: 'k1', key: randomBytes(32) };
const k2 = { id: 'k2', key: randomBytes(32) };

function ring(current: KeyRing['current'], ...previous: KeyRing['previous']): KeyRing {
  return { current, previous };
}

describe('SecretHasher', () => {
  const hasher = new SecretHasher(ring(k1));
  const secret = 'Zx81kQw0PmNa2bC3dE4fG5hJ';

  it('produces h1.<keyId>.<43-char base64url digest>', () => {
    expect(hasher.hash(secret)).toMatch(/^h1\.k1\.[A-Za-z0-9_-]{43}$/);
  });

  it('is an HMAC-SHA-256 under an HKDF subkey, never under the raw master key', () => {
    const subkey = Buffer.from(hkdfSync('sha256', k1.key, Buffer.alloc(0), 'herald/secret-hash/v1', 32));
    const expected = createHmac('sha256', subkey).update(secret, 'utf8').digest('base64url');
    const rawKeyed = createHmac('sha256', k1.key).update(secret, 'utf8').digest('base64url');
    expect(hasher.hash(secret)).toBe(`h1.k1.${expected}`);
    expect(hasher.hash(secret)).not.toContain(rawKeyed);
  });

  it('verifies the right secret and rejects others', () => {
    const stored = hasher.hash(secret);
    expect(hasher.verify(secret, stored)).toBe(true);
    expect(hasher.verify(`${secret}x`, stored)).toBe(false);
    expect(hasher.verify(secret.slice(0, -1), stored)).toBe(false);
    expect(hasher.verify(secret.toLowerCase(), stored)).toBe(false);
    expect(hasher.verify('', stored)).toBe(false);
  });

  it('hashes the UTF-8 encoding, so non-ASCII secrets round-trip', () => {
    expect(hasher.verify('sécret-推送', hasher.hash('sécret-推送'))).toBe(true);
    expect(hasher.verify('secret-推送', hasher.hash('sécret-推送'))).toBe(false);
  });

  it('gives different hashes under different keys, even with the same key id', () => {
    const sameIdOtherKey = new SecretHasher(ring({ id: 'k1', key: k2.key }));
    expect(sameIdOtherKey.hash(secret)).not.toBe(hasher.hash(secret));
    expect(sameIdOtherKey.verify(secret, hasher.hash(secret))).toBe(false);
    expect(new SecretHasher(ring(k2)).hash(secret).slice(6)).not.toBe(hasher.hash(secret).slice(6));
  });

  describe('rotation', () => {
    const rotated = new SecretHasher(ring(k2, k1));
    const old = hasher.hash(secret);

    it('verifies hashes made under a previous key', () => {
      expect(rotated.verify(secret, old)).toBe(true);
      expect(rotated.verify('wrong', old)).toBe(false);
    });

    it('hashes new secrets under the current key', () => {
      expect(rotated.hash(secret).startsWith('h1.k2.')).toBe(true);
      expect(rotated.verify(secret, rotated.hash(secret))).toBe(true);
    });

    it('reports needsRehash only for hashes not under the current key', () => {
      expect(rotated.needsRehash(old)).toBe(true);
      expect(rotated.needsRehash(rotated.hash(secret))).toBe(false);
      expect(rotated.needsRehash('garbage')).toBe(true);
    });

    it('hashesForLookup gives the hash under every key of the ring, current first', () => {
      const k3 = { id: 'k3', key: randomBytes(32) };
      const lookup = new SecretHasher(ring(k3, k2, k1)).hashesForLookup(secret);
      expect(lookup).toEqual([
        new SecretHasher(ring(k3)).hash(secret),
        new SecretHasher(ring(k2)).hash(secret),
        old,
      ]);
      expect(rotated.hashesForLookup(secret)).toEqual([rotated.hash(secret), old]);
      expect(hasher.hashesForLookup(secret)).toEqual([old]);
    });

    it('rejects hashes whose key has been dropped from the ring', () => {
      expect(new SecretHasher(ring(k2)).verify(secret, old)).toBe(false);
    });

    it('rejects a hash relabelled with another configured key id', () => {
      expect(rotated.verify(secret, old.replace(/^h1\.k1\./, 'h1.k2.'))).toBe(false);
    });
  });

  describe('malformed stored values give false without throwing', () => {
    const stored = hasher.hash(secret);
    const digest = stored.split('.')[2];

    it.each([
      ['empty string', ''],
      ['only the version', 'h1'],
      ['wrong version', `h2.k1.${digest}`],
      ['unknown key id', `h1.k9.${digest}`],
      ['missing key id', `h1..${digest}`],
      ['extra part', `${stored}.x`],
      ['short digest', stored.slice(0, -1)],
      ['long digest', `${stored}A`],
      ['invalid digest characters', `${stored.slice(0, -1)}!`],
      ['padded digest', `${stored.slice(0, -1)}=`],
      ['a bare digest', digest],
    ])('%s', (_label, value) => {
      expect(hasher.verify(secret, value)).toBe(false);
    });

    it('non-string input from unvalidated requests', () => {
      expect(hasher.verify(undefined as unknown as string, stored)).toBe(false);
      expect(hasher.verify(secret, null as unknown as string)).toBe(false);
      expect(hasher.verify({} as unknown as string, stored)).toBe(false);
    });
  });

  it('validates the key ring', () => {
    expect(() => new SecretHasher(ring({ id: 'bad.id', key: k1.key }))).toThrow(CryptoError);
    expect(() => new SecretHasher(ring({ id: 'k1', key: randomBytes(16) }))).toThrow(CryptoError);
  });
});
