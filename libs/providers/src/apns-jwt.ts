import { createPrivateKey, type KeyObject } from 'node:crypto';
import { signJwt } from './jwt';

/**
 * The ES256 provider token APNs wants (`{alg, kid}` / `{iss, iat}`), one shared by every request of a
 * client. `generation` lets a request that saw `ExpiredProviderToken` re-sign only once, however many
 * requests carried the same stale token.
 */
export class ApnsJwt {
  private readonly key: KeyObject;
  private readonly header: { alg: 'ES256'; kid: string };
  current = '';
  generation = 0;
  /** The injected clock's time at signing, for Herald's renewal age. */
  issuedAt = 0;

  /** Throws when the key is not a usable EC private key: the caller reports it as a credential error. */
  constructor(
    pem: string,
    keyId: string,
    private readonly teamId: string,
    private readonly clock: () => number,
  ) {
    this.key = createPrivateKey(pem);
    if (this.key.asymmetricKeyType !== 'ec') throw new Error('the .p8 key is not an EC key');
    this.header = { alg: 'ES256', kid: keyId };
    this.sign();
  }

  /** Re-signs when `generation` is still current (a stale answer must not re-sign twice). */
  regenerate(generation: number): void {
    if (generation !== this.generation) return;
    this.generation += 1;
    this.sign();
  }

  private sign(): void {
    // `iat` is wall-clock time: it is what Apple checks; the injected clock only drives renewal.
    this.current = signJwt(this.header, { iss: this.teamId, iat: Math.floor(Date.now() / 1000) }, this.key);
    this.issuedAt = this.clock();
  }
}
