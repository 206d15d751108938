import type { Agent } from 'node:https';
import { Agent as HttpsAgent } from 'node:https';
import { createSecureContext, type SecureContext } from 'node:tls';
import type { Credential, GoogleOAuthAccessToken } from 'firebase-admin/app';
import type { FcmServiceAccount } from './credentials.types';
import { EndpointAgent } from './endpoint.agent';
import type { FcmMessage } from './fcm-payload.builder';
import { mapFcmError, mapFcmResponse, TOKEN_EXCHANGE_FAILED, TOKEN_REFUSED } from './fcm-outcome.mapper';
import { FcmRequestBodies } from './fcm-request.body';
import { DeadlineSweep, RequestWindow, type WindowBatch } from './request-window';
import { GoogleTokenExchange } from './google-token.exchange';
import { encodeLiteral } from './hpack';
import { Http2Connection, type Http2ConnectionHandler, type Http2Exchange } from './http2.connection';
import type { DeliveryOutcome } from './outcome';

export interface FcmClientOptions {
  /** `HERALD_FCM_ENDPOINT`: replaces both `fcm.googleapis.com` and Google's token endpoint (`/token`). */
  endpoint?: string;
  /** Extra trusted CAs for the endpoint. */
  ca?: (string | Buffer)[];
  /** Messages outstanding at once for the whole client, shared by concurrent `send` calls. */
  maxInFlight?: number;
  /**
   * Streams per HTTP/2 connection. FCM allows 100 and answers more with GOAWAY
   * (`exceeded_max_concurrent_streams`); a server that advertises fewer gets fewer.
   */
  maxStreamsPerSession?: number;
  /** firebase-admin's timeout for one FCM request. */
  requestTimeoutMs?: number;
}

/**
 * 400 in flight over (at most) four HTTP/2 connections of 100 streams: enough for ~20,000 msgs/s at
 * 20 ms from FCM, while a 50,000-token send holds no more than that in memory.
 */
export const FCM_DEFAULTS = {
  maxInFlight: 400,
  maxStreamsPerSession: 100,
  requestTimeoutMs: 15_000,
} as const;

const FCM_SCOPE = 'https://www.googleapis.com/auth/firebase.messaging';
const FCM_ORIGIN = 'https://fcm.googleapis.com';
/** firebase-admin refreshes the access token this long before it expires. */
const TOKEN_REFRESH_MARGIN_MS = 5 * 60_000;
/** firebase-admin's retry policy for 503: up to 4 retries, Retry-After if ≤ 60 s, else 0, 1, 2, 4 s. */
const MAX_RETRIES = 4;
const MAX_RETRY_DELAY_MS = 60_000;
const HEALTH_PING_MS = 60_000;

/**
 * Firebase's credential interface over Herald's JWT-bearer token exchange (`GoogleTokenExchange`), with
 * the token request carried by the given agent so that `HERALD_FCM_ENDPOINT` reaches it too (Herald
 * holds the key in memory; firebase-admin's own `cert()` routes the exchange through an agent only for
 * a key file). It used to wrap google-auth-library's `JWT`, which does the same exchange and added
 * ~14 MB to every process that loads the providers.
 */
export class ServiceAccountCredential implements Credential {
  private readonly exchange: GoogleTokenExchange;

  constructor(account: FcmServiceAccount, agent: Agent) {
    this.exchange = new GoogleTokenExchange(account, FCM_SCOPE, agent);
  }

  async getAccessToken(): Promise<GoogleOAuthAccessToken> {
    const token = await this.exchange.fetch();
    return { access_token: token.accessToken, expires_in: token.expiresIn };
  }
}

/** One `send` call (or one of its retry passes), with the request bodies built for it. */
interface Batch extends WindowBatch<FcmMessage> {
  bodies: FcmRequestBodies;
}

/** One HTTP/2 connection and the requests this client has put on it. */
interface Connection {
  h2: Http2Connection;
  active: number;
}

/** One request on the wire: the connection's exchange plus where its answer goes. */
interface Pending extends Http2Exchange {
  batch: Batch;
  index: number;
  conn?: Connection;
  deadline: number;
  done: boolean;
}

/**
 * One long-lived FCM HTTP v1 sender for one service account: `POST /v1/projects/{id}/messages:send`
 * over Herald's own HTTP/2 client (`Http2Connection`, as `ApnsClient` uses it: one socket write per
 * tick for a burst, no per-stream objects; Node 20's `http2` cost ~100 µs of CPU per message here),
 * ≤ 100 streams per connection, `maxInFlight` messages in flight for the whole client. The OAuth
 * access token comes from `ServiceAccountCredential` and is reused until five minutes before it
 * expires. `send` returns exactly one outcome per message, in input order, and never throws for a
 * message's failure.
 *
 * Why not firebase-admin's `sendEach`: its HTTP/1.1 transport costs ~130–150 µs of CPU per message
 * (one request per socket), and its HTTP/2 transport connects to the hard-coded `fcm.googleapis.com`,
 * which `HERALD_FCM_ENDPOINT` cannot redirect. What Herald now owns instead: the message checks and
 * renames (`FcmRequestBodies`), the error table's input (`mapFcmResponse`), the 503 retries with
 * Retry-After, the token exchange and its caching, timeouts and connection handling (GOAWAY, the
 * 100-stream limit, pings).
 */
export class FcmClient {
  private readonly tokenAgent: Agent;
  private readonly credential: ServiceAccountCredential;
  private readonly origin: string;
  private readonly path: string;
  /** `:method`, `:scheme`, `:authority` and `content-type` as an HPACK block; the bearer goes after. */
  private readonly headerBase: Buffer;
  /** `headerBase` plus the current bearer: every request's header block but `:path`. */
  private headerBlock: Buffer = Buffer.alloc(0);
  private readonly ca?: (string | Buffer)[];
  private secureContext?: SecureContext;
  private readonly streamsPerSession: number;
  private readonly connections: Connection[] = [];
  private readonly events: Http2ConnectionHandler;
  /** The in-flight cap is per client, shared by concurrent sends; shut while no token is at hand. */
  private readonly window: RequestWindow<FcmMessage, Batch>;
  private readonly deadlines: DeadlineSweep<Pending>;
  private closed = false;
  private bearer = '';
  private bearerExpiresAt = 0;
  private refreshAt = 0;
  private fetchingToken = false;
  private readonly pinger: NodeJS.Timeout;

  constructor(account: FcmServiceAccount, options: FcmClientOptions = {}) {
    const agentOptions = { keepAlive: true, maxSockets: 2, ...(options.ca && { ca: options.ca }) };
    this.tokenAgent =
      options.endpoint !== undefined
        ? new EndpointAgent(options.endpoint, agentOptions)
        : new HttpsAgent(agentOptions);
    this.credential = new ServiceAccountCredential(account, this.tokenAgent);
    const url = new URL(options.endpoint ?? FCM_ORIGIN);
    this.origin = url.origin;
    this.ca = options.ca;
    this.window = new RequestWindow<FcmMessage, Batch>(
      Math.max(1, options.maxInFlight ?? FCM_DEFAULTS.maxInFlight),
      (b, i) => this.fire(b, i),
      () => this.closed || this.haveToken(),
    );
    this.deadlines = new DeadlineSweep(options.requestTimeoutMs ?? FCM_DEFAULTS.requestTimeoutMs, (q) => {
      q.error = 'request timeout';
      const h2 = q.conn?.h2;
      h2?.cancel(q);
      this.finish(q);
      // A connection that never came up is dropped, so the next request dials again.
      if (h2 && !h2.connected) h2.destroy('no connection within the request timeout');
    });
    this.streamsPerSession = Math.max(1, options.maxStreamsPerSession ?? FCM_DEFAULTS.maxStreamsPerSession);
    // Every message of a project goes to the same path with the same headers: one block serves all.
    this.path = `/v1/projects/${encodeURIComponent(account.project_id)}/messages:send`;
    this.headerBase = Buffer.concat([
      Http2Connection.postPrefix(url.host, url.protocol === 'http:' ? 'http' : 'https'),
      encodeLiteral('content-type', 'application/json'),
    ]);
    this.events = {
      onDone: (x) => this.finish(x as Pending),
      onRetire: (h2) => {
        const at = this.connections.findIndex((c) => c.h2 === h2);
        if (at >= 0) this.connections.splice(at, 1);
        // Requests waiting for a stream can go out on another connection.
        this.window.pump();
      },
    };
    this.pinger = setInterval(() => this.ping(), HEALTH_PING_MS).unref();
  }

  /** Exactly one outcome per message, in input order; never throws for a message's failure. */
  async send(messages: readonly FcmMessage[]): Promise<DeliveryOutcome[]> {
    const out = new Array<DeliveryOutcome>(messages.length);
    await this.run(messages, undefined, out);
    for (let attempt = 0; attempt < MAX_RETRIES; attempt++) {
      // What FCM or the connection said to try again: 503 (firebase-admin's policy, honouring
      // Retry-After) and a stream refused (GOAWAY) or cut (as firebase-admin retries ECONNRESET) up to
      // four times, and a refused access token once, with a new token.
      const again: number[] = [];
      let delayMs = 0;
      let tokenRefused = false;
      for (let i = 0; i < out.length; i++) {
        const o = out[i];
        if (o.kind === 'retryable' && o.status === 503) {
          const wait = o.retryAfterMs ?? (attempt === 0 ? 0 : 2 ** attempt * 500);
          if (wait > MAX_RETRY_DELAY_MS) continue;
          delayMs = Math.max(delayMs, wait);
          again.push(i);
        } else if (resendNow(o)) {
          again.push(i);
        } else if (attempt === 0 && o.kind === 'permanent' && o.reason === TOKEN_REFUSED) {
          tokenRefused = true;
          again.push(i);
        }
      }
      if (again.length === 0) break;
      if (tokenRefused) this.dropToken();
      if (delayMs > 0) await new Promise((resolve) => setTimeout(resolve, delayMs));
      await this.run(messages, again, out);
    }
    return out;
  }

  /** Closes the HTTP/2 connections (after their streams finish) and the token exchange's sockets. */
  async close(): Promise<void> {
    this.closed = true;
    clearInterval(this.pinger);
    const conns = this.connections.splice(0);
    await Promise.all(conns.map((c) => c.h2.close()));
    this.tokenAgent.destroy();
    // Anything still queued (a send racing close) gets an answer rather than waiting forever.
    this.window.pump();
  }

  private run(messages: readonly FcmMessage[], indices: number[] | undefined, out: DeliveryOutcome[]) {
    return this.window.run({ items: messages, indices, out, bodies: new FcmRequestBodies() });
  }

  private fire(batch: Batch, index: number): void {
    if (this.closed) {
      this.window.settle(batch, index, { kind: 'retryable', reason: CLOSED });
      return;
    }
    const built = batch.bodies.bodyFor(batch.items[index]);
    if (!built.ok) {
      this.window.settle(batch, index, { kind: 'permanent', reason: built.reason });
      return;
    }
    // Written out as one literal on purpose: built by spreading a shared `Http2Exchange` factory, the
    // request object lost its fast shape and the client cost 3× the CPU (docs/benchmarks.md).
    const p: Pending = {
      headerPrefix: this.headerBlock,
      path: this.path,
      body: Buffer.from(built.body, 'utf8'),
      streamId: 0,
      status: 0,
      captured: undefined,
      data: undefined,
      rstCode: undefined,
      error: undefined,
      sendWindow: 0,
      bodySent: 0,
      cancelled: false,
      batch,
      index,
      conn: undefined,
      deadline: 0,
      done: false,
    };
    this.deadlines.add(p);
    let conn = this.connection();
    if (!conn.h2.request(p)) {
      // Retired just now (stream ids used up): the next connection takes it.
      conn = this.connection();
      if (!conn.h2.request(p)) {
        p.error = 'no connection';
        this.finish(p);
        return;
      }
    }
    conn.active += 1;
    p.conn = conn;
  }

  /** Called once per request: when its connection answers or fails it, or from the timeout sweep. */
  private finish(p: Pending): void {
    if (p.done) return;
    p.done = true;
    if (p.conn) p.conn.active -= 1;
    this.deadlines.delete(p);
    this.window.settle(p.batch, p.index, outcomeOf(p));
  }

  /**
   * A connection with a free stream, filling one before opening the next; GOAWAY or an error retires
   * one. Its cap is ours or the server's SETTINGS_MAX_CONCURRENT_STREAMS, whichever is lower (until
   * the server's SETTINGS arrive, ours; streams beyond the server's limit wait in the connection).
   */
  private connection(): Connection {
    for (const c of this.connections) {
      if (c.active < Math.max(1, Math.min(this.streamsPerSession, c.h2.peerMaxConcurrentStreams))) return c;
    }
    const https = this.origin.startsWith('https:');
    if (https) this.secureContext ??= createSecureContext(this.ca ? { ca: this.ca } : {});
    const conn: Connection = {
      h2: new Http2Connection(
        {
          origin: this.origin,
          ...(https && { tls: { secureContext: this.secureContext } }),
          captureHeader: 'retry-after',
          // A 200's body is the message name, the `sent` outcome's providerMessageId.
          keepOkBodies: true,
        },
        this.events,
      ),
      active: 0,
    };
    this.connections.push(conn);
    return conn;
  }

  private ping(): void {
    for (const c of this.connections) c.h2.ping();
  }

  /** Whether a usable access token is at hand; starts fetching one (and re-pumps) when needed. */
  private haveToken(): boolean {
    const now = Date.now();
    if (now >= this.refreshAt) this.fetchToken();
    return this.bearer !== '' && now < this.bearerExpiresAt;
  }

  private dropToken(): void {
    this.bearer = '';
    this.bearerExpiresAt = 0;
    this.refreshAt = 0;
  }

  private fetchToken(): void {
    if (this.fetchingToken) return;
    this.fetchingToken = true;
    this.credential.getAccessToken().then(
      (token) => {
        this.fetchingToken = false;
        const expiresAt = Date.now() + token.expires_in * 1000;
        this.bearer = `Bearer ${token.access_token}`;
        // The header block changes once per access token, not per request.
        this.headerBlock = Buffer.concat([this.headerBase, encodeLiteral('authorization', this.bearer)]);
        this.bearerExpiresAt = expiresAt;
        this.refreshAt = Math.max(Date.now() + 1000, expiresAt - TOKEN_REFRESH_MARGIN_MS);
        this.window.pump();
      },
      (err: unknown) => {
        this.fetchingToken = false;
        if (this.bearer !== '' && Date.now() < this.bearerExpiresAt) {
          // The current token still works; try again a little later.
          this.refreshAt = Date.now() + 10_000;
          return;
        }
        this.window.failWaiting(mapFcmError({ code: 'app/invalid-credential', message: describe(err) }));
      },
    );
  }
}

/** The outcome of a 401 without an `FcmError` detail: FCM refused Herald's access token. */
const TIMEOUT = 'transport: request timeout';
const CLOSED = 'transport: client is closed';

function outcomeOf(p: Pending): DeliveryOutcome {
  if (p.status >= 200 && p.status < 300) {
    // FCM took the message once it said 2xx, even if the body was then cut off: never resend it.
    // `{"name": "projects/{id}/messages/{message_id}"}`; firebase-admin's `messageId` is the whole name.
    const name = /"name"\s*:\s*"([^"]*)"/.exec(bodyText(p.data))?.[1];
    return name !== undefined ? { kind: 'sent', providerMessageId: name } : { kind: 'sent' };
  }
  if (p.error !== undefined) return { kind: 'retryable', reason: `transport: ${p.error}` };
  if (p.status === 0) {
    return { kind: 'retryable', reason: `transport: stream closed with code ${p.rstCode ?? 0}` };
  }
  return mapFcmResponse(p.status, bodyText(p.data), p.captured);
}

function bodyText(data: Buffer[] | undefined): string {
  if (data === undefined) return '';
  return (data.length === 1 ? data[0] : Buffer.concat(data)).toString('utf8');
}

/**
 * A stream refused by GOAWAY or cut by a closing connection was not (fully) taken: send it again at
 * once (up to `MAX_RETRIES` times in all). A timeout is left to the caller's retry policy: FCM may well have taken that request.
 */
function resendNow(outcome: DeliveryOutcome): boolean {
  return (
    outcome.kind === 'retryable' &&
    outcome.status === undefined &&
    outcome.reason.startsWith('transport: ') &&
    outcome.reason !== TIMEOUT &&
    outcome.reason !== CLOSED &&
    // The token endpoint being unreachable is not helped by asking it again at once.
    outcome.reason !== TOKEN_EXCHANGE_FAILED
  );
}

function describe(err: unknown): string {
  if (typeof err === 'object' && err !== null && typeof (err as { message?: unknown }).message === 'string') {
    return (err as { message: string }).message;
  }
  return String(err);
}
