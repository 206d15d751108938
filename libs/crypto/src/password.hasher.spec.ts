import { hash } from '@node-rs/argon2';
import { CryptoError } from './crypto.errors';
import { PasswordHasher } from './password.hasher';

describe('PasswordHasher', () => {
  const hasher = new PasswordHasher({ memoryCost: 256, timeCost: 1 });

  it('produces an argon2id PHC string with the configured parameters', async () => {
    expect(await hasher.hash('correct horse')).toMatch(
      /^\$argon2id\$v=19\$m=256,t=1,p=1\$[A-Za-z0-9+/]+\$[A-Za-z0-9+/]+$/,
    );
  });

  it('defaults to the OWASP minimum parameters', async () => {
    expect(await new PasswordHasher().hash('correct horse')).toMatch(/^\$argon2id\$v=19\$m=19456,t=2,p=1\$/);
  });

  it('salts every hash', async () => {
    expect(await hasher.hash('correct horse')).not.toBe(await hasher.hash('correct horse'));
  });

  it('verifies the right password and rejects wrong ones', async () => {
    const stored = await hasher.hash('correct horse');
    await expect(hasher.verify('correct horse', stored)).resolves.toBe(true);
    await expect(hasher.verify('correct horsE', stored)).resolves.toBe(false);
    await expect(hasher.verify('', stored)).resolves.toBe(false);
  });

  it('verifies hashes made with other cost parameters', async () => {
    const stored = await new PasswordHasher({ memoryCost: 512, timeCost: 2 }).hash('pw');
    await expect(hasher.verify('pw', stored)).resolves.toBe(true);
  });

  it.each([
    ['empty string', ''],
    ['not a PHC string', 'not-a-hash'],
    ['bcrypt hash', '$2b$10$N9qo8uLOickgx2ZMRZoMyeIjZAgcfl7p92ldGxad68LJZdL17lhWy'],
    ['truncated argon2 hash', '$argon2id$v=19$m=256,t=1,p=1$c2FsdHNhbHQ'],
  ])('returns false for a malformed stored value: %s', async (_label, stored) => {
    await expect(hasher.verify('pw', stored)).resolves.toBe(false);
  });

  it('rejects passwords over 1024 characters', async () => {
    const long = 'a'.repeat(1025);
    const rejection = hasher.hash(long);
    await expect(rejection).rejects.toBeInstanceOf(CryptoError);
    await expect(rejection).rejects.toMatchObject({ code: 'password_too_long' });
  });

  it('refuses to verify passwords over 1024 characters, even against a matching hash', async () => {
    const long = 'a'.repeat(1025);
    const stored = await hash(long, { memoryCost: 256, timeCost: 1, parallelism: 1 });
    await expect(hasher.verify(long, stored)).resolves.toBe(false);
  });

  it('accepts exactly 1024 characters', async () => {
    const max = 'a'.repeat(1024);
    await expect(hasher.verify(max, await hasher.hash(max))).resolves.toBe(true);
  });

  it('never throws from verify on non-string input', async () => {
    await expect(hasher.verify(undefined as unknown as string, 'x')).resolves.toBe(false);
    await expect(hasher.verify('pw', null as unknown as string)).resolves.toBe(false);
  });
});
