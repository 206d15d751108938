import { type KeyObject, sign } from 'node:crypto';

/**
 * A compact JWS (`header.claims.signature`, base64url) signed with SHA-256 by `key`: ES256 for an EC key
 * (the signature as JOSE's raw `r‖s`, not DER), RS256 for an RSA key. APNs provider tokens and Google's
 * JWT-bearer assertions are both this.
 */
export function signJwt(header: object, claims: object, key: KeyObject): string {
  const input = `${base64url(header)}.${base64url(claims)}`;
  const signature = sign('sha256', Buffer.from(input), { key, dsaEncoding: 'ieee-p1363' });
  return `${input}.${signature.toString('base64url')}`;
}

function base64url(value: object): string {
  return Buffer.from(JSON.stringify(value)).toString('base64url');
}
