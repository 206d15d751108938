import { ApnsClient, type ApnsClientOptions } from './apns.client';
import type { ApnsCredentials, FcmServiceAccount } from './credentials.types';
import { apnsFingerprint, fcmFingerprint } from './credentials.validator';
import { FcmClient, type FcmClientOptions } from './fcm.client';

/**
 * Long-lived provider clients, one per credential set (and APNs environment), keyed by the
 * credential's public fingerprint so a rotated key gets a new client and the old one can be closed.
 * Pass the fingerprint stored with the credential's metadata to skip recomputing it.
 */
export class ProviderClientPool {
  private readonly apns = new Map<string, ApnsClient>();
  private readonly fcm = new Map<string, FcmClient>();

  constructor(
    private readonly defaults: {
      apns?: Omit<ApnsClientOptions, 'environment'>;
      fcm?: FcmClientOptions;
    } = {},
  ) {}

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
    return client;
  }

  fcmClient(account: FcmServiceAccount, fingerprint?: string): FcmClient {
    const key = fingerprint ?? fcmFingerprint(account);
    let client = this.fcm.get(key);
    if (!client) {
      client = new FcmClient(account, this.defaults.fcm);
      this.fcm.set(key, client);
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
    await Promise.all(all.map((c) => c.close()));
  }
}
