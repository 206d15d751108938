import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Devices: a sortable form of the app version (so `app_version` filters compare as semantic versions
 * through an index; byte order — COLLATE "C" — is what makes the keys sort, and lets the index serve
 * range conditions), and the receipts devices report over the SDK API for APNs/FCM messages.
 */
export class DeviceNormalisation1763800000000 implements MigrationInterface {
  name = 'DeviceNormalisation1763800000000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`ALTER TABLE devices ADD COLUMN app_version_key text COLLATE "C"`);
    await q.query(
      `CREATE INDEX devices_app_version_idx ON devices (app_id, app_version_key) WHERE status = 'active'`,
    );

    // One row per (message, device, event): a device repeating a receipt changes nothing.
    await q.query(`
      CREATE TABLE device_receipts (
        message_id bigint NOT NULL,
        device_id bigint NOT NULL REFERENCES devices(id) ON DELETE CASCADE,
        app_id uuid NOT NULL REFERENCES apps(id) ON DELETE CASCADE,
        event text NOT NULL CHECK (event IN ('delivered', 'opened', 'dismissed')),
        occurred_at timestamptz NOT NULL,
        processed_at timestamptz,
        created_at timestamptz NOT NULL DEFAULT now(),
        PRIMARY KEY (message_id, device_id, event)
      )`);
    // The pipeline's work list: receipts not yet folded into the ledger and counters.
    await q.query(
      `CREATE INDEX device_receipts_unprocessed_idx ON device_receipts (created_at) WHERE processed_at IS NULL`,
    );
  }

  async down(): Promise<void> {
    throw new Error('Herald migrations are forward-only; restore from a backup instead of migrating down');
  }
}
