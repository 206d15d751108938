import { createHash, timingSafeEqual } from 'node:crypto';
import { Inject, Injectable } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import type { DataSource } from 'typeorm';
import { HERALD_CONFIG, type HeraldConfig } from '@herald/config';
import { SecretHasher } from '@herald/crypto';

export interface AuthedDevice {
  id: string;
  appId: string;
  registrationId: string;
  stableHeartbeat: number | null;
}

interface CacheEntry {
  device: AuthedDevice;
  secretHash: string;
  /** sha256 of the last secret that verified; compared in constant time. */
  digest: Buffer;
  expiresAt: number;
}

const CACHE_MAX = 200_000;

/**
 * Device authentication for connections. A reconnect storm after a node restart would otherwise cost
 * one database read per device, so verified devices are cached briefly (LRU by insertion, TTL from
 * `HERALD_GATEWAY_AUTH_CACHE_TTL_MS`). The cache keeps a digest of the secret, never the secret.
 */
@Injectable()
export class DeviceAuthService {
  private readonly hasher: SecretHasher;
  private readonly cache = new Map<string, CacheEntry>();

  constructor(
    @InjectDataSource() private readonly db: DataSource,
    @Inject(HERALD_CONFIG) private readonly config: HeraldConfig,
  ) {
    this.hasher = new SecretHasher(config.crypto);
  }

  async verify(rid: string, secret: string): Promise<AuthedDevice | null> {
    const digest = createHash('sha256').update(secret, 'utf8').digest();
    const now = Date.now();
    const cached = this.cache.get(rid);
    if (cached && cached.expiresAt > now) {
      if (timingSafeEqual(cached.digest, digest)) return cached.device;
      // A different secret: check it against the stored hash, never trust the cache for a "no".
      return this.hasher.verify(secret, cached.secretHash) ? cached.device : null;
    }
    const rows = await this.db.query<
      { id: string; app_id: string; device_secret_hash: string; stable_heartbeat: number | null }[]
    >(
      `SELECT id, app_id, device_secret_hash, stable_heartbeat FROM devices
        WHERE registration_id = $1 AND status <> 'invalid'`,
      [rid],
    );
    const row = rows[0];
    if (!row || !this.hasher.verify(secret, row.device_secret_hash)) return null;
    const device: AuthedDevice = {
      id: String(row.id),
      appId: row.app_id,
      registrationId: rid,
      stableHeartbeat: row.stable_heartbeat,
    };
    if (this.config.gateway.authCacheTtlMs > 0) {
      this.cache.delete(rid);
      this.cache.set(rid, {
        device,
        secretHash: row.device_secret_hash,
        digest,
        expiresAt: now + this.config.gateway.authCacheTtlMs,
      });
      if (this.cache.size > CACHE_MAX) this.cache.delete(this.cache.keys().next().value!);
    }
    return device;
  }

  /** Keeps a cached device's remembered heartbeat current after the server records a new one. */
  rememberHeartbeat(rid: string, hb: number): void {
    const cached = this.cache.get(rid);
    if (cached) cached.device.stableHeartbeat = hb;
  }
}
