import { HeraldError } from '@herald/common';
import { appVersionKey } from './app-version';
import { canonicalLanguage } from './language';
import type { Audience, AudienceFilter, FilterLeaf, PushTarget, VersionRange } from './audience.types';

/**
 * A WHERE clause over `devices d` and its bound parameters (`$1` is always the app id). Values are
 * never interpolated: every leaf binds one array parameter, whatever its number of values (except a
 * `language` list: two per value of a short one, one per value length of a long one, below), so a
 * 1000-value leaf costs a parameter or a few, not a thousand.
 */
export interface CompiledAudience {
  /**
   * The row source the WHERE clause reads as `d`: `devices`, or for an audience of registration ids or
   * aliases a subquery of just those devices (see `keyedSource`).
   */
  from: string;
  where: string;
  /** `$1` is always the app id. */
  params: unknown[];
  /**
   * The audience is every active device of the app, at most narrowed by platform (a broadcast): a
   * scan can cut the app's active-device index into windows and read several at once.
   */
  wholeApp?: boolean;
  /**
   * Registration ids or aliases and nothing else (JPush's unicast): the SQL text is one of a handful,
   * whatever the values, and its plan does not depend on them, so it is worth a named prepared
   * statement with one generic plan (planning was most of a unicast scan's cost).
   */
  preparable?: boolean;
}

export interface CompileOptions {
  /**
   * The instant `last_active` windows are measured from. Bound once at compile time so that every
   * page and every shard of one push sees the same window.
   */
  asOf?: Date;
}

/**
 * Up to this many language values compile to one `(= $x OR LIKE $y)` pair each, which PostgreSQL
 * answers from `devices_language_idx` (text_pattern_ops). A longer list is matched as hashed set
 * membership instead (`languageSetSql`): its cost per device does not grow with the number of values.
 */
export const LANGUAGE_INDEXED_VALUES = 8;

/**
 * A longer language list with values of at most this many distinct lengths is one hashed lookup per
 * length (`left(d.language || '-', n + 1) = ANY(…)`, ~0.1 µs a device each); beyond it, one lookup per
 * prefix of the device's own tag in a subquery (~1.3 µs a device, whatever the values).
 */
export const LANGUAGE_LENGTH_LOOKUPS = 12;

const DAY_MS = 86_400_000;

class SqlBuilder {
  readonly params: unknown[];

  constructor(appId: string) {
    this.params = [appId];
  }

  bind(value: unknown, cast = ''): string {
    this.params.push(value);
    return `$${this.params.length}${cast}`;
  }
}

const likePrefix = (s: string) => `${s.replace(/[\\%_]/g, (c) => `\\${c}`)}-%`;

/**
 * Compiles a validated target (see `parsePushTarget`) to SQL. `segments` holds the filters of every
 * segment id the audience names (the service loads them, scoped by app); a missing one is a 1003.
 * Only active devices of the app ever match.
 */
export function compileAudience(
  appId: string,
  target: PushTarget,
  segments: ReadonlyMap<string, AudienceFilter> = new Map(),
  options: CompileOptions = {},
): CompiledAudience {
  const sql = new SqlBuilder(appId);
  const asOf = options.asOf ?? new Date();
  const source = keyedSource(sql, target.audience);
  const clauses = [`d.app_id = $1::uuid`, `d.status = 'active'`];
  if (target.platform !== 'all') clauses.push(`d.platform = ANY(${sql.bind(target.platform, '::text[]')})`);
  clauses.push(...audienceClauses(sql, target.audience, segments, asOf, source.by));
  return {
    from: source.from,
    where: clauses.join(' AND '),
    params: sql.params,
    wholeApp: target.audience.all === true,
    preparable: keyedOnly(target.audience),
  };
}

/**
 * An audience that names registration ids (JPush's unicast, and lists of up to 1,000) or aliases (at
 * most 10 devices each) is at most those devices: they are read by the registration id or alias index
 * in a subquery the planner must keep apart (`OFFSET 0`), and every other condition is checked on those
 * few rows. Over the bare table, planning such a query weighs each of the devices indexes (~0.5 ms, most
 * of a unicast's statement cost), and with stale statistics for a new app the planner may walk the
 * app's whole id index instead.
 */
function keyedSource(
  sql: SqlBuilder,
  audience: Audience,
): { from: string; by?: 'registration_id' | 'alias' } {
  if (audience.registration_id) {
    const from = `(SELECT * FROM devices WHERE registration_id = ANY(${keys(sql, audience.registration_id)}) OFFSET 0)`;
    return { from, by: 'registration_id' };
  }
  if (audience.alias) {
    // The app id likewise through a sub-select: a plan that saw it would weigh how many devices the app has.
    const from = `(SELECT * FROM devices WHERE app_id = (SELECT $1::uuid) AND alias = ANY(${keys(sql, audience.alias)}) OFFSET 0)`;
    return { from, by: 'alias' };
  }
  return { from: 'devices' };
}

/**
 * A list of registration ids or aliases, read through a sub-select so that no plan sees its values:
 * a custom plan then costs what the generic one does, and a prepared statement settles on the generic
 * plan instead of planning every call (PostgreSQL plans afresh while custom plans look cheaper). The
 * keys are unique or nearly (≤ 10 devices an alias), so the values would not change the plan anyway.
 */
function keys(sql: SqlBuilder, values: string[]): string {
  return `(SELECT ${sql.bind(values, '::text[]')})::text[]`;
}

const LIST_KEYS = ['tag', 'tag_and', 'tag_not', 'alias', 'registration_id', 'segment', 'filter'] as const;

/** Only registration ids, or only aliases: see `CompiledAudience.preparable`. */
function keyedOnly(audience: Audience): boolean {
  const present = LIST_KEYS.filter((k) => audience[k] !== undefined);
  return (
    !audience.all && present.length === 1 && (present[0] === 'registration_id' || present[0] === 'alias')
  );
}

function audienceClauses(
  sql: SqlBuilder,
  audience: Audience,
  segments: ReadonlyMap<string, AudienceFilter>,
  asOf: Date,
  /** The key the row source already selects by (`keyedSource`): not repeated here. */
  sourceKey?: 'registration_id' | 'alias',
): string[] {
  if (audience.all) return [];
  const out: string[] = [];
  if (audience.tag) out.push(`d.tags && ${sql.bind(audience.tag, '::text[]')}`);
  if (audience.tag_and) out.push(`d.tags @> ${sql.bind(audience.tag_and, '::text[]')}`);
  // `tags` is NOT NULL (default '{}'), so the plain NOT is exact here.
  if (audience.tag_not) out.push(`NOT (d.tags && ${sql.bind(audience.tag_not, '::text[]')})`);
  if (audience.alias && sourceKey !== 'alias') out.push(`d.alias = ANY(${keys(sql, audience.alias)})`);
  if (audience.registration_id && sourceKey !== 'registration_id') {
    out.push(`d.registration_id = ANY(${keys(sql, audience.registration_id)})`);
  }
  if (audience.segment) {
    const parts = audience.segment.map((id) => {
      const filter = segments.get(id);
      if (!filter) {
        throw new HeraldError('invalid_parameter', `audience.segment: no segment "${id}" in this app`, {
          details: { field: 'audience.segment' },
        });
      }
      return filterSql(sql, filter, asOf);
    });
    out.push(parts.length === 1 ? parts[0] : `(${parts.join(' OR ')})`);
  }
  if (audience.filter) out.push(filterSql(sql, audience.filter, asOf));
  return out;
}

/**
 * Boolean structure maps one to one; `not` uses `IS NOT TRUE` because a leaf over a NULL column
 * (no alias, no language, never seen) is NULL, and `NOT NULL` would wrongly drop the device: for
 * the filter, "unknown" is "does not match", so its negation matches.
 */
function filterSql(sql: SqlBuilder, filter: AudienceFilter, asOf: Date): string {
  if ('and' in filter) return `(${filter.and.map((f) => filterSql(sql, f, asOf)).join(' AND ')})`;
  if ('or' in filter) return `(${filter.or.map((f) => filterSql(sql, f, asOf)).join(' OR ')})`;
  if ('not' in filter) return `((${filterSql(sql, filter.not, asOf)}) IS NOT TRUE)`;
  return leafSql(sql, filter, asOf);
}

function leafSql(sql: SqlBuilder, leaf: FilterLeaf, asOf: Date): string {
  const text = (values: string[]) => sql.bind(values, '::text[]');
  if ('tag' in leaf) return `d.tags && ${text(leaf.tag)}`;
  if ('tag_and' in leaf) return `d.tags @> ${text(leaf.tag_and)}`;
  if ('alias' in leaf) return `d.alias = ANY(${text(leaf.alias)})`;
  if ('registration_id' in leaf) return `d.registration_id = ANY(${text(leaf.registration_id)})`;
  if ('platform' in leaf) return `d.platform = ANY(${text(leaf.platform)})`;
  if ('channel' in leaf) return `d.channel = ANY(${text(leaf.channel)})`;
  if ('country' in leaf) return `d.country = ANY(${text(leaf.country)})`;
  // Free text where no ISO code is known: matched case-insensitively (no index serves these).
  if ('province' in leaf)
    return `lower(d.province) = ANY(${text(leaf.province.map((s) => s.toLowerCase()))})`;
  if ('city' in leaf) return `lower(d.city) = ANY(${text(leaf.city.map((s) => s.toLowerCase()))})`;
  if ('language' in leaf) return languageSql(sql, leaf.language);
  if ('app_version' in leaf) return versionSql(sql, leaf.app_version);
  if ('timezone' in leaf) {
    const zones = `d.timezone = ANY(${text(leaf.timezone)})`;
    return leaf.include_unset ? `(${zones} OR d.timezone IS NULL)` : zones;
  }
  const la = leaf.last_active;
  if ('within_days' in la) {
    return `d.last_seen_at >= ${sql.bind(new Date(asOf.getTime() - la.within_days * DAY_MS), '::timestamptz')}`;
  }
  const since = sql.bind(new Date(asOf.getTime() - la.not_within_days * DAY_MS), '::timestamptz');
  return `(d.last_seen_at IS NULL OR d.last_seen_at < ${since})`;
}

/**
 * `zh` matches `zh` and `zh-…`: a device's tag equals a value, or starts with a value and `-`. Stored
 * languages are canonical and lower-cased (`canonicalLanguage`); the parser reads values the same way,
 * and they are canonicalised again here for audiences stored before it did (a schedule's, a message's).
 */
function languageSql(sql: SqlBuilder, languages: string[]): string {
  const values = [...new Set(languages.map((l) => canonicalLanguage(l)?.tag ?? l.toLowerCase()))];
  if (values.length <= LANGUAGE_INDEXED_VALUES) {
    const parts = values.map(
      (v) => `d.language = ${sql.bind(v, '::text')} OR d.language LIKE ${sql.bind(likePrefix(v), '::text')}`,
    );
    return `(${parts.join(' OR ')})`;
  }
  return languageSetSql(sql, values);
}

/**
 * A long list as equality lookups only: PostgreSQL hashes an `= ANY` over a bound array (9 values or
 * more), so each lookup costs the same for 10 values or 1000. `LIKE ANY` compared the tag with every
 * pattern in turn (and `&&` over the tag's prefixes would too), which for 50 leaves of 1000 values took
 * ~0.8 ms a device: tens of thousands of devices ran into the statement timeout.
 *
 * Grouped by length n, "equals v or starts with v-" is "the first n + 1 characters of tag || '-' are
 * v || '-'" (a tag either is v, or continues past v with `-`). With many distinct lengths, the lookups
 * go the other way: the tag itself, then its prefixes before each `-`.
 */
function languageSetSql(sql: SqlBuilder, values: string[]): string {
  const byLength = new Map<number, string[]>();
  for (const v of values) {
    const group = byLength.get(v.length);
    if (group) group.push(`${v}-`);
    else byLength.set(v.length, [`${v}-`]);
  }
  if (byLength.size <= LANGUAGE_LENGTH_LOOKUPS) {
    const lookups = [...byLength].map(
      // n is a length computed here, never a value.
      ([n, dashed]) => `left(d.language || '-', ${n + 1}) = ANY(${sql.bind(dashed, '::text[]')})`,
    );
    return `(${lookups.join(' OR ')})`;
  }
  const set = sql.bind(values, '::text[]');
  return `(d.language = ANY(${set}) OR EXISTS (SELECT FROM generate_series(2, length(d.language) - 1) i
    WHERE substr(d.language, i, 1) = '-' AND left(d.language, i - 1) = ANY(${set})))`;
}

const VERSION_OPS: Record<keyof VersionRange, string> = { gte: '>=', gt: '>', lte: '<=', lt: '<', eq: '=' };

/** Compared byte-wise (`COLLATE "C"`), the order `appVersionKey` is built for. */
function versionSql(sql: SqlBuilder, range: VersionRange): string {
  const parts: string[] = [];
  for (const [op, symbol] of Object.entries(VERSION_OPS) as [keyof VersionRange, string][]) {
    const version = range[op];
    if (version === undefined) continue;
    const key = appVersionKey(version);
    if (key === null) {
      throw new HeraldError('invalid_parameter', `app_version.${op}: "${version}" is not a version`);
    }
    parts.push(`d.app_version_key COLLATE "C" ${symbol} ${sql.bind(key, '::text')}`);
  }
  return parts.length === 1 ? parts[0] : `(${parts.join(' AND ')})`;
}
