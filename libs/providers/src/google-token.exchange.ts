import { createPrivateKey, type KeyObject } from 'node:crypto';
import type { Agent } from 'node:https';
import { request } from 'node:https';
import { signJwt } from './jwt';

/** Google's OAuth 2.0 token endpoint: the JWT's audience, and where the exchange goes without an override. */
export const GOOGLE_TOKEN_URL = 'https://oauth2.googleapis.com/token';
const GRANT_TYPE = 'urn:ietf:params:oauth:grant-type:jwt-bearer';
const ASSERTION_LIFETIME_S = 3600;
const EXCHANGE_TIMEOUT_MS = 10_000;

export interface GoogleAccessToken {
  accessToken: string;
  /** Seconds, as Google says. */
  expiresIn: number;
}

/** How a token exchange failure begins when the endpoint answered 5xx or 429: worth retrying. */
export const TOKEN_ENDPOINT_UNAVAILABLE = 'token endpoint unavailable';

/**
 * A service account's OAuth 2.0 JWT-bearer grant (RFC 7523, Google's "server-to-server" flow), what
 * google-auth-library's `JWT.authorize()` does: an RS256 assertion `{iss, scope, aud, iat, exp}` signed
 * with the account's key, POSTed as a form to the token endpoint, which answers an access token. The
 * request goes through `agent`, so an `EndpointAgent` carries it to `HERALD_FCM_ENDPOINT` (`/token`).
 *
 * Errors say whether the endpoint could not answer — unreachable (a transport error) or unwell (5xx,
 * 429: {@link TOKEN_ENDPOINT_UNAVAILABLE}) — so an outage is retried and a refused key is not; they
 * never include the assertion or the key.
 */
export class GoogleTokenExchange {
  private key?: KeyObject;

  constructor(
    private readonly account: { client_email: string; private_key: string; private_key_id?: string },
    private readonly scope: string,
    private readonly agent: Agent,
  ) {}

  async fetch(): Promise<GoogleAccessToken> {
    const form = new URLSearchParams({ grant_type: GRANT_TYPE, assertion: this.assertion() }).toString();
    const { status, body } = await this.post(form);
    if (status >= 500 || status === 429) throw new Error(`${TOKEN_ENDPOINT_UNAVAILABLE} (HTTP ${status})`);
    if (status !== 200) throw new Error(`token exchange refused with HTTP ${status}`);
    let answer: { access_token?: unknown; expires_in?: unknown };
    try {
      answer = JSON.parse(body) as typeof answer;
    } catch {
      throw new Error('token endpoint answered something other than JSON');
    }
    if (typeof answer.access_token !== 'string' || answer.access_token === '') {
      throw new Error('token endpoint returned no access_token');
    }
    const expiresIn = typeof answer.expires_in === 'number' ? answer.expires_in : ASSERTION_LIFETIME_S;
    return { accessToken: answer.access_token, expiresIn };
  }

  private assertion(): string {
    try {
      this.key ??= createPrivateKey(this.account.private_key);
    } catch {
      throw new Error('the service account private_key is not a readable PEM key');
    }
    const iat = Math.floor(Date.now() / 1000);
    const header = {
      alg: 'RS256',
      typ: 'JWT',
      ...(this.account.private_key_id && { kid: this.account.private_key_id }),
    };
    const claims = {
      iss: this.account.client_email,
      scope: this.scope,
      aud: GOOGLE_TOKEN_URL,
      iat,
      exp: iat + ASSERTION_LIFETIME_S,
    };
    return signJwt(header, claims, this.key);
  }

  private post(form: string): Promise<{ status: number; body: string }> {
    return new Promise((resolve, reject) => {
      const unreachable = (code: string): Error => new Error(`token endpoint unreachable (network: ${code})`);
      const req = request(
        GOOGLE_TOKEN_URL,
        {
          method: 'POST',
          agent: this.agent,
          timeout: EXCHANGE_TIMEOUT_MS,
          headers: {
            'content-type': 'application/x-www-form-urlencoded',
            'content-length': Buffer.byteLength(form),
          },
        },
        (res) => {
          let body = '';
          res.setEncoding('utf8');
          res.on('data', (chunk: string) => (body += chunk));
          res.on('error', (err: NodeJS.ErrnoException) => reject(unreachable(err.code ?? 'error')));
          res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
        },
      );
      req.on('timeout', () => req.destroy(Object.assign(new Error('timeout'), { code: 'ETIMEDOUT' })));
      req.on('error', (err: NodeJS.ErrnoException) => reject(unreachable(err.code ?? 'error')));
      req.end(form);
    });
  }
}
