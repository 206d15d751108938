export type CryptoErrorCode =
  | 'invalid_master_key'
  | 'invalid_key_id'
  | 'unknown_key_id'
  | 'malformed_envelope'
  | 'decryption_failed'
  | 'password_too_long';

/**
 * Messages are fixed strings chosen by this library: they may end up in logs, so they must never
 * carry key material, plaintext or caller input.
 */
export class CryptoError extends Error {
  override readonly name = 'CryptoError';

  constructor(
    readonly code: CryptoErrorCode,
    message: string,
  ) {
    super(message);
  }
}
