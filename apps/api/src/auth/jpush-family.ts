import { SetMetadata } from '@nestjs/common';

/**
 * JPush's APIs use different error-code families: the push and report APIs 1xxx, the device, tag and
 * alias APIs 7xxx, the schedule API 8xxx. Controllers declare theirs so auth and validation errors
 * carry the code a JPush client expects.
 */
export type JPushFamily = 'push' | 'device' | 'schedule';

export const JPUSH_FAMILY = 'herald:jpush-family';
export const UseJPushFamily = (family: JPushFamily) => SetMetadata(JPUSH_FAMILY, family);

export const JPUSH_CODES: Record<
  JPushFamily,
  { missingAuth: number; badAuth: number; invalid: number; missing: number }
> = {
  push: { missingAuth: 1004, badAuth: 1004, invalid: 1003, missing: 1002 },
  device: { missingAuth: 7001, badAuth: 7004, invalid: 7002, missing: 7002 },
  schedule: { missingAuth: 8101, badAuth: 8101, invalid: 8100, missing: 8100 },
};
