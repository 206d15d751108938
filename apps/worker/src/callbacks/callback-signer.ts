import { createHmac, timingSafeEqual } from 'node:crypto';

/** The header carrying the signature of a callback POST. */
export const SIGNATURE_HEADER = 'X-Herald-Signature';

/**
 * `sha256=<lower-case hex HMAC-SHA256 of the exact body bytes>`, keyed with the app's master secret
 * (its UTF-8 bytes). The `sha256=` prefix names the algorithm so another one can be added later.
 */
export function signCallbackBody(secret: string, body: string | Buffer): string {
  return `sha256=${createHmac('sha256', secret).update(body).digest('hex')}`;
}

/** Constant-time check of a received signature header against the body as received. */
export function verifyCallbackSignature(
  secret: string,
  body: string | Buffer,
  header: string | undefined,
): boolean {
  if (!header) return false;
  const expected = Buffer.from(signCallbackBody(secret, body));
  const given = Buffer.from(header.trim());
  return given.length === expected.length && timingSafeEqual(given, expected);
}
