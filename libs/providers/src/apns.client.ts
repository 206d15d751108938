import { createSecureContext, type SecureContext } from 'node:tls';
import { DeadlineSweep, RequestWindow, type WindowBatch } from './request-window';
import { encodeLiteral } from './hpack';
import { Http2Connection, type Http2ConnectionHandler, type Http2Exchange } from './http2.connection';
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
  requestTimeoutMs: 10_000,
  jwtMaxAgeMs: 50 * 60_000,
} as const;

const APPLE_HOSTS: Record<ApnsEnvironment, string> = {
  production: 'https://api.push.apple.com',
  sandbox: 'https://api.sandbox.push.apple.com',
};
const HEALTH_PING_MS = 60_000;

type Batch = WindowBatch<ApnsSendItem>;

/** One request on the wire: the connection's exchange plus where its answer goes. */
interface Pending extends Http2Exchange {
  batch: Batch;
  index: number;
  connection?: Http2Connection;
  jwtGeneration: number;
  deadline: number;
  done: boolean;
}

/** Per request object: the header block without `authorization` and `:path`, and the body. */
interface Template {
  headers: Buffer;
  body: Buffer;
  /** `headers` plus the current bearer, for `generation`. */
  withAuth?: Buffer;
  generation: number;
}

/**
 * One long-lived APNs connection for one credential set and environment, on Herald's own minimal HTTP/2
 * client (`Http2Connection`: one socket write per tick for every request of a burst, no per-stream
 * objects; Node 20's `http2` costs ~60 µs of CPU per request, docs/providers.md). `send`
 * returns exactly one outcome per item, in input order, and never throws for a token's failure; a
 * credential that cannot sign a JWT or open a TLS context yields a `permanent` outcome for every token.
 */
export class ApnsClient {
  private readonly setupError?: string;
  private readonly jwt?: ApnsJwt;
  private readonly clock: () => number;
  private readonly jwtMaxAgeMs: number;
  private readonly origin: string;
  private readonly authority: string;
  private readonly tlsOptions: { ca?: (string | Buffer)[]; pfx?: Buffer | string; passphrase?: string };
  private secureContext?: SecureContext;
  private connection?: Http2Connection;
  private readonly events: Http2ConnectionHandler;
  private closed = false;
  /** `authorization: bearer <jwt>` as header block bytes, for `bearerGeneration`. */
  private bearer: Buffer = Buffer.alloc(0);
  private bearerGeneration = -1;
  private readonly templates = new WeakMap<ApnsRequest, Template>();
  /** The in-flight cap is per client, shared by concurrent sends. */
  private readonly window: RequestWindow<ApnsSendItem>;
  private readonly deadlines: DeadlineSweep<Pending>;
  private readonly pinger: NodeJS.Timeout;

  constructor(credentials: ApnsCredentials, options: ApnsClientOptions) {
    this.clock = options.clock ?? Date.now;
    this.jwtMaxAgeMs = options.jwtMaxAgeMs ?? APNS_DEFAULTS.jwtMaxAgeMs;
    this.window = new RequestWindow(Math.max(1, options.maxInFlight ?? APNS_DEFAULTS.maxInFlight), (b, i) =>
      this.fire(b, i),
    );
    this.deadlines = new DeadlineSweep(options.requestTimeoutMs ?? APNS_DEFAULTS.requestTimeoutMs, (q) => {
      q.error = 'apn write timeout';
      const connection = q.connection;
      connection?.cancel(q);
      this.finish(q);
      // A connection that never came up is dropped, so the next request dials again.
      if (connection && !connection.connected) connection.destroy('no connection within the request timeout');
    });
    const url = new URL(options.endpoint ?? APPLE_HOSTS[options.environment]);
    this.origin = url.origin;
    this.authority = url.host;
    this.tlsOptions = {
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
        this.secureContext = createSecureContext(this.tlsOptions);
      }
    } catch (err) {
      this.setupError = `credential: ${describe(err)}`;
    }
    this.events = {
      onDone: (x) => {
        if (x.error !== undefined) x.error = `apn write failed: ${x.error}`;
        this.finish(x as Pending);
      },
      onRetire: (connection) => {
        if (this.connection === connection) this.connection = undefined;
      },
    };
    this.pinger = setInterval(() => this.ping(), HEALTH_PING_MS).unref();
  }

  async send(items: readonly ApnsSendItem[]): Promise<DeliveryOutcome[]> {
    if (this.setupError !== undefined) {
      const reason = this.setupError;
      return items.map(() => ({ kind: 'permanent', reason }));
    }
    const out = new Array<DeliveryOutcome>(items.length);
    await this.window.run({ items, out });
    // One more try, in the same call, for answers that say "not delivered, try again now": a stream
    // refused by GOAWAY or cut by a closing session, and ExpiredProviderToken (the JWT has been
    // re-signed by then; if Apple still refuses it, the key is the problem).
    const again: number[] = [];
    for (let i = 0; i < out.length; i++) if (resendNow(out[i])) again.push(i);
    if (again.length > 0) await this.window.run({ items, indices: again, out });
    return out;
  }

  /** Closes the HTTP/2 connection (after its streams finish) and stops the health pings. */
  async close(): Promise<void> {
    this.closed = true;
    clearInterval(this.pinger);
    const connection = this.connection;
    this.connection = undefined;
    if (connection) await connection.close();
  }

  private fire(batch: Batch, index: number): void {
    const item = batch.items[index];
    if (this.closed) {
      this.window.settle(batch, index, mapApnsFailure({ error: { message: 'client is destroyed' } }));
      return;
    }
    const jwtGeneration = this.jwt ? this.renewJwtIfOld(this.jwt) : 0;
    const template = this.templateFor(item.request);
    let headers = template.headers;
    if (this.jwt) {
      if (template.generation !== this.bearerGeneration || !template.withAuth) {
        template.withAuth = Buffer.concat([template.headers, this.bearer]);
        template.generation = this.bearerGeneration;
      }
      headers = template.withAuth;
    }
    // Written out as one literal on purpose: built by spreading a shared `Http2Exchange` factory, the
    // request object lost its fast shape and the client cost 3× the CPU (docs/benchmarks.md).
    const p: Pending = {
      headerPrefix: headers,
      path: `/3/device/${item.token}`,
      body: template.body,
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
      connection: undefined,
      jwtGeneration,
      deadline: 0,
      done: false,
    };
    this.deadlines.add(p);
    let connection = this.connected();
    if (!connection.request(p)) {
      // Retired just now (stream ids used up): the next connection takes it.
      connection = this.connected();
      if (!connection.request(p)) {
        p.error = 'apn write failed: no connection';
        this.finish(p);
        return;
      }
    }
    p.connection = connection;
  }

  /** Called once per request: when the connection answers or fails it, or from the timeout sweep. */
  private finish(p: Pending): void {
    if (p.done) return;
    p.done = true;
    this.deadlines.delete(p);
    this.window.settle(p.batch, p.index, this.outcomeOf(p));
  }

  private outcomeOf(p: Pending): DeliveryOutcome {
    if (p.error !== undefined) return mapApnsFailure({ error: { message: p.error } });
    if (p.status === 200) return { kind: 'sent', providerMessageId: p.captured };
    if (p.status === 0) {
      return mapApnsFailure({ error: { message: `stream closed with code ${p.rstCode ?? 0}` } });
    }
    const body = p.data ? Buffer.concat(p.data).toString('utf8') : '';
    if (body === '') {
      return mapApnsFailure({
        error: { message: `stream ended unexpectedly with status ${p.status} and empty body` },
      });
    }
    let response: { reason?: string; timestamp?: number | string };
    try {
      response = JSON.parse(body) as typeof response;
    } catch {
      return mapApnsFailure({ error: { message: 'Unexpected error processing APNs response' } });
    }
    if (p.status === 403 && response.reason === 'ExpiredProviderToken') {
      this.jwt?.regenerate(p.jwtGeneration);
    }
    return mapApnsFailure({ status: p.status, response });
  }

  /** The live connection, or a new one: after GOAWAY or an error the next request reconnects. */
  private connected(): Http2Connection {
    if (this.connection) return this.connection;
    this.secureContext ??= createSecureContext(this.tlsOptions);
    const connection = new Http2Connection(
      { origin: this.origin, tls: { secureContext: this.secureContext }, captureHeader: 'apns-id' },
      this.events,
    );
    this.connection = connection;
    return connection;
  }

  private ping(): void {
    this.connection?.ping();
  }

  /** Returns the JWT generation this request carries, re-signing first when Herald's age is up. */
  private renewJwtIfOld(jwt: ApnsJwt): number {
    if (this.clock() - jwt.issuedAt >= this.jwtMaxAgeMs) jwt.regenerate(jwt.generation);
    if (this.bearerGeneration !== jwt.generation) {
      this.bearer = encodeLiteral('authorization', `bearer ${jwt.current}`);
      this.bearerGeneration = jwt.generation;
    }
    return jwt.generation;
  }

  private templateFor(request: ApnsRequest): Template {
    let template = this.templates.get(request);
    if (!template) {
      const fields = [
        Http2Connection.postPrefix(this.authority),
        encodeLiteral('apns-topic', request.topic),
        encodeLiteral('apns-push-type', request.pushType),
        encodeLiteral('apns-priority', String(request.priority)),
      ];
      if (request.expiration !== undefined) {
        fields.push(encodeLiteral('apns-expiration', String(request.expiration)));
      }
      if (request.collapseId !== undefined)
        fields.push(encodeLiteral('apns-collapse-id', request.collapseId));
      template = { headers: Buffer.concat(fields), body: Buffer.from(request.body), generation: -1 };
      this.templates.set(request, template);
    }
    return template;
  }
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
