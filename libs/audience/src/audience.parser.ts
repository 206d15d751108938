import { HeraldError } from '@herald/common';
import { appVersionKey } from './app-version';
import { canonicalLanguage } from './language';
import {
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

/** api.md §1 and JPush's push doc. */
export const AUDIENCE_LIMITS = {
  tagsPerKey: 20,
  aliasesPerPush: 1000,
  registrationIdsPerPush: 1000,
  /** Herald's own cap: segments are OR-ed saved filters, each with up to 50 leaves. */
  segmentsPerPush: 20,
  tagBytes: 40,
  aliasBytes: 40,
  filterDepth: 8,
  filterLeaves: 50,
  valuesPerLeaf: 1000,
  maxDays: 3650,
} as const;

/**
 * JPush: letters (case-sensitive), digits, `_`, Chinese characters and `@!#$&*+=.|￥`. "Chinese
 * characters" is read as the Han script (wider than the common \u4e00-\u9fa5 block, so rarer
 * characters that users type are not refused).
 */
const TAG_OR_ALIAS = /^[A-Za-z0-9_\p{Script=Han}@!#$&*+=.|￥]+$/u;

const utf8Length = (s: string) => Buffer.byteLength(s, 'utf8');

export function isValidTag(tag: string): boolean {
  return typeof tag === 'string' && utf8Length(tag) <= AUDIENCE_LIMITS.tagBytes && TAG_OR_ALIAS.test(tag);
}

export function isValidAlias(alias: string): boolean {
  return (
    typeof alias === 'string' && utf8Length(alias) <= AUDIENCE_LIMITS.aliasBytes && TAG_OR_ALIAS.test(alias)
  );
}

const REGISTRATION_ID = /^[0-9A-Za-z_-]{1,64}$/;
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
/** BCP 47-shaped: a primary language subtag, then subtags of letters and digits. */
const LANGUAGE = /^[a-z]{1,8}(?:-[a-z0-9]{1,8})*$/;
const COUNTRY = /^[A-Z]{2}$/;

const invalid = (field: string, message: string) =>
  new HeraldError('invalid_parameter', `${field}: ${message}`, { details: { field } });
const missing = (field: string) =>
  new HeraldError('missing_parameter', `${field} is required`, { details: { field } });
const unknown = (field: string, key: string) =>
  new HeraldError('unknown_field', `${field}: unknown key "${key}"`, {
    details: { field: `${field}.${key}` },
  });

const isPlainObject = (v: unknown): v is Record<string, unknown> =>
  typeof v === 'object' && v !== null && !Array.isArray(v);

/**
 * A list of strings, each checked by `check` and normalised by `normalise`, de-duplicated.
 * `allowEmpty` is JPush's rule for top-level audience keys (an empty array means "absent").
 */
function stringList(
  value: unknown,
  field: string,
  max: number,
  check: (s: string) => string | null,
  normalise: (s: string) => string = (s) => s,
): string[] {
  if (!Array.isArray(value)) throw invalid(field, 'must be an array of strings');
  if (value.length > max) throw invalid(field, `at most ${max} values (got ${value.length})`);
  const out = new Set<string>();
  value.forEach((item, i) => {
    if (typeof item !== 'string' || item.length === 0) {
      throw invalid(`${field}[${i}]`, 'must be a non-empty string');
    }
    const problem = check(item);
    if (problem) throw invalid(`${field}[${i}]`, `"${item}" ${problem}`);
    out.add(normalise(item));
  });
  return [...out];
}

const tagProblem = (s: string) =>
  isValidTag(s)
    ? null
    : utf8Length(s) > AUDIENCE_LIMITS.tagBytes
      ? `is longer than ${AUDIENCE_LIMITS.tagBytes} UTF-8 bytes`
      : 'may contain only letters, digits, _, Chinese characters and @!#$&*+=.|￥';
const aliasProblem = (s: string) =>
  isValidAlias(s)
    ? null
    : utf8Length(s) > AUDIENCE_LIMITS.aliasBytes
      ? `is longer than ${AUDIENCE_LIMITS.aliasBytes} UTF-8 bytes`
      : 'may contain only letters, digits, _, Chinese characters and @!#$&*+=.|￥';
const ridProblem = (s: string) => (REGISTRATION_ID.test(s) ? null : 'is not a registration id');
const oneOf =
  <T extends string>(allowed: readonly T[]) =>
  (s: string) =>
    (allowed as readonly string[]).includes(s) ? null : `is not one of ${allowed.join(', ')}`;
/** `zh_CN` (Android's locale form) is read as `zh-CN`; comparison is case-insensitive. */
const lowerLanguage = (s: string) => s.replace(/_/g, '-').toLowerCase();
/**
 * Canonicalised exactly as a device's language is on registration (`canonicalLanguage`), so `in` finds
 * the devices that reported `in_ID` (stored `id-id`). A BCP 47-shaped value `Intl.Locale` refuses
 * (`qq-x1`) is kept lower-cased, as it always was: no device can carry it, so it matches nothing, and a
 * saved segment holding one still loads.
 */
const normaliseLanguage = (s: string) => canonicalLanguage(s)?.tag ?? lowerLanguage(s);
const languageProblem = (s: string) =>
  LANGUAGE.test(lowerLanguage(s)) ? null : 'is not a BCP 47 language tag';
const countryProblem = (s: string) =>
  COUNTRY.test(s.toUpperCase()) ? null : 'is not an ISO 3166-1 alpha-2 country code';
const textProblem = (max: number) => (s: string) =>
  s.trim().length > 0 && s.length <= max ? null : `must be 1 to ${max} characters`;

export function parsePlatform(input: unknown, field = 'platform'): PlatformSelection {
  if (input === undefined || input === null) throw missing(field);
  if (input === 'all') return 'all';
  if (typeof input === 'string') throw invalid(field, `must be "all" or an array of ${PLATFORMS.join(', ')}`);
  const list = stringList(input, field, PLATFORMS.length * 2, oneOf(PLATFORMS)) as Platform[];
  if (list.length === 0) throw invalid(field, 'must name at least one platform');
  return list;
}

const AUDIENCE_KEYS = [
  'tag',
  'tag_and',
  'tag_not',
  'alias',
  'registration_id',
  'segment',
  'abtest',
  'filter',
];

export function parseAudience(input: unknown, field = 'audience'): Audience {
  if (input === undefined || input === null) throw missing(field);
  if (input === 'all') return { all: true };
  if (!isPlainObject(input)) throw invalid(field, 'must be "all" or an object');
  for (const key of Object.keys(input)) if (!AUDIENCE_KEYS.includes(key)) throw unknown(field, key);

  const audience: Audience = { all: false };
  const list = (
    key: 'tag' | 'tag_and' | 'tag_not' | 'alias' | 'registration_id' | 'segment',
    max: number,
    check: (s: string) => string | null,
  ) => {
    const value = input[key];
    if (value === undefined) return;
    const values = stringList(value, `${field}.${key}`, max, check);
    // JPush: "如果值数组长度为 0，表示该类型不存在" — an empty array means the key is absent.
    if (values.length > 0) audience[key] = values;
  };
  list('tag', AUDIENCE_LIMITS.tagsPerKey, tagProblem);
  list('tag_and', AUDIENCE_LIMITS.tagsPerKey, tagProblem);
  list('tag_not', AUDIENCE_LIMITS.tagsPerKey, tagProblem);
  list('alias', AUDIENCE_LIMITS.aliasesPerPush, aliasProblem);
  list('registration_id', AUDIENCE_LIMITS.registrationIdsPerPush, ridProblem);
  list('segment', AUDIENCE_LIMITS.segmentsPerPush, (s) => (UUID.test(s) ? null : 'is not a segment id'));
  if (audience.segment) audience.segment = [...new Set(audience.segment.map((s) => s.toLowerCase()))];
  if (input.abtest !== undefined) {
    const ids = stringList(input.abtest, `${field}.abtest`, 1000, () => null);
    if (ids.length > 0) throw invalid(`${field}.abtest`, 'A/B tests are not supported by Herald');
  }
  if (input.filter !== undefined) audience.filter = parseFilter(input.filter, `${field}.filter`);

  const hasTarget =
    audience.tag ??
    audience.tag_and ??
    audience.tag_not ??
    audience.alias ??
    audience.registration_id ??
    audience.segment ??
    audience.filter;
  if (!hasTarget) {
    throw invalid(
      field,
      'names no target: use "all", or at least one non-empty tag, tag_and, tag_not, alias, registration_id, segment or a filter',
    );
  }
  return audience;
}

export function parsePushTarget(input: { platform?: unknown; audience?: unknown }): PushTarget {
  return { platform: parsePlatform(input.platform), audience: parseAudience(input.audience) };
}

const LEAF_KEYS = [
  'tag',
  'tag_and',
  'alias',
  'registration_id',
  'platform',
  'channel',
  'language',
  'country',
  'province',
  'city',
  'app_version',
  'last_active',
] as const;
const NODE_KEYS: readonly string[] = ['and', 'or', 'not', ...LEAF_KEYS];
const VERSION_KEYS = ['gte', 'gt', 'lte', 'lt', 'eq'] as const;

/**
 * Validates a Herald filter tree (api.md §1): depth ≤ 8 (a lone leaf has depth 1), ≤ 50 leaves,
 * ≤ 1000 values per leaf; every node an object with exactly one key. Values come back normalised
 * (languages lower-cased, countries upper-cased, lists de-duplicated).
 */
export function parseFilter(input: unknown, field = 'filter'): AudienceFilter {
  const state = { leaves: 0 };
  return node(input, field, 1, state);
}

function node(input: unknown, field: string, depth: number, state: { leaves: number }): AudienceFilter {
  if (depth > AUDIENCE_LIMITS.filterDepth) {
    throw invalid(field, `the filter is nested deeper than ${AUDIENCE_LIMITS.filterDepth} levels`);
  }
  if (!isPlainObject(input)) throw invalid(field, 'must be an object');
  const keys = Object.keys(input);
  for (const key of keys) if (!NODE_KEYS.includes(key)) throw unknown(field, key);
  if (keys.length !== 1) throw invalid(field, `a filter node has exactly one key (got ${keys.length})`);
  const key = keys[0];
  const value = input[key];
  const at = `${field}.${key}`;

  if (key === 'and' || key === 'or') {
    if (!Array.isArray(value) || value.length === 0)
      throw invalid(at, 'must be a non-empty array of filters');
    const children = value.map((child, i) => node(child, `${at}[${i}]`, depth + 1, state));
    return key === 'and' ? { and: children } : { or: children };
  }
  if (key === 'not') return { not: node(value, at, depth + 1, state) };

  state.leaves += 1;
  if (state.leaves > AUDIENCE_LIMITS.filterLeaves) {
    throw invalid(field, `the filter has more than ${AUDIENCE_LIMITS.filterLeaves} leaves`);
  }
  return leaf(key as (typeof LEAF_KEYS)[number], value, at);
}

function nonEmpty(values: string[], at: string): string[] {
  // Inside a filter an empty list would silently match nothing (or, under `not`, everything): refuse it.
  if (values.length === 0) throw invalid(at, 'must not be empty');
  return values;
}

function leaf(key: (typeof LEAF_KEYS)[number], value: unknown, at: string): FilterLeaf {
  const max = AUDIENCE_LIMITS.valuesPerLeaf;
  switch (key) {
    case 'tag':
      return { tag: nonEmpty(stringList(value, at, max, tagProblem), at) };
    case 'tag_and':
      return { tag_and: nonEmpty(stringList(value, at, max, tagProblem), at) };
    case 'alias':
      return { alias: nonEmpty(stringList(value, at, max, aliasProblem), at) };
    case 'registration_id':
      return { registration_id: nonEmpty(stringList(value, at, max, ridProblem), at) };
    case 'platform':
      return { platform: nonEmpty(stringList(value, at, max, oneOf(PLATFORMS)), at) as Platform[] };
    case 'channel':
      return { channel: nonEmpty(stringList(value, at, max, oneOf(CHANNELS)), at) as Channel[] };
    case 'language':
      return { language: nonEmpty(stringList(value, at, max, languageProblem, normaliseLanguage), at) };
    case 'country':
      return {
        country: nonEmpty(
          stringList(value, at, max, countryProblem, (s) => s.toUpperCase()),
          at,
        ),
      };
    case 'province':
      return {
        province: nonEmpty(
          stringList(value, at, max, textProblem(64), (s) => s.trim()),
          at,
        ),
      };
    case 'city':
      return {
        city: nonEmpty(
          stringList(value, at, max, textProblem(128), (s) => s.trim()),
          at,
        ),
      };
    case 'app_version':
      return { app_version: versionRange(value, at) };
    case 'last_active':
      return { last_active: lastActive(value, at) };
  }
}

function versionRange(value: unknown, at: string): VersionRange {
  if (!isPlainObject(value)) throw invalid(at, 'must be an object with gte, gt, lte, lt or eq');
  const range: VersionRange = {};
  for (const [k, v] of Object.entries(value)) {
    if (!(VERSION_KEYS as readonly string[]).includes(k)) throw unknown(at, k);
    // A JSON number is refused, not read: 2.10 arrives as 2.1, and 2.1.0 is not a number at all.
    if (typeof v === 'number') {
      throw invalid(`${at}.${k}`, `must be a version string such as "2.1", not the number ${v}`);
    }
    if (typeof v !== 'string' || appVersionKey(v) === null) {
      throw invalid(`${at}.${k}`, 'must be a version such as "2.1" or "3.0.0-beta.1"');
    }
    range[k as keyof VersionRange] = v.trim();
  }
  if (Object.keys(range).length === 0) throw invalid(at, 'needs at least one of gte, gt, lte, lt, eq');
  return range;
}

function lastActive(value: unknown, at: string): LastActive {
  if (!isPlainObject(value)) throw invalid(at, 'must be {"within_days": n} or {"not_within_days": n}');
  const keys = Object.keys(value);
  for (const k of keys) if (k !== 'within_days' && k !== 'not_within_days') throw unknown(at, k);
  if (keys.length !== 1) throw invalid(at, 'needs exactly one of within_days, not_within_days');
  const days = value[keys[0]];
  if (typeof days !== 'number' || !Number.isInteger(days) || days < 1 || days > AUDIENCE_LIMITS.maxDays) {
    throw invalid(`${at}.${keys[0]}`, `must be a whole number of days from 1 to ${AUDIENCE_LIMITS.maxDays}`);
  }
  return keys[0] === 'within_days' ? { within_days: days } : { not_within_days: days };
}
