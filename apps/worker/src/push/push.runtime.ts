import { readFileSync } from 'node:fs';
import { rootCertificates } from 'node:tls';
import { Inject, Injectable, type OnApplicationShutdown } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import type { Redis } from 'ioredis';
import type { DataSource } from 'typeorm';
import { AudienceService } from '@herald/audience';
import { HERALD_CONFIG, type HeraldConfig } from '@herald/config';
import { EnvelopeCipher } from '@herald/crypto';
import { OutboundHttp, REDIS } from '@herald/platform';
import { GatewayDeliveryAdapter, ProviderClientPool } from '@herald/providers';
import { CredentialStore, type AppCredentials } from '@herald/push';
import { ShardStatements } from './shard.statements';

const CREDENTIALS_TTL_MS = 30_000;

/**
 * What every push job of a worker process shares: the long-lived provider clients (architecture
 * invariant 4: one per credential set, never one per send), the gateway adapter, decrypted
 * credentials cached briefly per app, and the audience service.
 */
@Injectable()
export class PushRuntime implements OnApplicationShutdown {
  readonly pool: ProviderClientPool;
  readonly gateway: GatewayDeliveryAdapter;
  readonly audience: AudienceService;
  readonly cipher: EnvelopeCipher;
  /** HTTP to tenants' URLs (the token webhook): public addresses only, unless HERALD_OUTBOUND_ALLOW. */
  readonly outbound: OutboundHttp;
  /** Shards of multi-shard messages sending at once in this process (`HERALD_SHARD_PARALLELISM`). */
  readonly broadcastSlots: Semaphore;
  /** Claims, ledger pages and shard ends of concurrent shard jobs, each shared as one statement. */
  readonly statements: ShardStatements;
  private readonly credentials: CredentialStore;
  private readonly credentialCache = new Map<string, { at: number; value: Promise<AppCredentials> }>();

  constructor(
    @InjectDataSource() readonly db: DataSource,
    @Inject(REDIS) readonly redis: Redis,
    @Inject(HERALD_CONFIG) readonly config: HeraldConfig,
  ) {
    // Node reads NODE_EXTRA_CA_CERTS only at start-up; in-process tests and the all-in-one server
    // set it in configuration, so it is given to the clients explicitly, beside the default roots.
    const ca = config.providers.extraCaFile
      ? [...rootCertificates, readFileSync(config.providers.extraCaFile, 'utf8')]
      : undefined;
    const { apnsEndpoint, fcmEndpoint } = config.providers;
    this.pool = new ProviderClientPool({
      apns: { ...(apnsEndpoint && { endpoint: apnsEndpoint }), ...(ca && { ca }) },
      fcm: { ...(fcmEndpoint && { endpoint: fcmEndpoint }), ...(ca && { ca }) },
    });
    this.gateway = new GatewayDeliveryAdapter(redis, {
      prefix: config.redis.queuePrefix,
      inboxMax: config.gateway.inboxMax,
    });
    this.audience = new AudienceService(db);
    this.broadcastSlots = new Semaphore(config.push.shardParallelism);
    this.statements = new ShardStatements(db);
    this.cipher = new EnvelopeCipher(config.crypto);
    this.credentials = new CredentialStore(db, this.cipher);
    this.outbound = new OutboundHttp(config.outboundAllow);
  }

  /** An app's credentials, decrypted at most every 30 s per process (a rotated key is picked up then). */
  appCredentials(appId: string): Promise<AppCredentials> {
    const now = Date.now();
    const hit = this.credentialCache.get(appId);
    if (hit && now - hit.at < CREDENTIALS_TTL_MS) return hit.value;
    const value = this.credentials.load(appId);
    value.catch(() => this.credentialCache.delete(appId));
    this.credentialCache.set(appId, { at: now, value });
    return value;
  }

  async onApplicationShutdown(): Promise<void> {
    await this.pool.closeAll();
    await this.outbound.close();
  }
}

/** A counting semaphore: `acquire` resolves with the function that gives the slot back. */
export class Semaphore {
  private readonly waiting: (() => void)[] = [];
  private free: number;

  constructor(size: number) {
    this.free = size;
  }

  async acquire(): Promise<() => void> {
    if (this.free > 0) this.free--;
    else await new Promise<void>((resolve) => this.waiting.push(resolve));
    let released = false;
    return () => {
      if (released) return;
      released = true;
      const next = this.waiting.shift();
      if (next) next();
      else this.free++;
    };
  }
}
