import type { Request } from 'express';
import type { AppEntity, DeviceEntity } from '@herald/db';

/** What the guards attach to a request once it is authenticated. */
export interface AppRequest extends Request {
  heraldApp: AppEntity;
}

export interface DeviceRequest extends Request {
  heraldDevice: DeviceEntity;
}
