import { InitialSchema1763770000000 } from './1763770000000-initial-schema';
import { DeviceNormalisation1763800000000 } from './1763800000000-device-normalisation';

/** Every migration, in order. Listed explicitly so bundled builds and tests run the same set. */
export const migrations = [InitialSchema1763770000000, DeviceNormalisation1763800000000];
