import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * The push pipeline's outbox for JPush `callback`s: ledger changes of messages that asked for a
 * callback are written here in the same statement that changes the ledger, and the callbacks worker
 * POSTs them (signed, retried) and deletes what the tenant's server accepted. One row per
 * (message, device, event): a repeated receipt is never reported twice.
 */
export class PushPipeline1763850000000 implements MigrationInterface {
  name = 'PushPipeline1763850000000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`
      CREATE TABLE callback_events (
        id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        app_id uuid NOT NULL REFERENCES apps(id) ON DELETE CASCADE,
        message_id bigint NOT NULL REFERENCES messages(id) ON DELETE CASCADE,
        device_id bigint NOT NULL,
        registration_id text NOT NULL,
        event text NOT NULL CHECK (event IN ('sent', 'delivered', 'clicked', 'dismissed')),
        occurred_at timestamptz NOT NULL,
        attempts integer NOT NULL DEFAULT 0,
        next_attempt_at timestamptz NOT NULL DEFAULT now(),
        last_error text,
        created_at timestamptz NOT NULL DEFAULT now(),
        UNIQUE (message_id, device_id, event)
      )`);
    await q.query(`CREATE INDEX callback_events_due_idx ON callback_events (next_attempt_at, id)`);
    // The reconciler and the callbacks worker look up a message's shards that are not finished.
    await q.query(
      `CREATE INDEX message_shards_open_idx ON message_shards (message_id) WHERE status IN ('pending', 'running')`,
    );
  }

  async down(): Promise<void> {
    throw new Error('Herald migrations are forward-only; restore from a backup instead of migrating down');
  }
}
