import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Schedules become runnable and campaigns exist. `schedules.spec` is the validated push a fire sends
 * (`push` stays the request as the client wrote it, for GET); `occurrence` is the wall clock of the
 * pending trigger time (a local-time occurrence is one wall clock released at many instants);
 * `active_from` is when the schedule was last created, resumed or changed — local-time groups due
 * before it are not sent late. A campaign is a named schedule, owned by the dashboard.
 */
export class Campaigns1763870000000 implements MigrationInterface {
  name = 'Campaigns1763870000000';

  async up(q: QueryRunner): Promise<void> {
    // No schedule rows exist before this migration (nothing could create one), so no backfill.
    await q.query(`
      ALTER TABLE schedules
        ADD COLUMN spec jsonb NOT NULL DEFAULT '{}'::jsonb,
        ADD COLUMN occurrence text,
        ADD COLUMN active_from timestamptz NOT NULL DEFAULT now()`);
    await q.query(`ALTER TABLE schedules ALTER COLUMN spec DROP DEFAULT`);
    await q.query(`CREATE INDEX schedule_fires_message_idx ON schedule_fires (message_id)`);

    await q.query(`
      CREATE TABLE campaigns (
        id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
        app_id uuid NOT NULL REFERENCES apps(id) ON DELETE CASCADE,
        schedule_id uuid NOT NULL REFERENCES schedules(id) ON DELETE CASCADE,
        name text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
        created_by uuid REFERENCES users(id) ON DELETE SET NULL,
        created_at timestamptz NOT NULL DEFAULT now(),
        updated_at timestamptz NOT NULL DEFAULT now()
      )`);
    await q.query(`CREATE UNIQUE INDEX campaigns_schedule_key ON campaigns (schedule_id)`);
    await q.query(`CREATE INDEX campaigns_app_idx ON campaigns (app_id, created_at DESC, id DESC)`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`DROP TABLE campaigns`);
    await q.query(`DROP INDEX schedule_fires_message_idx`);
    await q.query(`ALTER TABLE schedules DROP COLUMN spec, DROP COLUMN occurrence, DROP COLUMN active_from`);
  }
}
