import { Notification, Provider, type ProviderOptions, type ResponseFailure } from '@parse/node-apn';
import { mapApnsFailure } from './apns-outcome.mapper';
import type { ApnsRequest } from './apns-payload.builder';
import { runBounded } from './bounded.pool';
import type { ApnsCredentials } from './credentials.types';
import type { DeliveryOutcome } from './outcome';

export type ApnsEnvironment = 'sandbox' | 'production';

export interface ApnsClientOptions {
  environment: ApnsEnvironment;
  /** `HERALD_APNS_ENDPOINT`: replaces Apple's host for both environments, e.g. `https://127.0.0.1:8443`. */
  endpoint?: string;
  /** Extra trusted CAs for the endpoint (fakes, proxies); Node's default store otherwise. */
  ca?: (string | Buffer)[];
  /** Streams outstanding per HTTP/2 session. Apple advertises 1,000; more only queues in memory. */
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

/** The part of node-apn's token state Herald drives so renewal follows an injectable clock. */
interface NodeApnToken {
  generation: number;
  regenerate(generation: number): void;
}

/**
 * One long-lived APNs connection for one credential set and environment. `send` returns exactly one
 * outcome per item, in input order, and never throws for a token's failure; a credential that cannot
 * even sign a JWT yields a `permanent` outcome for every token.
 */
export class ApnsClient {
  private readonly provider?: Provider;
  private readonly setupError?: string;
  private readonly token?: NodeApnToken;
  private readonly clock: () => number;
  private readonly maxInFlight: number;
  private readonly jwtMaxAgeMs: number;
  private tokenGeneration = 0;
  private tokenIssuedAt: number;
  private readonly notes = new WeakMap<ApnsRequest, Notification>();

  constructor(credentials: ApnsCredentials, options: ApnsClientOptions) {
    this.clock = options.clock ?? Date.now;
    this.maxInFlight = Math.max(1, options.maxInFlight ?? APNS_DEFAULTS.maxInFlight);
    this.jwtMaxAgeMs = options.jwtMaxAgeMs ?? APNS_DEFAULTS.jwtMaxAgeMs;
    this.tokenIssuedAt = this.clock();
    const providerOptions: ProviderOptions & { maxSessionMemory: number } = {
      production: options.environment === 'production',
      // node-apn retries 429/5xx itself, sleeping on a Retry-After it never actually reads; the caller's
      // retry policy owns retries instead, so one answer per token comes back at once.
      connectionRetryLimit: 0,
      requestTimeout: options.requestTimeoutMs ?? APNS_DEFAULTS.requestTimeoutMs,
      // node-apn hands its whole config to http2.connect, which is how this reaches the session.
      maxSessionMemory: options.maxSessionMemoryMb ?? APNS_DEFAULTS.maxSessionMemoryMb,
      ...(options.ca && { ca: options.ca }),
      ...(options.endpoint !== undefined && endpointAddress(options.endpoint)),
      ...(credentials.kind === 'token'
        ? { token: { key: credentials.key, keyId: credentials.keyId, teamId: credentials.teamId } }
        : { pfx: credentials.pfx, passphrase: credentials.passphrase ?? '' }),
    };
    try {
      this.provider = new Provider(providerOptions);
      this.token = nodeApnToken(this.provider);
      this.tokenGeneration = this.token?.generation ?? 0;
    } catch (err) {
      this.setupError = `credential: ${describe(err)}`;
    }
  }

  async send(items: readonly ApnsSendItem[]): Promise<DeliveryOutcome[]> {
    const provider = this.provider;
    if (!provider) {
      const reason = this.setupError ?? 'credential: unusable';
      return items.map(() => ({ kind: 'permanent', reason }));
    }
    const outcomes = await runBounded(items.length, this.maxInFlight, (i) =>
      this.sendOne(provider, items[i]),
    );
    // One more try, in the same call, for answers that say "not delivered, try again now": a stream
    // refused by GOAWAY or cut by a closing session, and ExpiredProviderToken
    // (node-apn has already signed a fresh JWT; if Apple still refuses it, the key is the problem).
    const again = outcomes.flatMap((o, i) => (resendNow(o) ? [i] : []));
    if (again.length > 0) {
      await runBounded(again.length, this.maxInFlight, async (j) => {
        outcomes[again[j]] = await this.sendOne(provider, items[again[j]]);
      });
    }
    return outcomes;
  }

  /** Closes the HTTP/2 session and stops the health pings. */
  async close(): Promise<void> {
    const provider = this.provider;
    if (!provider) return;
    await provider.shutdown();
  }

  private async sendOne(provider: Provider, item: ApnsSendItem): Promise<DeliveryOutcome> {
    this.renewJwtIfOld();
    try {
      const result = await provider.send(this.notificationFor(item.request), item.token);
      const failure: ResponseFailure | undefined = result.failed[0];
      if (!failure) return { kind: 'sent', providerMessageId: apnsId(result.sent[0]) };
      return mapApnsFailure(failure);
    } catch (err) {
      return { kind: 'retryable', reason: `transport: ${describe(err)}` };
    }
  }

  private renewJwtIfOld(): void {
    const token = this.token;
    if (!token) return;
    const now = this.clock();
    if (token.generation !== this.tokenGeneration) {
      // node-apn re-signed on its own (ExpiredProviderToken, or its 55-minute rule): restart our clock.
      this.tokenGeneration = token.generation;
      this.tokenIssuedAt = now;
    } else if (now - this.tokenIssuedAt >= this.jwtMaxAgeMs) {
      token.regenerate(token.generation);
      this.tokenGeneration = token.generation;
      this.tokenIssuedAt = now;
    }
  }

  /** One compiled notification per distinct request object, however many tokens share it. */
  private notificationFor(request: ApnsRequest): Notification {
    let note = this.notes.get(request);
    if (!note) {
      note = new Notification();
      note.rawPayload = request.payload;
      note.topic = request.topic;
      note.pushType = request.pushType;
      note.priority = request.priority;
      if (request.expiration !== undefined) note.expiry = request.expiration;
      if (request.collapseId !== undefined) note.collapseId = request.collapseId;
      this.notes.set(request, note);
    }
    return note;
  }
}

/**
 * node-apn dials `https://<address>` but also hands `port` (default 443) to tls.connect, where it
 * wins over the URL's port: both must name the endpoint.
 */
function endpointAddress(endpoint: string): { address: string; port: number } {
  const url = new URL(endpoint);
  return { address: url.host, port: Number(url.port || 443) };
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

function nodeApnToken(provider: Provider): NodeApnToken | undefined {
  const token: unknown = (provider as unknown as { client?: { config?: { token?: unknown } } }).client?.config
    ?.token;
  if (
    typeof token === 'object' &&
    token !== null &&
    typeof (token as NodeApnToken).generation === 'number' &&
    typeof (token as NodeApnToken).regenerate === 'function'
  ) {
    return token as NodeApnToken;
  }
  return undefined;
}

function apnsId(sent: unknown): string | undefined {
  const id = (sent as Record<string, unknown> | undefined)?.['apns-id'];
  return typeof id === 'string' ? id : undefined;
}

function describe(err: unknown): string {
  if (typeof err === 'object' && err !== null) {
    if ('error' in err) return describe(err.error);
    if (typeof (err as { message?: unknown }).message === 'string')
      return (err as { message: string }).message;
  }
  return String(err);
}
