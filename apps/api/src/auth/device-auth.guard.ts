import { type CanActivate, type ExecutionContext, Inject, Injectable } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import type { DataSource } from 'typeorm';
import { HeraldError } from '@herald/common';
import { HERALD_CONFIG, type HeraldConfig } from '@herald/config';
import { SecretHasher } from '@herald/crypto';
import { DeviceEntity } from '@herald/db';
import type { DeviceRequest } from './request-context';

/** `last_seen_at` is refreshed at most this often per device: one write a minute, however busy the device. */
const SEEN_REFRESH_MS = 60_000;

/**
 * Device requests: `Authorization: Bearer <registration_id>:<device_secret>`. An authenticated request
 * is SDK API contact, so it refreshes `devices.last_seen_at` (`last_online_time`, the `last_active`
 * filter, active users) when the stored value is older than {@link SEEN_REFRESH_MS}.
 */
@Injectable()
export class DeviceAuthGuard implements CanActivate {
  private readonly hasher: SecretHasher;

  constructor(
    @InjectDataSource() private readonly db: DataSource,
    @Inject(HERALD_CONFIG) config: HeraldConfig,
  ) {
    this.hasher = new SecretHasher(config.crypto);
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
    await this.touch(device);
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
