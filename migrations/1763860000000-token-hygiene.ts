import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Token hygiene: each app's `token.invalidated` webhook (URL and signing secret, the secret
 * envelope-encrypted with AAD `app_webhook:<appId>`), an outbox of webhook deliveries (one row per
 * invalidation, retried with back-off), and a trigger that records every return of a quarantined or
 * invalid device to `active` (a re-registration or a token update through the SDK API) as a
 * `restored` feedback event with its audit entry, whichever code path made the change.
 */
export class TokenHygiene1763860000000 implements MigrationInterface {
  name = 'TokenHygiene1763860000000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`ALTER TABLE apps ADD COLUMN webhook_url text, ADD COLUMN webhook_secret text`);

    await q.query(`
      CREATE TABLE webhook_events (
        id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        app_id uuid NOT NULL REFERENCES apps(id) ON DELETE CASCADE,
        event text NOT NULL CHECK (event IN ('token.invalidated')),
        feedback_event_id bigint NOT NULL REFERENCES feedback_events(id) ON DELETE CASCADE,
        attempts integer NOT NULL DEFAULT 0,
        next_attempt_at timestamptz NOT NULL DEFAULT now(),
        last_error text,
        -- Set when the last attempt failed: kept for inspection, never sent again.
        failed_at timestamptz,
        created_at timestamptz NOT NULL DEFAULT now()
      )`);
    await q.query(
      `CREATE INDEX webhook_events_due_idx ON webhook_events (next_attempt_at, id) WHERE failed_at IS NULL`,
    );
    await q.query(`CREATE INDEX webhook_events_feedback_idx ON webhook_events (feedback_event_id)`);

    await q.query(`
      CREATE FUNCTION herald_device_restored() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN
        INSERT INTO feedback_events (app_id, device_id, registration_id, channel, token_hash, token_suffix,
                                     reason, action)
        VALUES (NEW.app_id, NEW.id, NEW.registration_id, NEW.channel,
                CASE WHEN NEW.token IS NOT NULL THEN encode(digest(NEW.token, 'sha256'), 'hex') END,
                right(NEW.token, 8),
                CASE WHEN NEW.token IS DISTINCT FROM OLD.token THEN 'token_updated' ELSE 're_registered' END,
                'restored');
        INSERT INTO audit_log (tenant_id, app_id, actor_type, actor_id, action, target_type, target_id, details)
        SELECT a.tenant_id, NEW.app_id, 'device', NEW.registration_id, 'device.restored', 'device',
               NEW.registration_id, jsonb_build_object('from', OLD.status, 'reason', OLD.status_reason)
          FROM apps a WHERE a.id = NEW.app_id;
        RETURN NULL;
      END $$`);
    await q.query(`
      CREATE TRIGGER devices_restored AFTER UPDATE OF status ON devices FOR EACH ROW
        WHEN (OLD.status <> 'active' AND NEW.status = 'active')
        EXECUTE FUNCTION herald_device_restored()`);
  }

  async down(): Promise<void> {
    throw new Error('Herald migrations are forward-only; restore from a backup instead of migrating down');
  }
}
