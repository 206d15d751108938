import { createHmac, hkdfSync, timingSafeEqual } from 'node:crypto';
import type { KeyRing } from '@herald/crypto';

export interface AccessClaims {
  /** user id */
  sub: string;
  /** tenant id */
  tid: string;
  /** refresh-token family of the login */
  fam: string;
  iat: number;
  exp: number;
}

const HKDF_INFO = 'herald/dashboard-access-token/v1';
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

const b64 = (v: unknown) => Buffer.from(JSON.stringify(v)).toString('base64url');

/**
 * Short-lived dashboard access tokens: compact JWTs (HS256) signed with node:crypto under a subkey of
 * the master key (HKDF, so the master key is never used directly; `kid` names the key, so tokens
 * survive a key rotation while the old key stays in `HERALD_PREVIOUS_MASTER_KEYS`). Signed rather than
 * stored: every dashboard request verifies one without a write, and nothing has to expire rows. The
 * guard still checks that the login's refresh family is not revoked, so logout takes effect at once.
 */
export class AccessTokenSigner {
  private readonly keys = new Map<string, Buffer>();
  private readonly currentId: string;

  constructor(ring: KeyRing) {
    for (const { id, key } of [ring.current, ...ring.previous]) {
      this.keys.set(id, Buffer.from(hkdfSync('sha256', key, Buffer.alloc(0), HKDF_INFO, 32)));
    }
    this.currentId = ring.current.id;
  }

  sign(claims: Omit<AccessClaims, 'iat' | 'exp'>, ttlSeconds: number, now = Date.now()): string {
    const iat = Math.floor(now / 1000);
    const head = b64({ alg: 'HS256', typ: 'JWT', kid: this.currentId });
    const body = b64({ ...claims, iat, exp: iat + ttlSeconds });
    return `${head}.${body}.${this.mac(this.keys.get(this.currentId)!, `${head}.${body}`)}`;
  }

  /** The claims of a valid, unexpired token; undefined for anything else. Never throws. */
  verify(token: string, now = Date.now()): AccessClaims | undefined {
    const parts = token.split('.');
    if (parts.length !== 3) return undefined;
    const [head, body, sig] = parts;
    try {
      const header = JSON.parse(Buffer.from(head, 'base64url').toString('utf8')) as Record<string, unknown>;
      // Only HS256 is ever accepted: the header cannot pick another algorithm (no `none`).
      if (header.alg !== 'HS256' || typeof header.kid !== 'string') return undefined;
      const key = this.keys.get(header.kid);
      if (!key) return undefined;
      const expected = Buffer.from(this.mac(key, `${head}.${body}`), 'base64url');
      const given = Buffer.from(sig, 'base64url');
      if (given.length !== expected.length || !timingSafeEqual(given, expected)) return undefined;
      const claims = JSON.parse(Buffer.from(body, 'base64url').toString('utf8')) as Partial<AccessClaims>;
      if (typeof claims.sub !== 'string' || !UUID.test(claims.sub)) return undefined;
      if (typeof claims.tid !== 'string' || !UUID.test(claims.tid)) return undefined;
      if (typeof claims.fam !== 'string' || !UUID.test(claims.fam)) return undefined;
      if (typeof claims.exp !== 'number' || claims.exp * 1000 <= now) return undefined;
      return claims as AccessClaims;
    } catch {
      return undefined;
    }
  }

  private mac(key: Buffer, data: string): string {
    return createHmac('sha256', key).update(data).digest('base64url');
  }
}
