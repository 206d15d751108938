import { type CanActivate, type ExecutionContext, Inject, Injectable } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import type { DataSource } from 'typeorm';
import { HeraldError } from '@herald/common';
import { HERALD_CONFIG, type HeraldConfig } from '@herald/config';
import { SecretHasher } from '@herald/crypto';
import { DeviceEntity } from '@herald/db';
import type { DeviceRequest } from './request-context';

/** Device requests: `Authorization: Bearer <registration_id>:<device_secret>`. */
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
    req.heraldDevice = device;
    return true;
  }
}
