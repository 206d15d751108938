import { createPublicKey, type KeyObject, verify } from 'node:crypto';

export interface DecodedJwt {
  header: Record<string, unknown>;
  payload: Record<string, unknown>;
}

/** Verifies a compact JWS (ES256 or RS256) against `publicKey`; undefined when it does not verify. */
export function verifyJwt(
  jwt: string,
  publicKey: KeyObject | string,
  alg: 'ES256' | 'RS256',
): DecodedJwt | undefined {
  const parts = jwt.split('.');
  if (parts.length !== 3) return undefined;
  let decoded: DecodedJwt;
  try {
    decoded = {
      header: JSON.parse(Buffer.from(parts[0], 'base64url').toString('utf8')),
      payload: JSON.parse(Buffer.from(parts[1], 'base64url').toString('utf8')),
    };
  } catch {
    return undefined;
  }
  if (decoded.header.alg !== alg) return undefined;
  const key = typeof publicKey === 'string' ? createPublicKey(publicKey) : publicKey;
  const ok = verify(
    'sha256',
    Buffer.from(`${parts[0]}.${parts[1]}`),
    alg === 'ES256' ? { key, dsaEncoding: 'ieee-p1363' } : key,
    Buffer.from(parts[2], 'base64url'),
  );
  return ok ? decoded : undefined;
}

export function decodeJwtHeader(jwt: string): Record<string, unknown> | undefined {
  try {
    return JSON.parse(Buffer.from(jwt.split('.')[0], 'base64url').toString('utf8'));
  } catch {
    return undefined;
  }
}
