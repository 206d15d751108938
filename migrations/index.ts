import { InitialSchema1763770000000 } from './1763770000000-initial-schema';
import { DeviceNormalisation1763800000000 } from './1763800000000-device-normalisation';
import { PushPipeline1763850000000 } from './1763850000000-push-pipeline';
import { TokenHygiene1763860000000 } from './1763860000000-token-hygiene';
import { Campaigns1763870000000 } from './1763870000000-campaigns';
import { Dashboard1763880000000 } from './1763880000000-dashboard';
import { SegmentIndex1763890000000 } from './1763890000000-segment-index';
import { DropOpenShardsIndex1763900000000 } from './1763900000000-drop-open-shards-index';
import { PausedSchedulesIndex1763910000000 } from './1763910000000-paused-schedules-index';

/** Every migration, in order. Listed explicitly so bundled builds and tests run the same set. */
export const migrations = [
  InitialSchema1763770000000,
  DeviceNormalisation1763800000000,
  PushPipeline1763850000000,
  TokenHygiene1763860000000,
  Campaigns1763870000000,
  Dashboard1763880000000,
  SegmentIndex1763890000000,
  DropOpenShardsIndex1763900000000,
  PausedSchedulesIndex1763910000000,
];
