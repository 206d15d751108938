import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * `schedules_paused_due_idx`: the fire-due job (every second) also takes paused schedules whose pending
 * time has passed, to move them on or expire them without firing. `schedules_due_idx` covers only
 * enabled rows; paused ones in force are few, and this keeps that look-up an index probe.
 */
export class PausedSchedulesIndex1763910000000 implements MigrationInterface {
  name = 'PausedSchedulesIndex1763910000000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(
      `CREATE INDEX IF NOT EXISTS schedules_paused_due_idx ON schedules (next_fire_at)
         WHERE NOT enabled AND status = 'active'`,
    );
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`DROP INDEX IF EXISTS schedules_paused_due_idx`);
  }
}
