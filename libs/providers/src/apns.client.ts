import {
  type ClientHttp2Session,
  type ClientHttp2Stream,
  connect,
  constants,
  type IncomingHttpHeaders,
  type IncomingHttpStatusHeader,
  type OutgoingHttpHeaders,
  type SecureClientSessionOptions,
} from 'node:http2';
import { createSecureContext } from 'node:tls';
import { ApnsJwt } from './apns-jwt';
import { mapApnsFailure } from './apns-outcome.mapper';
import type { ApnsRequest } from './apns-payload.builder';
import type { ApnsCredentials } from './credentials.types';
import type { DeliveryOutcome } from './outcome';

export type ApnsEnvironment = 'sandbox' | 'production';

export interface ApnsClientOptions {
  environment: ApnsEnvironment;
  /** `HERALD_APNS_ENDPOINT`: replaces Apple's host for both environments, e.g. `https://127.0.0.1:8443`. */
  endpoint?: string;
  /** Extra trusted CAs for the endpoint (fakes, proxies); Node's default store otherwise. */
  ca?: (string | Buffer)[];
  /**
   * Streams outstanding on the HTTP/2 session, shared by every concurrent `send`. Apple advertises
   * 1,000; more only queues in memory.
   */
  maxInFlight?: number;
  /** HTTP/2 session memory in MB; Node's default (10) fails a 10k-token send outright. */
  maxSessionMemoryMb?: number;
  requestTimeoutMs?: number;
  /** Age at which the shared JWT is replaced. Apple wants 20–60 minutes. */
  jwtMaxAgeMs?: number;
  /** Injectable for tests of JWT renewal. */
  clock?: () => number;
}

export interface ApnsSendItem {
  token: string;
  request: ApnsRequest;
}

export const APNS_DEFAULTS = {
  maxInFlight: 1000,
  maxSessionMemoryMb: 64,
  requestTimeoutMs: 10_000,
  jwtMaxAgeMs: 50 * 60_000,
} as const;

const APPLE_HOSTS: Record<ApnsEnvironment, string> = {
  production: 'https://api.push.apple.com',
  sandbox: 'https://api.sandbox.push.apple.com',
};
const HEALTH_PING_MS = 60_000;

/** One `send` call (or its resend pass): the items, which of them to send, and where answers go. */
interface Batch {
  items: readonly ApnsSendItem[];
  indices?: number[];
  count: number;
  next: number;
  active: number;
  out: DeliveryOutcome[];
  resolve: () => void;
}

/** One request on the wire. It rides on its stream so the stream's listeners need no closures. */
interface Pending {
  batch: Batch;
  index: number;
  stream: ClientHttp2Stream;
  jwtGeneration: number;
  deadline: number;
  status: number;
  apnsId?: string;
  body: string;
  error?: string;
  done: boolean;
}

const PENDING = Symbol('herald.apns.pending');
const CLIENT = Symbol('herald.apns.client');
type TrackedStream = ClientHttp2Stream & { [PENDING]: Pending; [CLIENT]: ApnsClient };

/**
 * One long-lived APNs connection for one credential set and environment, on Node's `http2` directly
 * (docs/providers.md says why not `@parse/node-apn`: it costs ~2× the CPU per notification). `send`
 * returns exactly one outcome per item, in input order, and never throws for a token's failure; a
 * credential that cannot sign a JWT or open a TLS context yields a `permanent` outcome for every token.
 */
export class ApnsClient {
  private readonly setupError?: string;
  private readonly jwt?: ApnsJwt;
  private readonly clock: () => number;
  private readonly maxInFlight: number;
  private readonly jwtMaxAgeMs: number;
  private readonly requestTimeoutMs: number;
  private readonly origin: string;
  private readonly authority: string;
  private readonly connectOptions: SecureClientSessionOptions;
  private session?: ClientHttp2Session;
  private closed = false;
  private bearer = '';
  private bearerGeneration = -1;
  /** Per request object: its header template (`:path` and `authorization` set per stream) and body. */
  private readonly templates = new WeakMap<ApnsRequest, { headers: OutgoingHttpHeaders; body: Buffer }>();
  /** Batches with items not yet on the wire, oldest first: the in-flight cap is per client. */
  private readonly queue: Batch[] = [];
  private active = 0;
  private pumping = false;
  private repump = false;
  private readonly inFlight = new Set<Pending>();
  private sweeper?: NodeJS.Timeout;
  private readonly pinger: NodeJS.Timeout;

  constructor(credentials: ApnsCredentials, options: ApnsClientOptions) {
    this.clock = options.clock ?? Date.now;
    this.maxInFlight = Math.max(1, options.maxInFlight ?? APNS_DEFAULTS.maxInFlight);
    this.jwtMaxAgeMs = options.jwtMaxAgeMs ?? APNS_DEFAULTS.jwtMaxAgeMs;
    this.requestTimeoutMs = options.requestTimeoutMs ?? APNS_DEFAULTS.requestTimeoutMs;
    const url = new URL(options.endpoint ?? APPLE_HOSTS[options.environment]);
    this.origin = url.origin;
    this.authority = url.host;
    this.connectOptions = {
      maxSessionMemory: options.maxSessionMemoryMb ?? APNS_DEFAULTS.maxSessionMemoryMb,
      ...(options.ca && { ca: options.ca }),
      ...(credentials.kind === 'certificate' && {
        pfx: credentials.pfx,
        passphrase: credentials.passphrase ?? '',
      }),
    };
    try {
      if (credentials.kind === 'token') {
        this.jwt = new ApnsJwt(credentials.key, credentials.keyId, credentials.teamId, this.clock);
      } else {
        // Opens the .p12 now, so a wrong passphrase is a credential error, not a connection failure.
        createSecureContext({ pfx: credentials.pfx, passphrase: credentials.passphrase ?? '' });
      }
    } catch (err) {
      this.setupError = `credential: ${describe(err)}`;
    }
    this.pinger = setInterval(() => this.ping(), HEALTH_PING_MS).unref();
  }

  async send(items: readonly ApnsSendItem[]): Promise<DeliveryOutcome[]> {
    if (this.setupError !== undefined) {
      const reason = this.setupError;
      return items.map(() => ({ kind: 'permanent', reason }));
    }
    const out = new Array<DeliveryOutcome>(items.length);
    await this.enqueue(items, undefined, out);
    // One more try, in the same call, for answers that say "not delivered, try again now": a stream
    // refused by GOAWAY or cut by a closing session, and ExpiredProviderToken (the JWT has been
    // re-signed by then; if Apple still refuses it, the key is the problem).
    const again: number[] = [];
    for (let i = 0; i < out.length; i++) if (resendNow(out[i])) again.push(i);
    if (again.length > 0) await this.enqueue(items, again, out);
    return out;
  }

  /** Closes the HTTP/2 session (after its streams finish) and stops the health pings. */
  async close(): Promise<void> {
    this.closed = true;
    clearInterval(this.pinger);
    const session = this.session;
    this.session = undefined;
    if (!session || session.destroyed) return;
    if (!session.closed) await new Promise<void>((resolve) => session.close(resolve));
    session.destroy();
  }

  private enqueue(items: readonly ApnsSendItem[], indices: number[] | undefined, out: DeliveryOutcome[]) {
    const count = indices ? indices.length : items.length;
    if (count === 0) return Promise.resolve();
    return new Promise<void>((resolve) => {
      this.queue.push({ items, indices, count, next: 0, active: 0, out, resolve });
      this.pump();
    });
  }

  /** Puts queued items on the wire up to the cap. Re-entrant calls (a synchronous failure) just loop. */
  private pump(): void {
    if (this.pumping) {
      this.repump = true;
      return;
    }
    this.pumping = true;
    do {
      this.repump = false;
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
    const item = batch.items[index];
    let stream: ClientHttp2Stream;
    let template: { headers: OutgoingHttpHeaders; body: Buffer };
    const jwtGeneration = this.jwt ? this.renewJwtIfOld(this.jwt) : 0;
    try {
      if (this.closed) throw new Error('client is destroyed');
      template = this.templateFor(item.request);
      const headers = template.headers;
      // http2 copies the headers synchronously, so one template object serves every stream.
      headers[constants.HTTP2_HEADER_PATH] = `/3/device/${item.token}`;
      if (this.jwt) headers.authorization = this.bearer;
      stream = this.connected().request(headers);
    } catch (err) {
      this.settle(batch, index, mapApnsFailure({ error: { message: describe(err) } }));
      return;
    }
    const pending: Pending = {
      batch,
      index,
      stream,
      jwtGeneration,
      deadline: Date.now() + this.requestTimeoutMs,
      status: 0,
      body: '',
      done: false,
    };
    const tracked = stream as TrackedStream;
    tracked[PENDING] = pending;
    tracked[CLIENT] = this;
    stream.on('response', onResponse);
    stream.on('error', onError);
    stream.on('close', onClose);
    this.track(pending);
    stream.end(template.body);
  }

  /** @internal Called once per request, from its stream's `close` or from the timeout sweep. */
  finish(p: Pending): void {
    if (p.done) return;
    p.done = true;
    this.inFlight.delete(p);
    this.settle(p.batch, p.index, this.outcomeOf(p));
  }

  private outcomeOf(p: Pending): DeliveryOutcome {
    if (p.error !== undefined) return mapApnsFailure({ error: { message: p.error } });
    if (p.status === 200) return { kind: 'sent', providerMessageId: p.apnsId };
    if (p.status === 0) {
      const code = p.stream.rstCode;
      return mapApnsFailure({
        error: { message: p.stream.aborted ? 'apn write aborted' : `stream closed with code ${code}` },
      });
    }
    if (p.body === '') {
      return mapApnsFailure({
        error: { message: `stream ended unexpectedly with status ${p.status} and empty body` },
      });
    }
    let response: { reason?: string; timestamp?: number | string };
    try {
      response = JSON.parse(p.body) as typeof response;
    } catch {
      return mapApnsFailure({ error: { message: 'Unexpected error processing APNs response' } });
    }
    if (p.status === 403 && response.reason === 'ExpiredProviderToken') {
      this.jwt?.regenerate(p.jwtGeneration);
    }
    return mapApnsFailure({ status: p.status, response });
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
        q.error = 'apn write timeout';
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

  /** The live session, or a new one: after GOAWAY or an error the next request reconnects. */
  private connected(): ClientHttp2Session {
    const current = this.session;
    if (current && !current.closed && !current.destroyed) return current;
    const session = connect(this.origin, this.connectOptions);
    const retire = (): void => {
      if (this.session === session) this.session = undefined;
    };
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
    this.session = session;
    return session;
  }

  private ping(): void {
    const session = this.session;
    if (session && !session.closed && !session.destroyed && !session.connecting) {
      session.ping(() => undefined);
    }
  }

  /** Returns the JWT generation this request carries, re-signing first when Herald's age is up. */
  private renewJwtIfOld(jwt: ApnsJwt): number {
    if (this.clock() - jwt.issuedAt >= this.jwtMaxAgeMs) jwt.regenerate(jwt.generation);
    if (this.bearerGeneration !== jwt.generation) {
      this.bearer = `bearer ${jwt.current}`;
      this.bearerGeneration = jwt.generation;
    }
    return jwt.generation;
  }

  private templateFor(request: ApnsRequest): { headers: OutgoingHttpHeaders; body: Buffer } {
    let template = this.templates.get(request);
    if (!template) {
      const headers: OutgoingHttpHeaders = {
        [constants.HTTP2_HEADER_METHOD]: constants.HTTP2_METHOD_POST,
        [constants.HTTP2_HEADER_SCHEME]: 'https',
        [constants.HTTP2_HEADER_AUTHORITY]: this.authority,
        'apns-topic': request.topic,
        'apns-push-type': request.pushType,
        'apns-priority': String(request.priority),
      };
      if (request.expiration !== undefined) headers['apns-expiration'] = String(request.expiration);
      if (request.collapseId !== undefined) headers['apns-collapse-id'] = request.collapseId;
      template = { headers, body: Buffer.from(request.body) };
      this.templates.set(request, template);
    }
    return template;
  }
}

function onResponse(this: TrackedStream, headers: IncomingHttpHeaders & IncomingHttpStatusHeader): void {
  const p = this[PENDING];
  p.status = headers[':status'] ?? 0;
  const id = headers['apns-id'];
  if (typeof id === 'string') p.apnsId = id;
  if (p.status === 200) {
    // A 200 has no body worth reading; draining lets the stream close.
    this.resume();
  } else {
    this.setEncoding('utf8');
    this.on('data', onData);
  }
}

function onData(this: TrackedStream, chunk: string): void {
  this[PENDING].body += chunk;
}

function onError(this: TrackedStream, err: Error): void {
  this[PENDING].error ??= `apn write failed: ${err.message}`;
}

function onClose(this: TrackedStream): void {
  this[CLIENT].finish(this[PENDING]);
}

/**
 * A timeout is left to the caller's retry policy: APNs may well have taken that request, and a slow
 * server is not helped by an immediate second copy.
 */
function resendNow(outcome: DeliveryOutcome): boolean {
  return (
    (outcome.kind === 'permanent' && outcome.reason === 'ExpiredProviderToken') ||
    (outcome.kind === 'retryable' && outcome.status === undefined && !/timeout/i.test(outcome.reason))
  );
}

function describe(err: unknown): string {
  if (typeof err === 'object' && err !== null && typeof (err as { message?: unknown }).message === 'string') {
    return (err as { message: string }).message;
  }
  return String(err);
}
