import { createPublicKey, type KeyObject, randomBytes } from 'node:crypto';
import { createServer as createHttpServer, type IncomingMessage, type ServerResponse } from 'node:http';
import {
  constants,
  createSecureServer,
  createServer as createH2cServer,
  type IncomingHttpHeaders,
  type ServerHttp2Session,
  type ServerHttp2Stream,
} from 'node:http2';
import { type AddressInfo, createServer as createNetServer, type Server, type Socket } from 'node:net';
import { Duplex } from 'node:stream';
import { verifyJwt } from './jwt.util';
import { testCerts } from './test-certs';

export type FcmErrorCode =
  | 'UNREGISTERED'
  | 'INVALID_ARGUMENT'
  | 'SENDER_ID_MISMATCH'
  | 'QUOTA_EXCEEDED'
  | 'UNAVAILABLE'
  | 'INTERNAL'
  | 'THIRD_PARTY_AUTH_ERROR';

/** What the fake answers for one token; `times` makes it a one-off before normal answers resume. */
export interface FakeFcmScript {
  errorCode?: FcmErrorCode;
  retryAfterS?: number;
  delayMs?: number;
  times?: number;
}

export interface FakeFcmOptions {
  port?: number;
  host?: string;
  /** Plain TCP instead of TLS: HTTP/2 with prior knowledge (h2c) and HTTP/1.1 on the same port. */
  tls?: boolean;
  /** SETTINGS_MAX_CONCURRENT_STREAMS; FCM allows 100 per connection. */
  maxConcurrentStreams?: number;
  /** Send GOAWAY on an HTTP/2 connection after it has carried this many streams. */
  goawayAfterStreams?: number;
  latencyMs?: number;
  /** Tokens starting with this answer UNREGISTERED. */
  invalidTokenPrefix?: string;
  record?: boolean;
}

export interface FakeFcmRequest {
  token?: string;
  message: Record<string, unknown>;
  status: number;
  errorCode?: string;
}

export interface FakeFcmStats {
  requests: number;
  tokenExchanges: number;
  accessTokensIssued: number;
  byStatus: Record<string, number>;
  connections: number;
  /** Requests that arrived over HTTP/2 (the rest came over HTTP/1.1). */
  http2Requests: number;
  /** The most streams open at once on one HTTP/2 connection. */
  maxConcurrentStreamsSeen: number;
  goaways: number;
  refusedAfterGoaway: number;
}

interface SessionState {
  streams: number;
  open: number;
  goawayAt?: number;
}
type TrackedSession = ServerHttp2Session & { heraldState?: SessionState };

/** One answer, whichever protocol carried the request. */
type Reply = (status: number, body: unknown, headers?: Record<string, string>) => void;

/** google.rpc.Status for each FCM error, as FCM HTTP v1 sends it. */
const ERRORS: Record<FcmErrorCode, { code: number; status: string; message: string }> = {
  UNREGISTERED: { code: 404, status: 'NOT_FOUND', message: 'Requested entity was not found.' },
  INVALID_ARGUMENT: {
    code: 400,
    status: 'INVALID_ARGUMENT',
    message: 'The registration token is not a valid FCM registration token',
  },
  SENDER_ID_MISMATCH: { code: 403, status: 'PERMISSION_DENIED', message: 'SenderId mismatch' },
  QUOTA_EXCEEDED: { code: 429, status: 'RESOURCE_EXHAUSTED', message: 'Quota exceeded for quota metric.' },
  UNAVAILABLE: { code: 503, status: 'UNAVAILABLE', message: 'The service is currently unavailable.' },
  INTERNAL: { code: 500, status: 'INTERNAL', message: 'Internal error encountered.' },
  THIRD_PARTY_AUTH_ERROR: {
    code: 401,
    status: 'UNAUTHENTICATED',
    message: 'Auth error from APNS or Web Push Service',
  },
};

const FCM_SCOPE = 'https://www.googleapis.com/auth/firebase.messaging';
const TOKEN_AUDIENCE = 'https://oauth2.googleapis.com/token';
const SEND_PATH = /^\/v1\/projects\/([^/]+)\/messages:send$/;
const MESSAGE_KEYS = new Set([
  'token',
  'topic',
  'condition',
  'name',
  'data',
  'notification',
  'android',
  'apns',
  'webpush',
  'fcm_options',
]);
const ANDROID_KEYS = new Set([
  'collapse_key',
  'priority',
  'ttl',
  'restricted_package_name',
  'data',
  'notification',
  'fcm_options',
  'direct_boot_ok',
]);

/**
 * A fake FCM HTTP v1 endpoint plus Google's OAuth token endpoint: `POST /token` verifies the
 * JWT-bearer assertion against the service account's public key; `POST /v1/projects/{id}/messages:send`
 * demands a token it issued for that project and validates the v1 message. Like Google's front ends it
 * speaks HTTP/2 (ALPN `h2`, 100 streams per connection) and HTTP/1.1 (ALPN `http/1.1` or none) over
 * TLS; `tls: false` serves h2c (prior knowledge) and HTTP/1.1 on one plain port.
 */
export class FakeFcmServer {
  readonly requests: FakeFcmRequest[] = [];
  readonly ca: string;
  private readonly accounts = new Map<string, { projectId: string; publicKey: KeyObject }>();
  private readonly accessTokens = new Map<string, string>();
  private readonly scripts = new Map<string, FakeFcmScript>();
  private readonly sockets = new Set<Socket>();
  private counters = freshCounters();
  private url_ = '';
  private messageSeq = 0;
  private tokenOutages: { status: number; times: number } | undefined;

  private constructor(
    private readonly server: Server,
    private readonly options: FakeFcmOptions,
  ) {
    this.ca = testCerts().ca;
  }

  static async start(options: FakeFcmOptions = {}): Promise<FakeFcmServer> {
    const secure = options.tls !== false;
    const certs = testCerts();
    const settings = { maxConcurrentStreams: options.maxConcurrentStreams ?? 100 };
    const h2 = secure
      ? createSecureServer({
          key: certs.key,
          cert: certs.cert,
          allowHTTP1: true,
          settings,
          maxSessionMemory: 64,
        })
      : createH2cServer({ settings, maxSessionMemory: 64 });
    const http1 = secure ? undefined : createHttpServer();
    // One plain port for both protocols: the HTTP/2 connection preface decides who gets the connection.
    const server: Server = secure
      ? h2
      : createNetServer((socket) => {
          socket.once('data', (first: Buffer) => {
            socket.pause();
            if (first.subarray(0, H2_PREFACE.length).equals(H2_PREFACE)) {
              h2.emit('connection', replaying(socket, first));
            } else {
              socket.unshift(first);
              http1?.emit('connection', socket);
              socket.resume();
            }
          });
        });
    const fake = new FakeFcmServer(server, options);
    const onRequest = (req: IncomingMessage, res: ServerResponse): void => fake.onHttp1(req, res);
    if (http1) {
      http1.keepAliveTimeout = 60_000;
      http1.on('request', onRequest);
    } else {
      // HTTP/1.1 over TLS (ALPN) arrives as 'request'. Adding that listener also installs the HTTP/2
      // compatibility API's 'stream' listener, removed below: HTTP/2 streams are answered directly.
      h2.on('request', onRequest);
    }
    h2.removeAllListeners('stream');
    h2.on('stream', (stream: ServerHttp2Stream, headers: IncomingHttpHeaders) =>
      fake.onStream(stream, headers),
    );
    h2.on('session', (session: ServerHttp2Session) => {
      (session as TrackedSession).heraldState = { streams: 0, open: 0 };
      session.on('error', () => undefined);
    });
    server.on('connection', (socket: Socket) => {
      fake.counters.connections += 1;
      fake.sockets.add(socket);
      socket.on('close', () => fake.sockets.delete(socket));
    });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(options.port ?? 0, options.host ?? '127.0.0.1', () => resolve());
    });
    const { port } = server.address() as AddressInfo;
    fake.url_ = `${secure ? 'https' : 'http'}://127.0.0.1:${port}`;
    return fake;
  }

  /** Base URL, for `HERALD_FCM_ENDPOINT`. */
  get url(): string {
    return this.url_;
  }

  registerServiceAccount(account: { client_email: string; project_id: string; publicKey: string }): void {
    this.accounts.set(account.client_email, {
      projectId: account.project_id,
      publicKey: createPublicKey(account.publicKey),
    });
  }

  script(token: string, script: FakeFcmScript): void {
    this.scripts.set(token, { ...script });
  }

  setLatency(ms: number): void {
    this.options.latencyMs = ms;
  }

  setGoawayAfter(streams: number | undefined): void {
    this.options.goawayAfterStreams = streams;
  }

  /** The next `times` token exchanges answer `status` (a 503 or 429: Google's token endpoint unwell). */
  failTokenExchanges(status: number, times: number): void {
    this.tokenOutages = { status, times };
  }

  /** Forgets every access token issued so far, as Google does when one is revoked or expires. */
  revokeAccessTokens(): void {
    this.accessTokens.clear();
  }

  stats(): FakeFcmStats {
    return { ...this.counters, byStatus: { ...this.counters.byStatus } };
  }

  reset(): void {
    this.requests.length = 0;
    this.scripts.clear();
    this.counters = freshCounters();
  }

  async close(): Promise<void> {
    for (const s of this.sockets) s.destroy();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  private onHttp1(req: IncomingMessage, res: ServerResponse): void {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const reply: Reply = (status, body, headers = {}) => {
        const text = JSON.stringify(body);
        res.writeHead(status, {
          'content-type': 'application/json; charset=UTF-8',
          'content-length': Buffer.byteLength(text),
          ...headers,
        });
        res.end(text);
      };
      const auth = req.headers.authorization;
      this.route(req.method ?? '', req.url ?? '', auth, Buffer.concat(chunks).toString('utf8'), reply);
    });
  }

  private onStream(stream: ServerHttp2Stream, headers: IncomingHttpHeaders): void {
    stream.on('error', () => undefined);
    const session = stream.session as TrackedSession | undefined;
    const state = session?.heraldState ?? { streams: 0, open: 0 };
    const streamId = stream.id ?? 0;
    if (state.goawayAt !== undefined && streamId > state.goawayAt) {
      // Past the GOAWAY's last stream id: never processed, the client must send it again.
      this.counters.refusedAfterGoaway += 1;
      stream.close(constants.NGHTTP2_REFUSED_STREAM);
      return;
    }
    this.counters.http2Requests += 1;
    state.streams += 1;
    state.open += 1;
    this.counters.maxConcurrentStreamsSeen = Math.max(this.counters.maxConcurrentStreamsSeen, state.open);
    stream.once('close', () => {
      state.open -= 1;
    });
    const goaway = this.options.goawayAfterStreams;
    if (session && goaway !== undefined && state.streams === goaway && state.goawayAt === undefined) {
      state.goawayAt = streamId;
      this.counters.goaways += 1;
      session.goaway(constants.NGHTTP2_NO_ERROR, streamId);
    }
    const chunks: Buffer[] = [];
    stream.on('data', (c: Buffer) => chunks.push(c));
    stream.on('end', () => {
      const reply: Reply = (status, body, extra = {}) => {
        if (stream.destroyed || stream.closed) return;
        const text = JSON.stringify(body);
        stream.respond({
          [constants.HTTP2_HEADER_STATUS]: status,
          'content-type': 'application/json; charset=UTF-8',
          'content-length': Buffer.byteLength(text),
          ...extra,
        });
        stream.end(text);
      };
      const method = String(headers[constants.HTTP2_HEADER_METHOD] ?? '');
      const path = String(headers[constants.HTTP2_HEADER_PATH] ?? '');
      const body = chunks.length === 1 ? chunks[0].toString('utf8') : Buffer.concat(chunks).toString('utf8');
      this.route(method, path, headers.authorization, body, reply);
    });
  }

  private route(method: string, url: string, auth: string | undefined, body: string, reply: Reply): void {
    const path = url.split('?')[0];
    if (method === 'GET' && path === '/stats') return reply(200, this.stats());
    if (method === 'POST' && path === '/token') return this.onToken(body, reply);
    const send = SEND_PATH.exec(path);
    if (method === 'POST' && send) return this.onSend(send[1], auth, body, reply);
    return reply(404, rpcError(404, 'NOT_FOUND', `No route for ${method} ${path}`));
  }

  private onToken(body: string, reply: Reply): void {
    this.counters.tokenExchanges += 1;
    if (this.tokenOutages && this.tokenOutages.times > 0) {
      this.tokenOutages.times -= 1;
      return reply(this.tokenOutages.status, { error: 'temporarily_unavailable' });
    }
    const form = new URLSearchParams(body);
    const assertion = form.get('assertion') ?? '';
    const refuse = (description: string): void =>
      reply(400, { error: 'invalid_grant', error_description: description });
    if (form.get('grant_type') !== 'urn:ietf:params:oauth:grant-type:jwt-bearer')
      return refuse('Bad grant_type.');
    let iss: unknown;
    try {
      iss = JSON.parse(Buffer.from(assertion.split('.')[1] ?? '', 'base64url').toString('utf8')).iss;
    } catch {
      return refuse('Invalid JWT.');
    }
    const account = typeof iss === 'string' ? this.accounts.get(iss) : undefined;
    if (!account) return refuse('Invalid grant: account not found');
    const jwt = verifyJwt(assertion, account.publicKey, 'RS256');
    if (!jwt) return refuse('Invalid JWT Signature.');
    const { aud, scope, iat, exp } = jwt.payload;
    const now = Date.now() / 1000;
    if (aud !== TOKEN_AUDIENCE) return refuse('Invalid JWT: audience.');
    if (typeof scope !== 'string' || !scope.split(' ').includes(FCM_SCOPE)) return refuse('Invalid scope.');
    if (
      typeof iat !== 'number' ||
      typeof exp !== 'number' ||
      exp < now ||
      iat > now + 300 ||
      exp - iat > 3600
    ) {
      return refuse(
        'Invalid JWT: Token must be a short-lived token (60 minutes) and in a reasonable timeframe.',
      );
    }
    const accessToken = `ya29.fake-${randomBytes(16).toString('hex')}`;
    this.accessTokens.set(accessToken, account.projectId);
    this.counters.accessTokensIssued += 1;
    reply(200, { access_token: accessToken, expires_in: 3599, token_type: 'Bearer' });
  }

  private onSend(projectId: string, authorization: string | undefined, body: string, reply: Reply): void {
    const answer = (
      status: number,
      payload: unknown,
      token?: string,
      message: Record<string, unknown> = {},
      errorCode?: string,
      extraHeaders: Record<string, string> = {},
      delayMs = 0,
    ): void => {
      this.counters.requests += 1;
      this.counters.byStatus[status] = (this.counters.byStatus[status] ?? 0) + 1;
      if (this.options.record !== false) this.requests.push({ token, message, status, errorCode });
      const delay = (this.options.latencyMs ?? 0) + delayMs;
      if (delay > 0) setTimeout(() => reply(status, payload, extraHeaders), delay);
      else reply(status, payload, extraHeaders);
    };
    const bearer = (authorization ?? '').replace(/^Bearer /, '');
    const tokenProject = this.accessTokens.get(bearer);
    if (!tokenProject) {
      return answer(401, rpcError(401, 'UNAUTHENTICATED', 'Request had invalid authentication credentials.'));
    }
    if (tokenProject !== projectId) {
      return answer(
        403,
        rpcError(
          403,
          'PERMISSION_DENIED',
          `Permission 'cloudmessaging.messages.create' denied on resource '//cloudresourcemanager.googleapis.com/projects/${projectId}'`,
        ),
      );
    }
    let parsed: unknown;
    try {
      parsed = JSON.parse(body);
    } catch {
      return answer(400, rpcError(400, 'INVALID_ARGUMENT', 'Invalid JSON payload received.'));
    }
    const message = (parsed as { message?: unknown }).message;
    const invalid = validateMessage(message);
    if (invalid) return answer(400, fcmError('INVALID_ARGUMENT', invalid), undefined, {}, 'INVALID_ARGUMENT');
    const msg = message as Record<string, unknown>;
    const token = typeof msg.token === 'string' ? msg.token : undefined;
    if (token !== undefined && !/^[A-Za-z0-9_:-]{16,4096}$/.test(token)) {
      return answer(400, fcmError('INVALID_ARGUMENT'), token, msg, 'INVALID_ARGUMENT');
    }
    const script = token !== undefined ? this.scripts.get(token) : undefined;
    if (script && token !== undefined && script.times !== undefined) {
      script.times -= 1;
      if (script.times <= 0) this.scripts.delete(token);
    }
    const code =
      script?.errorCode ??
      (token !== undefined &&
      this.options.invalidTokenPrefix &&
      token.startsWith(this.options.invalidTokenPrefix)
        ? 'UNREGISTERED'
        : undefined);
    if (code) {
      const headers: Record<string, string> =
        script?.retryAfterS !== undefined ? { 'retry-after': String(script.retryAfterS) } : {};
      return answer(ERRORS[code].code, fcmError(code), token, msg, code, headers, script?.delayMs);
    }
    this.messageSeq += 1;
    answer(
      200,
      { name: `projects/${projectId}/messages/0:${this.messageSeq}` },
      token,
      msg,
      undefined,
      {},
      script?.delayMs,
    );
  }
}

const H2_PREFACE = Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n');

/**
 * The socket as a plain duplex that starts with the bytes already read. An HTTP/2 session reads a
 * socket's native handle directly (bytes put back with `unshift` would never reach it); given a stream
 * without one, Node reads it through the stream API instead.
 */
function replaying(socket: Socket, first: Buffer): Duplex {
  const duplex = new Duplex({
    read() {
      socket.resume();
    },
    write(chunk: Buffer, _encoding, callback) {
      socket.write(chunk, callback);
    },
    final(callback) {
      socket.end();
      callback();
    },
    destroy(err, callback) {
      socket.destroy(err ?? undefined);
      callback(err);
    },
  });
  duplex.push(first);
  socket.on('data', (chunk: Buffer) => {
    if (!duplex.push(chunk)) socket.pause();
  });
  socket.on('end', () => duplex.push(null));
  socket.on('error', (err) => duplex.destroy(err));
  socket.on('close', () => duplex.destroy());
  return duplex;
}

function freshCounters(): FakeFcmStats {
  return {
    requests: 0,
    tokenExchanges: 0,
    accessTokensIssued: 0,
    byStatus: {},
    connections: 0,
    http2Requests: 0,
    maxConcurrentStreamsSeen: 0,
    goaways: 0,
    refusedAfterGoaway: 0,
  };
}

function rpcError(code: number, status: string, message: string, details: unknown[] = []): unknown {
  return { error: { code, message, status, ...(details.length > 0 && { details }) } };
}

function fcmError(errorCode: FcmErrorCode, message?: string): unknown {
  const e = ERRORS[errorCode];
  const details: unknown[] = [{ '@type': 'type.googleapis.com/google.firebase.fcm.v1.FcmError', errorCode }];
  if (errorCode === 'INVALID_ARGUMENT' && !message) {
    details.push({
      '@type': 'type.googleapis.com/google.rpc.BadRequest',
      fieldViolations: [{ field: 'message.token', description: 'Invalid registration token' }],
    });
  }
  return rpcError(e.code, e.status, message ?? e.message, details);
}

/** The HTTP v1 schema checks FCM applies before looking at the token; returns the complaint or undefined. */
function validateMessage(message: unknown): string | undefined {
  if (typeof message !== 'object' || message === null) return "Invalid value at 'message'";
  const m = message as Record<string, unknown>;
  for (const k of Object.keys(m))
    if (!MESSAGE_KEYS.has(k)) return `Invalid JSON payload received. Unknown name "${k}" at 'message'`;
  const targets = ['token', 'topic', 'condition'].filter((k) => m[k] !== undefined);
  if (targets.length !== 1) return 'Exactly one of token, topic or condition must be specified';
  if (m.data !== undefined) {
    if (typeof m.data !== 'object' || m.data === null) return "Invalid value at 'message.data'";
    for (const [k, v] of Object.entries(m.data)) {
      if (typeof v !== 'string') return `Invalid value at 'message.data[${k}].value' (TYPE_STRING)`;
      if (k === 'from' || k === 'message_type' || k.startsWith('google.') || k.startsWith('gcm.')) {
        return `Invalid data payload key: ${k}`;
      }
    }
  }
  if (m.notification !== undefined) {
    if (typeof m.notification !== 'object' || m.notification === null)
      return "Invalid value at 'message.notification'";
    for (const [k, v] of Object.entries(m.notification)) {
      if (!['title', 'body', 'image'].includes(k)) return `Unknown name "${k}" at 'message.notification'`;
      if (typeof v !== 'string') return `Invalid value at 'message.notification.${k}' (TYPE_STRING)`;
    }
  }
  if (m.android !== undefined) {
    const a = m.android as Record<string, unknown>;
    for (const k of Object.keys(a))
      if (!ANDROID_KEYS.has(k)) return `Unknown name "${k}" at 'message.android'`;
    if (
      a.priority !== undefined &&
      !(typeof a.priority === 'string' && ['normal', 'high'].includes(a.priority.toLowerCase()))
    ) {
      return "Invalid value at 'message.android.priority'";
    }
    if (a.ttl !== undefined && !(typeof a.ttl === 'string' && /^\d+(\.\d{1,9})?s$/.test(a.ttl)))
      return "Invalid value at 'message.android.ttl'";
  }
  const { token: _token, ...rest } = m;
  if (Buffer.byteLength(JSON.stringify(rest)) > 4096) return 'Message is too big';
  return undefined;
}
