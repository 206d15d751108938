export { appVersionKey } from './app-version';
export {
  compileAudience,
  LANGUAGE_INDEXED_VALUES,
  LANGUAGE_LENGTH_LOOKUPS,
  type CompiledAudience,
  type CompileOptions,
} from './audience.compiler';
export {
  AUDIENCE_LIMITS,
  isValidAlias,
  isValidTag,
  parseAudience,
  parseFilter,
  parsePlatform,
  parsePushTarget,
} from './audience.parser';
export {
  FULL_RANGE,
  MAX_DEVICE_ID,
  scanAudience,
  splitIdRanges,
  type AudienceDevice,
  type IdRange,
  type Queryable,
  type ScanOptions,
} from './audience.scanner';
export {
  AudienceService,
  type AudienceCompileOptions,
  type AudienceEstimate,
  type ResolvedAudience,
  type SegmentFilters,
} from './audience.service';
export {
  CHANNELS,
  PLATFORMS,
  type Audience,
  type AudienceFilter,
  type Channel,
  type FilterLeaf,
  type LastActive,
  type Platform,
  type PlatformSelection,
  type PushTarget,
  type VersionRange,
} from './audience.types';
export { canonicalLanguage, type LanguageTag } from './language';
export { SegmentService, type Segment, type SegmentPage } from './segment.service';
