import { createPublicKey, type KeyObject, randomUUID } from 'node:crypto';
import {
  constants,
  createSecureServer,
  type Http2SecureServer,
  type IncomingHttpHeaders,
  type ServerHttp2Session,
  type ServerHttp2Stream,
} from 'node:http2';
import type { AddressInfo } from 'node:net';
import type { TLSSocket } from 'node:tls';
import { decodeJwtHeader, verifyJwt } from './jwt.util';
import { testCerts } from './test-certs';

/** What the fake answers for one token; `times` makes it a one-off before normal answers resume. */
export interface FakeApnsScript {
  status: number;
  reason?: string;
  /** For 410: when the token became invalid (ms since epoch); defaults to the fake's clock. */
  timestamp?: number;
  retryAfterS?: number;
  /** Answer this much later than the global latency. */
  delayMs?: number;
  times?: number;
}

export const APNS_SCRIPTS = {
  unregistered: (timestamp?: number): FakeApnsScript => ({ status: 410, reason: 'Unregistered', timestamp }),
  badDeviceToken: (): FakeApnsScript => ({ status: 400, reason: 'BadDeviceToken' }),
  notForTopic: (): FakeApnsScript => ({ status: 400, reason: 'DeviceTokenNotForTopic' }),
  tooManyRequests: (retryAfterS?: number): FakeApnsScript => ({
    status: 429,
    reason: 'TooManyRequests',
    retryAfterS,
  }),
  internal: (): FakeApnsScript => ({ status: 500, reason: 'InternalServerError' }),
  unavailable: (retryAfterS?: number): FakeApnsScript => ({
    status: 503,
    reason: 'ServiceUnavailable',
    retryAfterS,
  }),
  expiredProviderToken: (times?: number): FakeApnsScript => ({
    status: 403,
    reason: 'ExpiredProviderToken',
    times,
  }),
  slow: (delayMs: number): FakeApnsScript => ({ status: 200, delayMs }),
} as const;

export interface FakeApnsOptions {
  port?: number;
  host?: string;
  /** Added to every answer, to simulate the distance to Apple. */
  latencyMs?: number;
  /** Send GOAWAY on a session after it has carried this many streams. */
  goawayAfterStreams?: number;
  /** Tokens starting with this answer 410 Unregistered (for benchmarks: no per-token scripting). */
  invalidTokenPrefix?: string;
  /** Keep every request (tests); benchmarks turn it off. */
  record?: boolean;
  /** SETTINGS_MAX_CONCURRENT_STREAMS; Apple advertises 1,000 once a connection is authorised. */
  maxConcurrentStreams?: number;
  /** The fake's clock, for JWT age and 410 timestamps. */
  clock?: () => number;
}

export interface FakeApnsRequest {
  token: string;
  topic?: string;
  pushType?: string;
  priority?: string;
  expiration?: string;
  collapseId?: string;
  /** `jwt:<n>` (n-th distinct JWT seen) or `certificate`. */
  auth: string;
  body: string;
  status: number;
  reason?: string;
  session: number;
}

export interface FakeApnsStats {
  requests: number;
  byStatus: Record<string, number>;
  distinctJwts: number;
  sessions: number;
  goaways: number;
  refusedAfterGoaway: number;
  maxConcurrentStreamsSeen: number;
}

interface RegisteredKey {
  publicKey: KeyObject;
  teamId: string;
  bundleId: string;
}

interface SessionState {
  id: number;
  streams: number;
  open: number;
  goawayAt?: number;
  certTopic?: string | null;
}

const PUSH_TYPES = new Set([
  'alert',
  'background',
  'voip',
  'complication',
  'fileprovider',
  'mdm',
  'liveactivity',
  'location',
  'pushtotalk',
  'widgets',
]);
const JWT_MAX_AGE_S = 3600;

/**
 * A fake APNs that speaks the real protocol: HTTP/2 over TLS (ALPN h2), `POST /3/device/<token>`,
 * provider-token (ES256 JWT) or client-certificate authentication, Apple's header checks and error
 * bodies. Scriptable per token; records every request; `GET /stats` answers its counters.
 */
export class FakeApnsServer {
  readonly requests: FakeApnsRequest[] = [];
  readonly ca: string;
  private readonly keys = new Map<string, RegisteredKey>();
  private readonly scripts = new Map<string, FakeApnsScript>();
  private readonly jwtIndex = new Map<string, number>();
  private readonly jwtIat = new Map<string, number>();
  private readonly sessions = new Set<ServerHttp2Session>();
  private readonly clock: () => number;
  private counters = freshCounters();
  private sessionSeq = 0;
  private url_ = '';

  private constructor(
    private readonly server: Http2SecureServer,
    private readonly options: FakeApnsOptions,
  ) {
    this.ca = testCerts().ca;
    this.clock = options.clock ?? Date.now;
  }

  static async start(options: FakeApnsOptions = {}): Promise<FakeApnsServer> {
    const certs = testCerts();
    const server = createSecureServer({
      key: certs.key,
      cert: certs.cert,
      // Client-certificate mode: ask for one, judge it per request (token mode sends none).
      ca: certs.ca,
      requestCert: true,
      rejectUnauthorized: false,
      settings: { maxConcurrentStreams: options.maxConcurrentStreams ?? 1000 },
      maxSessionMemory: 64,
    });
    const fake = new FakeApnsServer(server, options);
    server.on('session', (session) => fake.onSession(session));
    server.on('stream', (stream, headers) => fake.onStream(stream, headers));
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(options.port ?? 0, options.host ?? '127.0.0.1', () => resolve());
    });
    const { port } = server.address() as AddressInfo;
    fake.url_ = `https://127.0.0.1:${port}`;
    return fake;
  }

  /** Base URL, for `HERALD_APNS_ENDPOINT`. */
  get url(): string {
    return this.url_;
  }

  registerKey(key: { keyId: string; teamId: string; bundleId: string; publicKey: string }): void {
    this.keys.set(key.keyId, {
      publicKey: createPublicKey(key.publicKey),
      teamId: key.teamId,
      bundleId: key.bundleId,
    });
  }

  script(token: string, script: FakeApnsScript): void {
    this.scripts.set(token, { ...script });
  }

  setLatency(ms: number): void {
    this.options.latencyMs = ms;
  }

  setGoawayAfter(streams: number | undefined): void {
    this.options.goawayAfterStreams = streams;
  }

  stats(): FakeApnsStats {
    return { ...this.counters, byStatus: { ...this.counters.byStatus }, distinctJwts: this.jwtIndex.size };
  }

  reset(): void {
    this.requests.length = 0;
    this.scripts.clear();
    this.jwtIndex.clear();
    this.jwtIat.clear();
    this.counters = freshCounters();
  }

  async close(): Promise<void> {
    for (const s of this.sessions) s.destroy();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  private onSession(session: ServerHttp2Session): void {
    const state: SessionState = { id: ++this.sessionSeq, streams: 0, open: 0 };
    (session as ServerHttp2Session & { heraldState?: SessionState }).heraldState = state;
    this.sessions.add(session);
    this.counters.sessions += 1;
    session.on('close', () => this.sessions.delete(session));
    session.on('error', () => undefined);
  }

  private onStream(stream: ServerHttp2Stream, headers: IncomingHttpHeaders): void {
    stream.on('error', () => undefined);
    const session = stream.session as (ServerHttp2Session & { heraldState?: SessionState }) | undefined;
    const state = session?.heraldState;
    if (!session || !state) return;
    const streamId = stream.id ?? 0;
    if (state.goawayAt !== undefined && streamId > state.goawayAt) {
      // Past the GOAWAY's last stream id: never processed, the client must send it again.
      this.counters.refusedAfterGoaway += 1;
      stream.close(constants.NGHTTP2_REFUSED_STREAM);
      return;
    }
    if (headers[':method'] === 'GET' && headers[':path'] === '/stats') {
      stream.respond({ ':status': 200, 'content-type': 'application/json' });
      stream.end(JSON.stringify(this.stats()));
      return;
    }
    state.streams += 1;
    state.open += 1;
    this.counters.maxConcurrentStreamsSeen = Math.max(this.counters.maxConcurrentStreamsSeen, state.open);
    const goaway = this.options.goawayAfterStreams;
    if (goaway !== undefined && state.streams === goaway && state.goawayAt === undefined) {
      state.goawayAt = streamId;
      this.counters.goaways += 1;
      session.goaway(constants.NGHTTP2_NO_ERROR, streamId);
    }
    const chunks: Buffer[] = [];
    stream.on('data', (c: Buffer) => chunks.push(c));
    stream.on('end', () => {
      const body = Buffer.concat(chunks).toString('utf8');
      const answer = this.judge(session, state, headers, body);
      const delay = (this.options.latencyMs ?? 0) + (answer.delayMs ?? 0);
      const reply = (): void => {
        state.open -= 1;
        this.respond(stream, headers, answer);
      };
      if (delay > 0) setTimeout(reply, delay);
      else reply();
    });
  }

  private judge(
    session: ServerHttp2Session,
    state: SessionState,
    headers: IncomingHttpHeaders,
    body: string,
  ): FakeApnsScript & { auth: string } {
    const path = String(headers[':path'] ?? '');
    const token = path.startsWith('/3/device/') ? path.slice('/3/device/'.length) : '';
    const record = (answer: FakeApnsScript, auth: string): FakeApnsScript & { auth: string } => {
      this.counters.requests += 1;
      this.counters.byStatus[answer.status] = (this.counters.byStatus[answer.status] ?? 0) + 1;
      if (this.options.record !== false) {
        this.requests.push({
          token,
          topic: str(headers['apns-topic']),
          pushType: str(headers['apns-push-type']),
          priority: str(headers['apns-priority']),
          expiration: str(headers['apns-expiration']),
          collapseId: str(headers['apns-collapse-id']),
          auth,
          body,
          status: answer.status,
          reason: answer.reason,
          session: state.id,
        });
      }
      return { ...answer, auth };
    };

    if (headers[':method'] !== 'POST') return record({ status: 405, reason: 'MethodNotAllowed' }, 'none');
    if (!path.startsWith('/3/device/')) return record({ status: 404, reason: 'BadPath' }, 'none');

    const auth = this.authenticate(session, state, headers);
    if ('status' in auth) return record(auth, 'none');

    const topic = str(headers['apns-topic']);
    const pushType = str(headers['apns-push-type']);
    if (!topic) return record({ status: 400, reason: 'MissingTopic' }, auth.label);
    if (!pushType || !PUSH_TYPES.has(pushType))
      return record({ status: 400, reason: 'InvalidPushType' }, auth.label);
    if (!topicAllowed(auth.bundleId, topic, pushType))
      return record({ status: 400, reason: 'TopicDisallowed' }, auth.label);
    const priority = str(headers['apns-priority']);
    if (priority !== undefined && !['1', '5', '10'].includes(priority)) {
      return record({ status: 400, reason: 'BadPriority' }, auth.label);
    }
    if (pushType === 'background' && priority === '10')
      return record({ status: 400, reason: 'BadPriority' }, auth.label);
    const expiration = str(headers['apns-expiration']);
    if (expiration !== undefined && !/^\d+$/.test(expiration)) {
      return record({ status: 400, reason: 'BadExpirationDate' }, auth.label);
    }
    const collapseId = str(headers['apns-collapse-id']);
    if (collapseId !== undefined && Buffer.byteLength(collapseId) > 64) {
      return record({ status: 400, reason: 'BadCollapseId' }, auth.label);
    }
    if (!/^[0-9a-f]{64,200}$/i.test(token))
      return record({ status: 400, reason: 'BadDeviceToken' }, auth.label);
    const limit = pushType === 'voip' ? 5120 : 4096;
    if (Buffer.byteLength(body) > limit)
      return record({ status: 413, reason: 'PayloadTooLarge' }, auth.label);
    if (!isJsonObject(body)) return record({ status: 400, reason: 'PayloadEmpty' }, auth.label);

    const script = this.scripts.get(token);
    if (script) {
      if (script.times !== undefined) {
        script.times -= 1;
        if (script.times <= 0) this.scripts.delete(token);
      }
      return record(script, auth.label);
    }
    if (this.options.invalidTokenPrefix && token.startsWith(this.options.invalidTokenPrefix)) {
      return record({ status: 410, reason: 'Unregistered' }, auth.label);
    }
    return record({ status: 200 }, auth.label);
  }

  private authenticate(
    session: ServerHttp2Session,
    state: SessionState,
    headers: IncomingHttpHeaders,
  ): { label: string; bundleId: string } | FakeApnsScript {
    const authorization = str(headers.authorization);
    if (!authorization) {
      const topic = this.certificateTopic(session, state);
      return topic
        ? { label: 'certificate', bundleId: topic }
        : { status: 403, reason: 'MissingProviderToken' };
    }
    const jwt = authorization.replace(/^bearer /i, '');
    const header = decodeJwtHeader(jwt);
    const key = typeof header?.kid === 'string' ? this.keys.get(header.kid) : undefined;
    if (!key) return { status: 403, reason: 'InvalidProviderToken' };
    let n = this.jwtIndex.get(jwt);
    if (n === undefined) {
      const decoded = verifyJwt(jwt, key.publicKey, 'ES256');
      if (!decoded || decoded.payload.iss !== key.teamId || typeof decoded.payload.iat !== 'number') {
        return { status: 403, reason: 'InvalidProviderToken' };
      }
      n = this.jwtIndex.size + 1;
      this.jwtIndex.set(jwt, n);
      this.jwtIat.set(jwt, decoded.payload.iat);
    }
    const iat = this.jwtIat.get(jwt) ?? 0;
    if (this.clock() / 1000 - iat > JWT_MAX_AGE_S) return { status: 403, reason: 'ExpiredProviderToken' };
    return { label: `jwt:${n}`, bundleId: key.bundleId };
  }

  private certificateTopic(session: ServerHttp2Session, state: SessionState): string | null {
    if (state.certTopic === undefined) {
      const socket = session.socket as TLSSocket;
      const cert = socket.authorized ? socket.getPeerCertificate() : undefined;
      const uid =
        cert && 'subject' in cert ? (cert.subject as unknown as Record<string, string>).UID : undefined;
      state.certTopic = uid ?? null;
    }
    return state.certTopic;
  }

  private respond(stream: ServerHttp2Stream, headers: IncomingHttpHeaders, answer: FakeApnsScript): void {
    if (stream.destroyed || stream.closed) return;
    const apnsId = str(headers['apns-id']) ?? randomUUID();
    if (answer.status === 200) {
      stream.respond({ ':status': 200, 'apns-id': apnsId }, { endStream: true });
      return;
    }
    const out: Record<string, string | number> = {
      ':status': answer.status,
      'apns-id': apnsId,
      'content-type': 'application/json',
    };
    if (answer.retryAfterS !== undefined) out['retry-after'] = answer.retryAfterS;
    stream.respond(out);
    const body: Record<string, unknown> = { reason: answer.reason ?? 'InternalServerError' };
    if (answer.status === 410) body.timestamp = answer.timestamp ?? this.clock();
    stream.end(JSON.stringify(body));
  }
}

function freshCounters(): Omit<FakeApnsStats, 'distinctJwts'> {
  return {
    requests: 0,
    byStatus: {},
    sessions: 0,
    goaways: 0,
    refusedAfterGoaway: 0,
    maxConcurrentStreamsSeen: 0,
  };
}

function str(v: string | string[] | undefined): string | undefined {
  return Array.isArray(v) ? v[0] : v;
}

function topicAllowed(bundleId: string, topic: string, pushType: string): boolean {
  switch (pushType) {
    case 'voip':
      return topic === `${bundleId}.voip`;
    case 'liveactivity':
      return topic === `${bundleId}.push-type.liveactivity`;
    case 'complication':
      return topic === `${bundleId}.complication`;
    case 'fileprovider':
      return topic === `${bundleId}.pushkit.fileprovider`;
    case 'location':
      return topic === `${bundleId}.location-query`;
    case 'pushtotalk':
      return topic === `${bundleId}.voip-ptt`;
    default:
      return topic === bundleId;
  }
}

function isJsonObject(body: string): boolean {
  if (body.length === 0) return false;
  try {
    const v: unknown = JSON.parse(body);
    return typeof v === 'object' && v !== null && !Array.isArray(v);
  } catch {
    return false;
  }
}
