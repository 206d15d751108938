import { hash, verify, type Algorithm, type Options } from '@node-rs/argon2';
import { CryptoError } from './crypto.errors';

// `Algorithm` is a const enum that is empty at runtime; swc compiles files in isolation and would
// emit `Algorithm.Argon2id` as `undefined`, silently falling back to the library default.
const ARGON2ID: Algorithm.Argon2id = 2;
// Bounds the work an attacker can force per request; no real password is this long.
const MAX_PASSWORD_LENGTH = 1024;

export interface PasswordHasherOptions {
  /** KiB. Defaults to the OWASP minimum for argon2id (19 MiB). */
  memoryCost?: number;
  timeCost?: number;
}

/** argon2id for human-chosen passwords, which unlike random secrets are guessable and need a slow hash. */
export class PasswordHasher {
  private readonly options: Options;

  constructor(options: PasswordHasherOptions = {}) {
    this.options = {
      algorithm: ARGON2ID,
      memoryCost: options.memoryCost ?? 19456,
      timeCost: options.timeCost ?? 2,
      parallelism: 1,
    };
  }

  async hash(password: string): Promise<string> {
    if (password.length > MAX_PASSWORD_LENGTH) {
      throw new CryptoError(
        'password_too_long',
        `Passwords are limited to ${MAX_PASSWORD_LENGTH} characters`,
      );
    }
    return hash(password, this.options);
  }

  /** Parameters are read from `stored`, so hashes made with other cost settings still verify. */
  async verify(password: string, stored: string): Promise<boolean> {
    if (typeof password !== 'string' || password.length > MAX_PASSWORD_LENGTH) return false;
    try {
      return await verify(stored, password);
    } catch {
      return false;
    }
  }
}
