import { type CanActivate, type ExecutionContext, Inject, Injectable } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import type { DataSource } from 'typeorm';
import { HeraldError } from '@herald/common';
import { HERALD_CONFIG, type HeraldConfig } from '@herald/config';
import { SecretHasher } from '@herald/crypto';
import { DeviceEntity } from '@herald/db';
import { RateLimiter } from '@herald/platform';
import type { DeviceRequest } from './request-context';

/** `last_seen_at` is refreshed at most this often per device: one write a minute, however busy the device. */
const SEEN_REFRESH_MS = 60_000;

/**
 * Device requests: `Authorization: Bearer <registration_id>:<device_secret>`. An authenticated request
 * is SDK API contact, so it refreshes `devices.last_seen_at` (`last_online_time`, the `last_active`
 * filter, active users) when the stored value is older than {@link SEEN_REFRESH_MS}. Each device may make
 * `HERALD_SDK_DEVICE_PER_MINUTE` of them a minute (counted once authenticated, so nobody can spend
 * another device's quota); beyond it, 429 `rate_limited` with `Retry-After`.
 */
@Injectable()
export class DeviceAuthGuard implements CanActivate {
  private readonly hasher: SecretHasher;
  private readonly perMinute: number;

  constructor(
    @InjectDataSource() private readonly db: DataSource,
    @Inject(HERALD_CONFIG) config: HeraldConfig,
    private readonly limiter: RateLimiter,
  ) {
    this.hasher = new SecretHasher(config.crypto);
    this.perMinute = config.sdk.devicePerMinute;
  }

  async canActivate(context: ExecutionContext): Promise<boolean> {
    const req = context.switchToHttp().getRequest<DeviceRequest>();
    const match = /^Bearer\s+([^:\s]+):(\S+)$/i.exec(req.headers.authorization ?? '');
    if (!match) {
      throw new HeraldError(
        'unauthorized',
        'missing device credentials (Bearer registration_id:device_secret)',
      );
    }
    const [, rid, secret] = match;
    const device = await this.db.getRepository(DeviceEntity).findOne({ where: { registrationId: rid } });
    if (!device || !this.hasher.verify(secret, device.deviceSecretHash)) {
      throw new HeraldError('unauthorized', 'device authentication failed');
    }
    // A device may only act on itself.
    const pathRid = (req.params as Record<string, string | undefined>).rid;
    if (pathRid !== undefined && pathRid !== device.registrationId) {
      throw new HeraldError('forbidden', 'a device may only change itself');
    }
    const [hit] = await Promise.all([
      this.limiter.hit(`sdk:dev:${device.id}`, this.perMinute),
      this.touch(device),
    ]);
    if (!hit.allowed) {
      throw new HeraldError(
        'rate_limited',
        `too many requests from this device: at most ${hit.limit} per minute`,
        {
          headers: { 'Retry-After': String(Math.max(1, hit.resetAt - Math.floor(Date.now() / 1000))) },
        },
      );
    }
    req.heraldDevice = device;
    return true;
  }

  /**
   * Decided on the row the guard already read, so a device seen within the minute costs nothing; the
   * statement re-checks the age, so concurrent requests and api processes write it once.
   */
  private async touch(device: DeviceEntity): Promise<void> {
    if (device.lastSeenAt && Date.now() - device.lastSeenAt.getTime() < SEEN_REFRESH_MS) return;
    await this.db.query(
      `UPDATE devices SET last_seen_at = now()
        WHERE id = $1 AND (last_seen_at IS NULL OR last_seen_at < now() - $2 * interval '1 millisecond')`,
      [device.id, SEEN_REFRESH_MS],
    );
    device.lastSeenAt = new Date();
  }
}
