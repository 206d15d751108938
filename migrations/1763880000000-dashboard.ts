import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * The dashboard: invitations. An owner or admin invites an e-mail address with a role; Herald keeps
 * only a keyed hash of the one-time invitation token (handed to the inviter once, who delivers it).
 * Accepting it creates the membership (and the user, for a new address); it then cannot be used again.
 */
export class Dashboard1763880000000 implements MigrationInterface {
  name = 'Dashboard1763880000000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`
      CREATE TABLE invitations (
        id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
        tenant_id uuid NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
        email text NOT NULL,
        role text NOT NULL CHECK (role IN ('owner', 'admin', 'developer', 'viewer')),
        token_hash text NOT NULL,
        invited_by uuid REFERENCES users(id) ON DELETE SET NULL,
        expires_at timestamptz NOT NULL,
        accepted_at timestamptz,
        accepted_by uuid REFERENCES users(id) ON DELETE SET NULL,
        revoked_at timestamptz,
        created_at timestamptz NOT NULL DEFAULT now()
      )`);
    await q.query(`CREATE UNIQUE INDEX invitations_token_key ON invitations (token_hash)`);
    // One open invitation per address and tenant: inviting again replaces it.
    await q.query(
      `CREATE UNIQUE INDEX invitations_open_key ON invitations (tenant_id, lower(email))
        WHERE accepted_at IS NULL AND revoked_at IS NULL`,
    );
    await q.query(`CREATE INDEX invitations_tenant_idx ON invitations (tenant_id, created_at DESC, id)`);
  }

  async down(): Promise<void> {
    throw new Error('Herald migrations are forward-only; restore from a backup instead of migrating down');
  }
}
