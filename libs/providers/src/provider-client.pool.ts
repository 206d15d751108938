import { ApnsClient, type ApnsClientOptions } from './apns.client';
import type { ApnsCredentials, FcmServiceAccount } from './credentials.types';
import { apnsFingerprint, fcmFingerprint } from './credentials.validator';
import { FcmClient, type FcmClientOptions } from './fcm.client';

/** A client nobody asked for this long is closed (its credential was rotated or deleted, or its app went quiet). */
const IDLE_MS = 10 * 60_000;
/** How often asking for a client also looks for idle ones. */
const SWEEP_EVERY_MS = 60_000;

type Pooled = ApnsClient | FcmClient;

/**
 * Long-lived provider clients, one per credential set (and APNs environment), keyed by the
 * credential's public fingerprint so a rotated key gets a new client. A client not asked for in
 * {@link IDLE_MS} is closed — the old one of a rotated or deleted credential, with its decrypted key,
 * HTTP/2 connection and pings, does not live as long as the process. Pass the fingerprint stored with
 * the credential's metadata to skip recomputing it.
 */
export class ProviderClientPool {
  private readonly apns = new Map<string, ApnsClient>();
  private readonly fcm = new Map<string, FcmClient>();
  private readonly lastUsed = new Map<Pooled, number>();
  private lastSweep: number;
  private readonly now: () => number;
  private readonly idleMs: number;

  constructor(
    private readonly defaults: {
      apns?: Omit<ApnsClientOptions, 'environment'>;
      fcm?: FcmClientOptions;
    } = {},
    options: { idleMs?: number; now?: () => number } = {},
  ) {
    this.now = options.now ?? Date.now;
    this.idleMs = options.idleMs ?? IDLE_MS;
    this.lastSweep = this.now();
  }

  apnsClient(
    credentials: ApnsCredentials,
    environment: ApnsClientOptions['environment'],
    fingerprint?: string,
  ): ApnsClient {
    const key = `${fingerprint ?? apnsFingerprint(credentials)}:${environment}`;
    let client = this.apns.get(key);
    if (!client) {
      client = new ApnsClient(credentials, { ...this.defaults.apns, environment });
      this.apns.set(key, client);
    }
    return this.used(client);
  }

  fcmClient(account: FcmServiceAccount, fingerprint?: string): FcmClient {
    const key = fingerprint ?? fcmFingerprint(account);
    let client = this.fcm.get(key);
    if (!client) {
      client = new FcmClient(account, this.defaults.fcm);
      this.fcm.set(key, client);
    }
    return this.used(client);
  }

  /** Marks `client` used now; at most once a minute, closes the clients idle for longer than the limit. */
  private used<C extends Pooled>(client: C): C {
    const now = this.now();
    this.lastUsed.set(client, now);
    if (now - this.lastSweep >= SWEEP_EVERY_MS) {
      this.lastSweep = now;
      for (const map of [this.apns, this.fcm] as Map<string, Pooled>[]) {
        for (const [key, c] of map) {
          if (now - (this.lastUsed.get(c) ?? now) <= this.idleMs) continue;
          map.delete(key);
          this.lastUsed.delete(c);
          // A send still holding it gets an answer (closed clients answer what is queued).
          void c.close().catch(() => undefined);
        }
      }
    }
    return client;
  }

  get size(): number {
    return this.apns.size + this.fcm.size;
  }

  async closeAll(): Promise<void> {
    const all = [...this.apns.values(), ...this.fcm.values()];
    this.apns.clear();
    this.fcm.clear();
    this.lastUsed.clear();
    await Promise.all(all.map((c) => c.close()));
  }
}
