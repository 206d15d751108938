import {
  type ClientHttp2Session,
  type ClientHttp2Stream,
  connect,
  constants,
  type IncomingHttpHeaders,
  type IncomingHttpStatusHeader,
  type OutgoingHttpHeaders,
  type SecureClientSessionOptions,
  type Settings,
} from 'node:http2';
import type { Agent } from 'node:https';
import { Agent as HttpsAgent } from 'node:https';
import type { Credential, GoogleOAuthAccessToken } from 'firebase-admin/app';
import type { FcmServiceAccount } from './credentials.types';
import { EndpointAgent } from './endpoint.agent';
import type { FcmMessage } from './fcm-payload.builder';
import { mapFcmError, mapFcmResponse } from './fcm-outcome.mapper';
import { FcmRequestBodies } from './fcm-request.body';
import { GoogleTokenExchange } from './google-token.exchange';
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
  /** HTTP/2 session memory in MB (Node's default, 10, is too small for hundreds of streams). */
  maxSessionMemoryMb?: number;
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
  maxSessionMemoryMb: 32,
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

/** One `send` call (or one of its retry passes): the messages, which of them to send, where answers go. */
interface Batch {
  messages: readonly FcmMessage[];
  indices?: number[];
  count: number;
  next: number;
  active: number;
  out: DeliveryOutcome[];
  bodies: FcmRequestBodies;
  resolve: () => void;
}

/** One HTTP/2 connection and the streams it carries. */
interface Connection {
  session: ClientHttp2Session;
  active: number;
  /** min(our cap, the server's SETTINGS_MAX_CONCURRENT_STREAMS once known). */
  cap: number;
  live: boolean;
}

/** One request on the wire. It rides on its stream, so the stream's listeners need no closures. */
interface Pending {
  client: FcmClient;
  batch: Batch;
  index: number;
  conn: Connection;
  stream: ClientHttp2Stream;
  deadline: number;
  status: number;
  retryAfter?: string;
  body: string;
  error?: string;
  done: boolean;
}

const PENDING = Symbol('herald.fcm.pending');
type TrackedStream = ClientHttp2Stream & { [PENDING]: Pending };

/**
 * One long-lived FCM HTTP v1 sender for one service account: `POST /v1/projects/{id}/messages:send`
 * over Node's `http2`, ≤ 100 streams per connection, `maxInFlight` messages in flight for the whole
 * client. The OAuth access token comes from `ServiceAccountCredential` and is reused until five minutes
 * before it expires. `send` returns exactly one outcome per message, in input order, and never throws
 * for a message's failure.
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
  private readonly headers: OutgoingHttpHeaders;
  private readonly connectOptions: SecureClientSessionOptions;
  private readonly maxInFlight: number;
  private readonly streamsPerSession: number;
  private readonly requestTimeoutMs: number;
  private readonly connections: Connection[] = [];
  private readonly queue: Batch[] = [];
  private readonly inFlight = new Set<Pending>();
  private active = 0;
  private pumping = false;
  private repump = false;
  private closed = false;
  private bearer = '';
  private bearerExpiresAt = 0;
  private refreshAt = 0;
  private fetchingToken = false;
  private sweeper?: NodeJS.Timeout;
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
    this.maxInFlight = Math.max(1, options.maxInFlight ?? FCM_DEFAULTS.maxInFlight);
    this.streamsPerSession = Math.max(1, options.maxStreamsPerSession ?? FCM_DEFAULTS.maxStreamsPerSession);
    this.requestTimeoutMs = options.requestTimeoutMs ?? FCM_DEFAULTS.requestTimeoutMs;
    this.connectOptions = {
      maxSessionMemory: options.maxSessionMemoryMb ?? FCM_DEFAULTS.maxSessionMemoryMb,
      peerMaxConcurrentStreams: this.streamsPerSession,
      ...(options.ca && { ca: options.ca }),
    };
    this.headers = {
      [constants.HTTP2_HEADER_METHOD]: constants.HTTP2_METHOD_POST,
      [constants.HTTP2_HEADER_SCHEME]: url.protocol === 'http:' ? 'http' : 'https',
      [constants.HTTP2_HEADER_AUTHORITY]: url.host,
      [constants.HTTP2_HEADER_PATH]: `/v1/projects/${encodeURIComponent(account.project_id)}/messages:send`,
      [constants.HTTP2_HEADER_CONTENT_TYPE]: 'application/json',
      authorization: '',
    };
    this.pinger = setInterval(() => this.ping(), HEALTH_PING_MS).unref();
  }

  /** Exactly one outcome per message, in input order; never throws for a message's failure. */
  async send(messages: readonly FcmMessage[]): Promise<DeliveryOutcome[]> {
    const out = new Array<DeliveryOutcome>(messages.length);
    await this.enqueue(messages, undefined, out);
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
      await this.enqueue(messages, again, out);
    }
    return out;
  }

  /** Closes the HTTP/2 connections (after their streams finish) and the token exchange's sockets. */
  async close(): Promise<void> {
    this.closed = true;
    clearInterval(this.pinger);
    if (this.sweeper) clearInterval(this.sweeper);
    this.sweeper = undefined;
    const conns = this.connections.splice(0);
    await Promise.all(
      conns.map(async ({ session }) => {
        if (session.destroyed) return;
        if (!session.closed) await new Promise<void>((resolve) => session.close(resolve));
        session.destroy();
      }),
    );
    this.tokenAgent.destroy();
    // Anything still queued (a send racing close) gets an answer rather than waiting forever.
    this.pump();
  }

  private enqueue(messages: readonly FcmMessage[], indices: number[] | undefined, out: DeliveryOutcome[]) {
    const count = indices ? indices.length : messages.length;
    if (count === 0) return Promise.resolve();
    return new Promise<void>((resolve) => {
      const bodies = new FcmRequestBodies();
      this.queue.push({ messages, indices, count, next: 0, active: 0, out, bodies, resolve });
      this.pump();
    });
  }

  /** Puts queued messages on the wire up to the cap. Re-entrant calls (a synchronous failure) loop. */
  private pump(): void {
    if (this.pumping) {
      this.repump = true;
      return;
    }
    this.pumping = true;
    do {
      this.repump = false;
      if (this.queue.length === 0) break;
      if (!this.closed && !this.haveToken()) break;
      while (this.active < this.maxInFlight && this.queue.length > 0) {
        const batch = this.queue[0];
        const index = batch.indices ? batch.indices[batch.next] : batch.next;
        batch.next += 1;
        if (batch.next === batch.count) this.queue.shift();
        batch.active += 1;
        this.active += 1;
        this.fire(batch, index);
      }
    } while (this.repump);
    this.pumping = false;
  }

  private fire(batch: Batch, index: number): void {
    if (this.closed) {
      this.settle(batch, index, { kind: 'retryable', reason: CLOSED });
      return;
    }
    const built = batch.bodies.bodyFor(batch.messages[index]);
    if (!built.ok) {
      this.settle(batch, index, { kind: 'permanent', reason: built.reason });
      return;
    }
    let conn: Connection;
    let stream: ClientHttp2Stream;
    try {
      conn = this.connection();
      // http2 copies the headers synchronously, so one object serves every stream.
      this.headers.authorization = this.bearer;
      stream = conn.session.request(this.headers);
    } catch (err) {
      this.settle(batch, index, { kind: 'retryable', reason: `transport: ${describe(err)}` });
      return;
    }
    conn.active += 1;
    const pending: Pending = {
      client: this,
      batch,
      index,
      conn,
      stream,
      deadline: Date.now() + this.requestTimeoutMs,
      status: 0,
      body: '',
      done: false,
    };
    (stream as TrackedStream)[PENDING] = pending;
    stream.on('response', onResponse);
    stream.on('data', onData);
    stream.on('error', onError);
    stream.on('close', onClose);
    this.track(pending);
    stream.end(built.body);
  }

  /** @internal Called once per request, from its stream's `close` or from the timeout sweep. */
  finish(p: Pending): void {
    if (p.done) return;
    p.done = true;
    p.conn.active -= 1;
    this.inFlight.delete(p);
    this.settle(p.batch, p.index, this.outcomeOf(p));
  }

  private outcomeOf(p: Pending): DeliveryOutcome {
    if (p.error !== undefined) return { kind: 'retryable', reason: `transport: ${p.error}` };
    if (p.status >= 200 && p.status < 300) {
      // `{"name": "projects/{id}/messages/{message_id}"}`; firebase-admin's `messageId` is the whole name.
      const name = /"name"\s*:\s*"([^"]*)"/.exec(p.body)?.[1];
      return name !== undefined ? { kind: 'sent', providerMessageId: name } : { kind: 'sent' };
    }
    if (p.status === 0) {
      const code = p.stream.rstCode;
      return {
        kind: 'retryable',
        reason: `transport: ${p.stream.aborted ? 'stream aborted' : `stream closed with code ${code}`}`,
      };
    }
    return mapFcmResponse(p.status, p.body, p.retryAfter);
  }

  private settle(batch: Batch, index: number, outcome: DeliveryOutcome): void {
    batch.out[index] = outcome;
    batch.active -= 1;
    this.active -= 1;
    if (batch.active === 0 && batch.next === batch.count) batch.resolve();
    this.pump();
  }

  /** Request timeouts: one sweep over what is in flight instead of a timer per stream. */
  private track(p: Pending): void {
    this.inFlight.add(p);
    if (this.sweeper) return;
    const every = Math.min(1000, Math.max(20, Math.floor(this.requestTimeoutMs / 4)));
    this.sweeper = setInterval(() => {
      const now = Date.now();
      for (const q of this.inFlight) {
        if (q.deadline > now) continue;
        q.error = 'request timeout';
        this.finish(q);
        q.stream.close(constants.NGHTTP2_CANCEL);
      }
      if (this.inFlight.size === 0 && this.sweeper) {
        clearInterval(this.sweeper);
        this.sweeper = undefined;
      }
    }, every);
    this.sweeper.unref();
  }

  /** A connection with a free stream, filling one before opening the next; GOAWAY retires one. */
  private connection(): Connection {
    for (const c of this.connections) if (c.active < c.cap) return c;
    const session = connect(this.origin, this.connectOptions);
    const conn: Connection = { session, active: 0, cap: this.streamsPerSession, live: true };
    const retire = (): void => {
      if (!conn.live) return;
      conn.live = false;
      const at = this.connections.indexOf(conn);
      if (at >= 0) this.connections.splice(at, 1);
      // Requests waiting for a stream can go out on another connection.
      this.pump();
    };
    session.on('remoteSettings', (settings: Settings) => {
      conn.cap = Math.max(1, Math.min(this.streamsPerSession, settings.maxConcurrentStreams ?? Infinity));
    });
    // Streams report their own failures; the session only has to be retired.
    session.on('error', () => {
      retire();
      session.destroy();
    });
    session.on('goaway', () => {
      retire();
      if (!session.closed) session.close();
    });
    session.on('frameError', () => {
      retire();
      if (!session.closed) session.close();
    });
    session.on('close', retire);
    this.connections.push(conn);
    return conn;
  }

  private ping(): void {
    for (const { session } of this.connections) {
      if (!session.closed && !session.destroyed && !session.connecting) session.ping(() => undefined);
    }
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
        this.bearerExpiresAt = expiresAt;
        this.refreshAt = Math.max(Date.now() + 1000, expiresAt - TOKEN_REFRESH_MARGIN_MS);
        this.pump();
      },
      (err: unknown) => {
        this.fetchingToken = false;
        if (this.bearer !== '' && Date.now() < this.bearerExpiresAt) {
          // The current token still works; try again a little later.
          this.refreshAt = Date.now() + 10_000;
          return;
        }
        this.failQueued(mapFcmError({ code: 'app/invalid-credential', message: describe(err) }));
      },
    );
  }

  /** Answers every message not yet on the wire with `outcome` (the access token cannot be had). */
  private failQueued(outcome: DeliveryOutcome): void {
    const batches = this.queue.splice(0);
    for (const batch of batches) {
      while (batch.next < batch.count) {
        const index = batch.indices ? batch.indices[batch.next] : batch.next;
        batch.next += 1;
        batch.out[index] = outcome;
      }
      if (batch.active === 0) batch.resolve();
    }
  }
}

/** The outcome of a 401 without an `FcmError` detail: FCM refused Herald's access token. */
const TOKEN_REFUSED = 'credential: UNAUTHENTICATED';
const TIMEOUT = 'transport: request timeout';
const CLOSED = 'transport: client is closed';

function onResponse(this: TrackedStream, headers: IncomingHttpHeaders & IncomingHttpStatusHeader): void {
  const p = this[PENDING];
  p.status = headers[':status'] ?? 0;
  const retryAfter = headers['retry-after'];
  if (typeof retryAfter === 'string') p.retryAfter = retryAfter;
}

function onData(this: TrackedStream, chunk: Buffer): void {
  this[PENDING].body += chunk.toString('utf8');
}

function onError(this: TrackedStream, err: Error): void {
  this[PENDING].error ??= describe(err);
}

function onClose(this: TrackedStream): void {
  const p = this[PENDING];
  p.client.finish(p);
}

/**
 * A stream refused by GOAWAY or cut by a closing connection was not (fully) taken: send it again once,
 * now. A timeout is left to the caller's retry policy: FCM may well have taken that request.
 */
function resendNow(outcome: DeliveryOutcome): boolean {
  return (
    outcome.kind === 'retryable' &&
    outcome.status === undefined &&
    outcome.reason.startsWith('transport: ') &&
    outcome.reason !== TIMEOUT &&
    outcome.reason !== CLOSED &&
    // The token endpoint being unreachable is not helped by asking it again at once.
    outcome.reason !== 'transport: token exchange failed'
  );
}

function describe(err: unknown): string {
  if (typeof err === 'object' && err !== null && typeof (err as { message?: unknown }).message === 'string') {
    return (err as { message: string }).message;
  }
  return String(err);
}
