import { randomUUID } from 'node:crypto';
import type { Agent } from 'node:https';
import { Agent as HttpsAgent } from 'node:https';
import {
  deleteApp,
  initializeApp,
  type App,
  type Credential,
  type GoogleOAuthAccessToken,
} from 'firebase-admin/app';
import { getMessaging, type Messaging } from 'firebase-admin/messaging';
import { type Credentials, JWT } from 'google-auth-library';
import { fetchThroughAgent } from './agent.fetch';
import type { FcmServiceAccount } from './credentials.types';
import { EndpointAgent } from './endpoint.agent';
import type { FcmMessage } from './fcm-payload.builder';
import { mapFcmError } from './fcm-outcome.mapper';
import type { DeliveryOutcome } from './outcome';

export interface FcmClientOptions {
  /** `HERALD_FCM_ENDPOINT`: replaces both `fcm.googleapis.com` and Google's token endpoint (`/token`). */
  endpoint?: string;
  /** Extra trusted CAs for the endpoint. */
  ca?: (string | Buffer)[];
  /** Keep-alive HTTP/1.1 connections to FCM. */
  maxSockets?: number;
  /** Messages outstanding at once for the whole client, in `sendEach` calls of half as many (≤ 500). */
  maxInFlight?: number;
}

/**
 * 256 messages in flight over 64 sockets: the HTTP/1.1 agent can only carry one request per socket, and
 * every request beyond that waits in the agent as live objects the GC has to copy. 1,000 in flight
 * cost ~30% more CPU per message for no throughput (docs/benchmarks.md, providers rows).
 */
export const FCM_DEFAULTS = { maxSockets: 64, maxInFlight: 256 } as const;
const SEND_EACH_MAX = 500;
/** `sendEach` calls in flight at once; each carries `maxInFlight / SEND_LANES` messages. */
const SEND_LANES = 2;
const FCM_SCOPE = 'https://www.googleapis.com/auth/firebase.messaging';

/**
 * google-auth-library's JWT-bearer flow behind firebase-admin's credential interface. firebase-admin's
 * own `cert()` routes the token exchange through `httpAgent` only for a key *file*; Herald holds the
 * key in memory, so this credential carries the agent itself.
 */
export class ServiceAccountCredential implements Credential {
  private readonly jwt: JWT;

  constructor(account: FcmServiceAccount, agent: Agent) {
    this.jwt = new JWT({
      email: account.client_email,
      key: account.private_key,
      keyId: account.private_key_id,
      scopes: [FCM_SCOPE],
      transporterOptions: { agent, fetchImplementation: fetchThroughAgent(agent) },
    });
  }

  async getAccessToken(): Promise<GoogleOAuthAccessToken> {
    let credentials: Credentials;
    try {
      credentials = await this.jwt.authorize();
    } catch (err) {
      // firebase-admin flattens this into one message; say plainly whether Google answered at all, so
      // an outage is retried and a refused key is not. Never include the assertion or the key.
      const response = (err as { response?: { status?: number } }).response;
      if (response?.status !== undefined)
        throw new Error(`token exchange refused with HTTP ${response.status}`);
      const cause =
        (err as { cause?: { code?: string } }).cause?.code ?? (err as { code?: string }).code ?? 'error';
      throw new Error(`token endpoint unreachable (network: ${cause})`);
    }
    if (!credentials.access_token) throw new Error('token endpoint returned no access_token');
    const expiresAt = credentials.expiry_date ?? Date.now() + 3_600_000;
    return {
      access_token: credentials.access_token,
      expires_in: Math.max(0, Math.floor((expiresAt - Date.now()) / 1000)),
    };
  }
}

/**
 * One firebase-admin app for one service account, reused for every send. Uses the HTTP/1.1 transport
 * (`enableLegacyHttpTransport`), the one that honours `httpAgent` and keeps connections alive; its
 * HTTP/2 transport opens a session per call and bypasses the agent.
 */
export class FcmClient {
  private readonly app: App;
  private readonly messaging: Messaging;
  private readonly agent: Agent;
  private readonly maxInFlight: number;
  private readonly chunkSize: number;
  private freeLanes: number;
  private readonly waiting: (() => void)[] = [];

  constructor(account: FcmServiceAccount, options: FcmClientOptions = {}) {
    const agentOptions = { keepAlive: true, maxSockets: options.maxSockets ?? FCM_DEFAULTS.maxSockets };
    this.agent =
      options.endpoint !== undefined
        ? new EndpointAgent(options.endpoint, { ...agentOptions, ...(options.ca && { ca: options.ca }) })
        : new HttpsAgent({ ...agentOptions, ...(options.ca && { ca: options.ca }) });
    this.maxInFlight = Math.max(1, options.maxInFlight ?? FCM_DEFAULTS.maxInFlight);
    this.chunkSize = Math.min(SEND_EACH_MAX, Math.max(1, Math.ceil(this.maxInFlight / SEND_LANES)));
    this.freeLanes = Math.max(1, Math.floor(this.maxInFlight / this.chunkSize));
    this.app = initializeApp(
      {
        credential: new ServiceAccountCredential(account, this.agent),
        projectId: account.project_id,
        httpAgent: this.agent,
      },
      `herald-fcm-${randomUUID()}`,
    );
    this.messaging = getMessaging(this.app);
    this.messaging.enableLegacyHttpTransport();
  }

  /** Exactly one outcome per message, in input order; never throws for a message's failure. */
  async send(messages: readonly FcmMessage[]): Promise<DeliveryOutcome[]> {
    const outcomes = new Array<DeliveryOutcome>(messages.length);
    const size = this.chunkSize;
    const chunks: Promise<void>[] = [];
    for (let start = 0; start < messages.length; start += size) {
      chunks.push(this.inLane(() => this.sendChunk(messages, start, size, outcomes)));
    }
    await Promise.all(chunks);
    return outcomes;
  }

  private async sendChunk(
    messages: readonly FcmMessage[],
    start: number,
    size: number,
    outcomes: DeliveryOutcome[],
  ): Promise<void> {
    const chunk = messages.slice(start, start + size);
    try {
      const batch = await this.messaging.sendEach(chunk);
      batch.responses.forEach((r, j) => {
        outcomes[start + j] = r.success
          ? { kind: 'sent', ...(r.messageId !== undefined && { providerMessageId: r.messageId }) }
          : mapFcmError(r.error);
      });
    } catch (err) {
      // sendEach rejects as a whole only before sending (validation) or on a session failure.
      const outcome = mapFcmError(err as { code?: string; message?: string });
      for (let j = 0; j < chunk.length; j++) outcomes[start + j] = outcome;
    }
  }

  /**
   * Runs `task` when one of the client's lanes is free. Lanes are per client, not per call, so the
   * fan-out's many concurrent sends share `maxInFlight` instead of multiplying it.
   */
  private async inLane(task: () => Promise<void>): Promise<void> {
    if (this.freeLanes > 0) this.freeLanes -= 1;
    else await new Promise<void>((resolve) => this.waiting.push(resolve));
    try {
      await task();
    } finally {
      const next = this.waiting.shift();
      if (next) next();
      else this.freeLanes += 1;
    }
  }

  async close(): Promise<void> {
    await deleteApp(this.app);
    this.agent.destroy();
  }
}
