import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * A covering index of the attributes audiences segment by, for the active devices of each app: keyed
 * by country (region is the usual first cut) and carrying channel, platform, language, tags and app
 * version. A count or estimate over them — the dashboard's reach, `/v3/push/validate` — becomes an
 * index-only scan of ~100 bytes a device (only the country's range of it when the filter names
 * countries) instead of a visit to every heap page of the app: a tag on 15% of devices touches nearly
 * all of them. It replaces `devices_country_idx` (same keys), so device writes maintain no more indexes
 * than before; `last_seen_at`, `badge` and the heartbeat are not in it, so their updates stay HOT.
 *
 * On a large existing installation, build it first with `CREATE INDEX CONCURRENTLY` and the same
 * definition (docs/operations.md): this migration then finds it and only drops the old index.
 */
export class SegmentIndex1763890000000 implements MigrationInterface {
  name = 'SegmentIndex1763890000000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(
      `CREATE INDEX IF NOT EXISTS devices_segment_idx ON devices (app_id, country)
         INCLUDE (channel, platform, language, tags, app_version_key) WHERE status = 'active'`,
    );
    await q.query(`DROP INDEX IF EXISTS devices_country_idx`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(
      `CREATE INDEX IF NOT EXISTS devices_country_idx ON devices (app_id, country) WHERE status = 'active'`,
    );
    await q.query(`DROP INDEX IF EXISTS devices_segment_idx`);
  }
}
