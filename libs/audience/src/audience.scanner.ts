import type { CompiledAudience } from './audience.compiler';
import type { Channel } from './audience.types';

/** Anything that runs a parameterised query: a TypeORM DataSource, EntityManager or QueryRunner. */
export interface Queryable {
  query(sql: string, params?: unknown[]): Promise<unknown>;
}

/** The columns delivery needs, and no more (the scan's cost is mostly bytes and row objects). */
export interface AudienceDevice {
  /** bigint, as a string. */
  id: string;
  registrationId: string;
  channel: Channel;
  platform: string;
  token: string | null;
  apnsEnvironment: 'sandbox' | 'production' | null;
  language: string | null;
  badge: number;
  timezone: string | null;
}

/**
 * A slice of the id space: devices with `afterId < id <= throughId` (bigints as strings). Ranges
 * from `splitIdRanges` cover every possible id, so a device registered during a push falls in one.
 */
export interface IdRange {
  afterId: string;
  throughId: string;
}

export const MAX_DEVICE_ID = '9223372036854775807';
export const FULL_RANGE: IdRange = Object.freeze({ afterId: '0', throughId: MAX_DEVICE_ID });

export interface ScanOptions {
  /** Rows per query; default 5,000. */
  pageSize?: number;
  range?: IdRange;
}

/** `id::text`: the same string pg would make of a bigint, without its per-row parse. */
const COLUMNS = `d.id::text AS id, d.registration_id AS "registrationId", d.channel, d.platform, d.token,
  d.apns_environment AS "apnsEnvironment", d.language, d.badge, d.timezone`;

/**
 * The audience in id order, one page per iteration, by keyset (`id > last id`): at most two pages
 * are held at a time (the one yielded and the next, fetched while the caller works on it), whatever
 * the audience's size (architecture invariant 2). Each page is its own short query, so no
 * transaction or cursor stays open while a shard delivers.
 */
export async function* scanAudience(
  db: Queryable,
  compiled: CompiledAudience,
  options: ScanOptions = {},
): AsyncGenerator<AudienceDevice[], void, undefined> {
  const pageSize = options.pageSize ?? 5_000;
  if (!Number.isInteger(pageSize) || pageSize < 1 || pageSize > 100_000) {
    throw new RangeError('pageSize must be a whole number from 1 to 100000');
  }
  const range = options.range ?? FULL_RANGE;
  const n = compiled.params.length;
  const sql = `SELECT ${COLUMNS} FROM devices d
    WHERE ${compiled.where} AND d.id > $${n + 1}::bigint AND d.id <= $${n + 2}::bigint
    ORDER BY d.id LIMIT ${pageSize}`;
  const fetch = (after: string) =>
    db.query(sql, [...compiled.params, after, range.throughId]) as Promise<AudienceDevice[]>;

  let pending: Promise<AudienceDevice[]> | null = fetch(range.afterId);
  try {
    while (pending) {
      const page: AudienceDevice[] = await pending;
      pending = page.length === pageSize ? fetch(page[page.length - 1].id) : null;
      if (page.length > 0) yield page;
    }
  } finally {
    // The caller stopped early: let the prefetch settle so its failure is not an unhandled rejection.
    if (pending) await pending.catch(() => undefined);
  }
}

/**
 * Splits an app's active devices into at most `n` ranges of about equal size (percentiles of their
 * ids), for shards scanned in parallel. The first range starts at 0 and the last ends at the largest
 * bigint, so together they cover the whole id space.
 */
export async function splitIdRanges(db: Queryable, appId: string, n: number): Promise<IdRange[]> {
  if (!Number.isInteger(n) || n < 1 || n > 10_000)
    throw new RangeError('n must be a whole number from 1 to 10000');
  if (n === 1) return [{ ...FULL_RANGE }];
  const fractions = Array.from({ length: n - 1 }, (_, i) => (i + 1) / n);
  const rows = (await db.query(
    `SELECT percentile_disc($2::float8[]) WITHIN GROUP (ORDER BY id)::text[] AS bounds
       FROM devices WHERE app_id = $1 AND status = 'active'`,
    [appId, fractions],
  )) as { bounds: string[] | null }[];
  const bounds = [...new Set(rows[0]?.bounds ?? [])].sort((a, b) => (BigInt(a) < BigInt(b) ? -1 : 1));
  const ranges: IdRange[] = [];
  let after = FULL_RANGE.afterId;
  for (const bound of bounds) {
    ranges.push({ afterId: after, throughId: bound });
    after = bound;
  }
  ranges.push({ afterId: after, throughId: MAX_DEVICE_ID });
  return ranges;
}
