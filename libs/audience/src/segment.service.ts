import { DataSource, EntityManager, QueryFailedError } from 'typeorm';
import { HeraldError } from '@herald/common';
import { SegmentEntity } from '@herald/db';
import { parseFilter } from './audience.parser';
import type { AudienceFilter } from './audience.types';

export interface Segment {
  id: string;
  appId: string;
  name: string;
  filter: AudienceFilter;
  createdAt: Date;
  updatedAt: Date;
}

export interface SegmentPage {
  items: Segment[];
  /** Pass back as `cursor` for the next page; null on the last page. */
  nextCursor: string | null;
}

const MAX_NAME = 100;
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/**
 * Saved segments: a named `audience.filter` per app. Every method takes the app id and every query
 * is scoped by it, so another app's segment id is simply not found (404). Filters are validated
 * with the push's own rules before they are stored. Nest-free: the dashboard wraps it.
 */
export class SegmentService {
  constructor(private readonly db: DataSource | EntityManager) {}

  private get repo() {
    return this.db.getRepository(SegmentEntity);
  }

  async create(appId: string, input: { name: unknown; filter: unknown }): Promise<Segment> {
    const name = segmentName(input.name);
    const filter = parseFilter(input.filter, 'filter');
    try {
      const row = await this.repo.save(
        this.repo.create({ appId, name, filter: filter as Record<string, unknown> }),
      );
      return toSegment(row);
    } catch (err) {
      throw duplicateName(err, name);
    }
  }

  async get(appId: string, id: string): Promise<Segment> {
    const row = UUID.test(id) ? await this.repo.findOneBy({ appId, id: id.toLowerCase() }) : null;
    if (!row) throw notFound(id);
    return toSegment(row);
  }

  /** Ordered by name (unique per app, so the name is the keyset cursor). */
  async list(appId: string, options: { limit?: number; cursor?: string | null } = {}): Promise<SegmentPage> {
    const limit = Math.min(Math.max(Math.trunc(options.limit ?? 50), 1), 200);
    const after = options.cursor ? decodeCursor(options.cursor) : null;
    const qb = this.repo
      .createQueryBuilder('s')
      .where('s.app_id = :appId', { appId })
      .orderBy('s.name', 'ASC')
      .limit(limit + 1);
    if (after !== null) qb.andWhere('s.name > :after', { after });
    const rows = await qb.getMany();
    const items = rows.slice(0, limit).map(toSegment);
    return {
      items,
      nextCursor:
        rows.length > limit ? Buffer.from(items[items.length - 1].name).toString('base64url') : null,
    };
  }

  async update(appId: string, id: string, input: { name?: unknown; filter?: unknown }): Promise<Segment> {
    const changes: Partial<SegmentEntity> = {};
    if (input.name !== undefined) changes.name = segmentName(input.name);
    if (input.filter !== undefined) changes.filter = parseFilter(input.filter, 'filter');
    const row = UUID.test(id) ? await this.repo.findOneBy({ appId, id: id.toLowerCase() }) : null;
    if (!row) throw notFound(id);
    if (Object.keys(changes).length === 0) return toSegment(row);
    try {
      return toSegment(await this.repo.save(Object.assign(row, changes)));
    } catch (err) {
      throw duplicateName(err, row.name);
    }
  }

  async delete(appId: string, id: string): Promise<void> {
    const result = UUID.test(id) ? await this.repo.delete({ appId, id: id.toLowerCase() }) : { affected: 0 };
    if (!result.affected) throw notFound(id);
  }

  /**
   * The filters of the given segment ids, for the compiler. Ids of other apps or of no segment are
   * left out of the map; the compiler then answers 1003 naming the id.
   */
  async filtersOf(appId: string, ids: readonly string[]): Promise<Map<string, AudienceFilter>> {
    const valid = ids.filter((id) => UUID.test(id)).map((id) => id.toLowerCase());
    if (valid.length === 0) return new Map();
    const rows = await this.repo
      .createQueryBuilder('s')
      .where('s.app_id = :appId AND s.id = ANY(:ids)', { appId, ids: valid })
      .getMany();
    // Stored filters were validated on write; parsing again normalises them and guards against rows
    // written by hand or by an older version.
    return new Map(rows.map((r) => [r.id, parseFilter(r.filter, `segment ${r.id}`)]));
  }
}

function segmentName(value: unknown): string {
  if (typeof value !== 'string' || value.trim().length === 0 || value.trim().length > MAX_NAME) {
    throw new HeraldError('invalid_parameter', `name: must be 1 to ${MAX_NAME} characters`, {
      details: { field: 'name' },
    });
  }
  return value.trim();
}

function decodeCursor(cursor: string): string {
  const name = Buffer.from(cursor, 'base64url').toString('utf8');
  if (name.length === 0 || Buffer.from(name).toString('base64url') !== cursor) {
    throw new HeraldError('invalid_parameter', 'cursor: not a cursor this API returned', {
      details: { field: 'cursor' },
    });
  }
  return name;
}

const notFound = (id: string) => new HeraldError('not_found', `segment "${id}" not found`);

function duplicateName(err: unknown, name: string): unknown {
  const driver =
    err instanceof QueryFailedError ? (err.driverError as { code?: string; constraint?: string }) : null;
  if (driver?.code === '23505' && driver.constraint === 'segments_name_key') {
    return new HeraldError('conflict', `a segment named "${name}" already exists in this app`, {
      details: { field: 'name' },
      cause: err,
    });
  }
  return err;
}

function toSegment(row: SegmentEntity): Segment {
  return {
    id: row.id,
    appId: row.appId,
    name: row.name,
    filter: row.filter as AudienceFilter,
    createdAt: row.createdAt,
    updatedAt: row.updatedAt,
  };
}
