/**
 * The validated shapes of a push's target (api.md §1): JPush's `platform` and `audience`, and
 * Herald's `audience.filter` tree. `parsePushTarget` produces them; the compiler consumes them.
 */

/** JPush's platform names (`winphone`, `quickapp` and `hmos` are accepted and simply match no device Herald can reach today). */
export const PLATFORMS = ['android', 'ios', 'winphone', 'quickapp', 'hmos'] as const;
export type Platform = (typeof PLATFORMS)[number];

export const CHANNELS = ['apns', 'fcm', 'gateway'] as const;
export type Channel = (typeof CHANNELS)[number];

/** `'all'` or a non-empty set of platforms; compared with `devices.platform`. */
export type PlatformSelection = 'all' | Platform[];

export interface VersionRange {
  gte?: string;
  gt?: string;
  lte?: string;
  lt?: string;
  eq?: string;
}

export type LastActive = { within_days: number } | { not_within_days: number };

export type FilterLeaf =
  | { tag: string[] }
  | { tag_and: string[] }
  | { alias: string[] }
  | { registration_id: string[] }
  | { platform: Platform[] }
  | { channel: Channel[] }
  /** Lower-cased BCP 47 tags; each matches itself and every longer tag it prefixes at a `-`. */
  | { language: string[] }
  /** Upper-case ISO 3166-1 alpha-2. */
  | { country: string[] }
  | { province: string[] }
  | { city: string[] }
  | { app_version: VersionRange }
  | { last_active: LastActive }
  /**
   * Herald-internal (the parser never accepts it from a client): a local-time schedule's UTC-offset
   * group — devices in these zones, and with `include_unset` those without a zone.
   */
  | { timezone: string[]; include_unset?: boolean };

export type AudienceFilter =
  { and: AudienceFilter[] } | { or: AudienceFilter[] } | { not: AudienceFilter } | FilterLeaf;

/**
 * JPush's audience: `all`, or targets that are ANDed together (each list ORs its values, `tag_and`
 * ANDs them, `tag_not` is the complement of the union). Empty lists are dropped while parsing (JPush:
 * an empty array means the key is absent), so every list here is non-empty and de-duplicated.
 */
export interface Audience {
  all: boolean;
  tag?: string[];
  tag_and?: string[];
  tag_not?: string[];
  alias?: string[];
  registration_id?: string[];
  /** Saved segment ids (OR between them); resolved against the app's `segments` when compiling. */
  segment?: string[];
  filter?: AudienceFilter;
}

export interface PushTarget {
  platform: PlatformSelection;
  audience: Audience;
}
