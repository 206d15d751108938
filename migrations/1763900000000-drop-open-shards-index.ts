import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Drops `message_shards_open_idx` (`(message_id) WHERE status IN ('pending', 'running')`). Every query
 * over `message_shards` names its message, and the primary key `(message_id, shard_no)` already serves
 * that; the partial index only gave the planner a trap. Statistics taken while no shard was open make
 * the whole index look one row long, so the shared claim and finish statements (one generic plan each)
 * scanned every open shard and matched their keys in a join filter instead of probing the primary key:
 * harmless on an idle queue, 3.8 ms a claim with a backlog of ~14,000 unicast shards (bench:unicast),
 * slowing the worker exactly when it falls behind. A shard's status updates can now also be HOT
 * (no indexed column or index predicate changes), so they no longer write index entries.
 */
export class DropOpenShardsIndex1763900000000 implements MigrationInterface {
  name = 'DropOpenShardsIndex1763900000000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`DROP INDEX IF EXISTS message_shards_open_idx`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(
      `CREATE INDEX IF NOT EXISTS message_shards_open_idx ON message_shards (message_id)
         WHERE status IN ('pending', 'running')`,
    );
  }
}
