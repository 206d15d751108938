import type { Queryable } from '@herald/db';
import type { CompiledAudience } from './audience.compiler';
import type { Channel } from './audience.types';

/** Anything that runs a parameterised query: a TypeORM DataSource, EntityManager or QueryRunner. */
export type { Queryable };

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

/**
 * One page comes back as ONE text value, its devices' fields joined (`string_agg`), and is split in
 * Node: `pg` turning 10,000 rows of nine columns into objects cost ~2 µs a row (most of a scan's CPU),
 * one string and `indexOf` walks ~0.5 µs (docs/benchmarks.md, audience rows).
 *
 * A record is `id␟channel␟apns_environment␟badge␟` followed by five length-prefixed text fields
 * (`<length>␟<value>`, length -1 for NULL): registration id, platform, language, time zone, token. The
 * prefix makes the format exact whatever the text holds (a separator inside a token included); the
 * unprefixed fields are a bigint, an int and two CHECK-constrained words. `length()` counts code points
 * and JavaScript code units, which differ only for characters outside the BMP; the reader notices
 * those and counts code points instead.
 */
const US = '\x1f';
const prefixed = (col: string) => [`coalesce(length(${col}), -1)`, `coalesce(${col}, '')`];
// One concat_ws call, not a chain of `||` (each of which built a new text): ~10% less PostgreSQL time
// per row. concat_ws skips NULL arguments, so every nullable one is coalesced.
const RECORD = `concat_ws(E'${US}', ${[
  `d.id`,
  `d.channel`,
  `coalesce(d.apns_environment, '')`,
  `d.badge`,
  ...prefixed('d.registration_id'),
  ...prefixed('d.platform'),
  ...prefixed('d.language'),
  ...prefixed('d.timezone'),
  ...prefixed('d.token'),
].join(', ')})`;

/**
 * The audience in id order, one page per iteration, whatever its size holding at most three pages
 * (architecture invariant 2): the one yielded and the next ones, fetched while the caller works on it.
 * Each page is its own short query, so no transaction or cursor stays open while a shard delivers.
 *
 * A broadcast (`wholeApp`) is cut into windows of `pageSize` of the app's active devices, bounds
 * read from the active-device index ahead of time, and two windows are fetched at once (PostgreSQL
 * builds a page in ~2 µs a device, Node reads it in ~0.7: one connection would leave the scan waiting
 * on one core). Any other audience pages by keyset (`id > last id … LIMIT pageSize`), one page ahead,
 * so a narrow audience (one registration id, a rare tag) is one indexed query, not a walk of the app.
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
  const pages = compiled.wholeApp
    ? windowPages(db, compiled, pageSize, range)
    : keysetPages(db, compiled, pageSize, range);
  let next = pages.next();
  try {
    for (;;) {
      const fetched = await next.fetched;
      if (fetched === null) return;
      next = pages.next();
      if (fetched.length > 0) yield fetched;
    }
  } finally {
    // The caller stopped early: let what is in flight settle so a failure is not an unhandled rejection.
    await pages.drain();
  }
}

interface PageSource {
  /** Starts fetching the next page (call it once the previous one has arrived); `null` once exhausted. */
  next(): { fetched: Promise<AudienceDevice[] | null> };
  drain(): Promise<void>;
}

const pageSql = (compiled: CompiledAudience, tail: string) => {
  const n = compiled.params.length;
  return `SELECT max(id)::text AS last, count(*)::int AS covered, string_agg(r, '') AS page FROM (
    SELECT d.id, ${RECORD} AS r FROM ${compiled.from} d
     WHERE ${compiled.where} AND d.id > $${n + 1}::bigint AND d.id <= $${n + 2}::bigint
     ORDER BY d.id${tail}) s`;
};

interface PageRow {
  last: string | null;
  covered: number;
  page: string | null;
}

async function queryPage(
  db: Queryable,
  sql: string,
  compiled: CompiledAudience,
  window: IdRange,
  limit?: number,
) {
  const params = [...compiled.params, window.afterId, window.throughId];
  if (limit !== undefined) params.push(limit);
  const rows = (await db.query(sql, params)) as PageRow[];
  return rows[0] ?? { last: null, covered: 0, page: null };
}

/**
 * `string_agg` takes the rows in the subquery's order (PostgreSQL's documented "usually works"; an
 * ORDER BY inside the aggregate sorts every page a second time): {@link parsePage} checks the order and
 * sorts the rare page that is not.
 */
function keysetPages(
  db: Queryable,
  compiled: CompiledAudience,
  pageSize: number,
  range: IdRange,
): PageSource {
  // The page size is bound, not written in: a prepared scan keeps one text whatever the size.
  const sql = pageSql(compiled, ` LIMIT $${compiled.params.length + 3}::int`);
  let after: string | null = range.afterId;
  let current: Promise<PageRow> | null = null;
  return {
    next() {
      if (after === null) return { fetched: Promise.resolve(null) };
      const from = after;
      const row = queryPage(db, sql, compiled, { afterId: from, throughId: range.throughId }, pageSize);
      current = row;
      // The next page starts where this one ended, so it can only be asked for once this one is in.
      after = null;
      return {
        fetched: row.then((r) => {
          after = r.covered === pageSize && r.last !== null ? r.last : null;
          return parsePage(r.page);
        }),
      };
    },
    async drain() {
      await current?.catch(() => undefined);
    },
  };
}

const WINDOWS_IN_FLIGHT = 2;
const WINDOWS_PER_BOUNDS_QUERY = 4;

function windowPages(
  db: Queryable,
  compiled: CompiledAudience,
  pageSize: number,
  range: IdRange,
): PageSource {
  const sql = pageSql(compiled, '');
  // Every pageSize-th active id of the app after $2: the upper bounds of the next windows (an
  // index-only scan of devices_active_scan_idx).
  const boundsSql = `SELECT id::text AS id FROM (
      SELECT id, row_number() OVER (ORDER BY id) AS rn FROM (
        SELECT id FROM devices WHERE app_id = $1 AND status = 'active' AND id > $2::bigint AND id <= $3::bigint
         ORDER BY id LIMIT ${WINDOWS_PER_BOUNDS_QUERY * pageSize}) ids) numbered
     WHERE rn % ${pageSize} = 0 ORDER BY rn`;
  const windows: IdRange[] = [];
  let lo = range.afterId;
  let exhausted = false;
  const inFlight: Promise<AudienceDevice[] | null>[] = [];
  let bounds: Promise<void> | null = null;

  const moreWindows = async () => {
    const rows = (await db.query(boundsSql, [compiled.params[0], lo, range.throughId])) as { id: string }[];
    for (const { id } of rows) {
      windows.push({ afterId: lo, throughId: id });
      lo = id;
    }
    if (rows.length < WINDOWS_PER_BOUNDS_QUERY) {
      // Fewer ids than the windows asked for: the last window runs to the end of the range.
      windows.push({ afterId: lo, throughId: range.throughId });
      exhausted = true;
    }
  };
  const fetchNext = async (): Promise<AudienceDevice[] | null> => {
    while (windows.length === 0) {
      if (exhausted) return null;
      bounds ??= moreWindows().finally(() => (bounds = null));
      await bounds;
    }
    const window = windows.shift() as IdRange;
    return parsePage((await queryPage(db, sql, compiled, window)).page);
  };
  const start = () => {
    const p = fetchNext();
    p.catch(() => undefined); // awaited in order by next(); this only marks it handled meanwhile
    inFlight.push(p);
  };
  return {
    next() {
      // Called as the previous page arrives: this one and the one after it are then in flight while
      // the caller works on the previous page.
      while (inFlight.length < WINDOWS_IN_FLIGHT) start();
      return { fetched: inFlight.shift() as Promise<AudienceDevice[] | null> };
    },
    async drain() {
      await Promise.allSettled(inFlight);
    },
  };
}

/** Reads the records of one page (see {@link RECORD}); exported for its unit test. */
export function parsePage(page: string | null): AudienceDevice[] {
  const out: AudienceDevice[] = [];
  if (!page) return out;
  // Characters outside the BMP are rare (tokens are ASCII): one look at the page spares each field its own.
  const reader = new PageReader(page, /[\ud800-\udfff]/.test(page));
  let ordered = true;
  let previous = '';
  while (reader.pos < page.length) {
    const id = reader.plain();
    if (ordered && out.length > 0 && compareIds(previous, id) >= 0) ordered = false;
    previous = id;
    const channel = reader.word(CHANNEL_WORDS) as Channel;
    const env = reader.word(ENV_WORDS);
    const badge = reader.int();
    const registrationId = reader.prefixed() as string;
    const platform = reader.prefixed(0);
    const language = reader.prefixed(1);
    const timezone = reader.prefixed(2);
    const token = reader.prefixed();
    out.push({
      id,
      registrationId,
      channel,
      platform: platform as string,
      token,
      apnsEnvironment: env === '' ? null : (env as 'sandbox' | 'production'),
      language,
      badge,
      timezone,
    });
  }
  if (!ordered) out.sort((a, b) => compareIds(a.id, b.id));
  return out;
}

/** Bigint strings without sign or leading zeros: the longer is larger, else the text decides. */
function compareIds(a: string, b: string): number {
  if (a.length !== b.length) return a.length - b.length;
  return a < b ? -1 : a > b ? 1 : 0;
}

const SEP = 0x1f;
const CHANNEL_WORDS = ['gateway', 'apns', 'fcm'];
const ENV_WORDS = ['production', 'sandbox', ''];

/**
 * A page is read without making a string of what need not be one: numbers are read digit by digit,
 * words from a known set are compared in place, and a platform, language or time zone equal to the
 * one the previous record of its kind had is that same string (most records repeat them). A page of
 * 10,000 devices made ~14 strings a record before, and collecting them was most of a scan's time in Node.
 */
class PageReader {
  pos = 0;
  /** The last value read of each repeated field (platform, language, time zone). */
  private readonly last: (string | null)[] = [null, null, null];

  constructor(
    private readonly s: string,
    private readonly astral: boolean,
  ) {}

  /** A field that cannot hold the separator, up to and past the next one. */
  plain(): string {
    const end = this.s.indexOf('\x1f', this.pos);
    if (end < 0) throw new Error('audience page: truncated record');
    const value = this.s.slice(this.pos, end);
    this.pos = end + 1;
    return value;
  }

  /** A plain field that is one of `words` (returned as that constant), or else whatever it holds. */
  word(words: readonly string[]): string {
    for (const w of words) {
      if (this.s.charCodeAt(this.pos + w.length) === SEP && this.s.startsWith(w, this.pos)) {
        this.pos += w.length + 1;
        return w;
      }
    }
    return this.plain();
  }

  /** A plain field holding an integer (optionally negative), read without a string. */
  int(): number {
    const s = this.s;
    let i = this.pos;
    const negative = s.charCodeAt(i) === 0x2d;
    if (negative) i++;
    let n = 0;
    let c = s.charCodeAt(i);
    const first = i;
    while (c >= 0x30 && c <= 0x39) {
      n = n * 10 + (c - 0x30);
      c = s.charCodeAt(++i);
    }
    if (c !== SEP || i === first) {
      if (Number.isNaN(c)) throw new Error('audience page: truncated record');
      throw new Error(`audience page: not a number at ${this.pos}`);
    }
    this.pos = i + 1;
    return negative ? -n : n;
  }

  /**
   * `<code points>␟<value>`, then the separator that ends every field but a record's last. `repeat`
   * names a field whose value is often the previous record's (see the class comment).
   */
  prefixed(repeat?: number): string | null {
    const length = this.int();
    if (length < 0) return this.skipSeparator(null);
    const start = this.pos;
    const end = start + length;
    if (repeat !== undefined) {
      const last = this.last[repeat];
      if (last !== null && last.length === length && this.s.startsWith(last, start)) {
        this.pos = end;
        return this.skipSeparator(last);
      }
    }
    let value = this.s.slice(start, end);
    let reusable = true;
    if (this.astral && /[\ud800-\udfff]/.test(value)) {
      // Characters outside the BMP are two code units each: walk code points. Such a value is never
      // reused: its length in code units is not its length in code points, which the check above compares.
      let at = start;
      for (let i = 0; i < length; i++) at += (this.s.codePointAt(at) as number) > 0xffff ? 2 : 1;
      value = this.s.slice(start, at);
      this.pos = at;
      reusable = false;
    } else {
      this.pos = end;
    }
    if (this.pos > this.s.length) throw new Error('audience page: truncated record');
    if (repeat !== undefined) this.last[repeat] = reusable ? value : null;
    return this.skipSeparator(value);
  }

  private skipSeparator<T>(value: T): T {
    if (this.s.charCodeAt(this.pos) === SEP) this.pos++;
    return value;
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
