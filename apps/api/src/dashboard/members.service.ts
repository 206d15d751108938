import { Injectable } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import type { Request } from 'express';
import type { DataSource, EntityManager } from 'typeorm';
import { HeraldError } from '@herald/common';
import { generateToken } from '@herald/crypto';
import type { MemberRole } from '@herald/db';
import { AuditService } from './audit.service';
import { AccountService, checkPassword, type Session } from './auth/account.service';
import { AuthAttempts } from './auth/auth-attempts';
import type { DashboardPrincipal } from './auth/dashboard-request';
import { ROLE_RANK } from './auth/permissions';
import { changed, decodeCursor, iso, notFound, pageOf, type Page, uuidOr404 } from './dashboard.http';

export const INVITATION_TTL_S = 7 * 24 * 3600;

export interface MemberView {
  user_id: string;
  email: string;
  display_name: string | null;
  role: MemberRole;
  joined_at: string;
}

export interface InvitationView {
  id: string;
  email: string;
  role: MemberRole;
  status: 'pending' | 'accepted' | 'revoked' | 'expired';
  invited_by: string | null;
  expires_at: string;
  created_at: string;
}

interface InvitationRow {
  id: string;
  email: string;
  role: MemberRole;
  invited_by: string | null;
  expires_at: Date;
  accepted_at: Date | null;
  revoked_at: Date | null;
  created_at: Date;
}

const toInvitation = (r: InvitationRow): InvitationView => ({
  id: r.id,
  email: r.email,
  role: r.role,
  status: r.accepted_at
    ? 'accepted'
    : r.revoked_at
      ? 'revoked'
      : r.expires_at.getTime() <= Date.now()
        ? 'expired'
        : 'pending',
  invited_by: r.invited_by,
  expires_at: iso(r.expires_at)!,
  created_at: iso(r.created_at)!,
});

/**
 * The tenant, its members and invitations. An admin manages members up to admin; owners alone grant,
 * change or remove the owner role; the last owner can be neither demoted nor removed.
 */
@Injectable()
export class MembersService {
  constructor(
    @InjectDataSource() private readonly db: DataSource,
    private readonly accounts: AccountService,
    private readonly audit: AuditService,
    private readonly attempts: AuthAttempts,
  ) {}

  async me(p: DashboardPrincipal) {
    const [user] = await this.db.query<{ id: string; email: string; display_name: string | null }[]>(
      `SELECT id, email, display_name FROM users WHERE id = $1`,
      [p.userId],
    );
    const tenants = await this.db.query<{ id: string; name: string; role: MemberRole }[]>(
      `SELECT t.id, t.name, m.role FROM memberships m JOIN tenants t ON t.id = m.tenant_id
        WHERE m.user_id = $1 ORDER BY m.created_at, t.id LIMIT 200`,
      [p.userId],
    );
    return {
      user: { id: user.id, email: user.email, display_name: user.display_name },
      tenant_id: p.tenantId,
      role: p.role,
      auth: p.actorType,
      tenants,
    };
  }

  async tenant(p: DashboardPrincipal) {
    const [t] = await this.db.query<{ id: string; name: string; created_at: Date }[]>(
      `SELECT id, name, created_at FROM tenants WHERE id = $1`,
      [p.tenantId],
    );
    return { id: t.id, name: t.name, created_at: iso(t.created_at) };
  }

  async renameTenant(req: Request, p: DashboardPrincipal, name: string) {
    await this.db.query(`UPDATE tenants SET name = $2, updated_at = now() WHERE id = $1`, [p.tenantId, name]);
    await this.audit.record(req, p, {
      action: 'tenant.update',
      targetType: 'tenant',
      targetId: p.tenantId,
      details: { name },
    });
    return this.tenant(p);
  }

  async list(p: DashboardPrincipal, q: { limit: number; cursor?: string }): Promise<Page<MemberView>> {
    const after = decodeCursor(q.cursor, 2);
    const rows = await this.db.query<
      {
        user_id: string;
        email: string;
        display_name: string | null;
        role: MemberRole;
        created_at: Date;
        ck: string;
      }[]
    >(
      `SELECT m.user_id, u.email, u.display_name, m.role, m.created_at, m.created_at::text AS ck
         FROM memberships m JOIN users u ON u.id = m.user_id
        WHERE m.tenant_id = $1 AND ($2::timestamptz IS NULL OR (m.created_at, m.user_id) > ($2::timestamptz, $3::uuid))
        ORDER BY m.created_at, m.user_id LIMIT $4`,
      [p.tenantId, after?.[0] ?? null, after?.[1] ?? null, q.limit + 1],
    );
    return pageOf(
      rows,
      q.limit,
      (r) => ({
        user_id: r.user_id,
        email: r.email,
        display_name: r.display_name,
        role: r.role,
        joined_at: iso(r.created_at)!,
      }),
      (r) => [r.ck, r.user_id],
    );
  }

  async changeRole(
    req: Request,
    p: DashboardPrincipal,
    userId: string,
    role: MemberRole,
  ): Promise<MemberView> {
    const id = uuidOr404(userId, 'member');
    return this.db.transaction(async (tx) => {
      const current = await this.lockMember(tx, p.tenantId, id, userId);
      this.checkCanManage(p, current, role);
      if (current === 'owner' && role !== 'owner') await this.keepAnOwner(tx, p.tenantId);
      await tx.query(`UPDATE memberships SET role = $3 WHERE tenant_id = $1 AND user_id = $2`, [
        p.tenantId,
        id,
        role,
      ]);
      await this.audit.record(
        req,
        p,
        {
          action: 'member.role_change',
          targetType: 'user',
          targetId: id,
          details: { from: current, to: role },
        },
        tx,
      );
      const [row] = await tx.query<{ email: string; display_name: string | null; created_at: Date }[]>(
        `SELECT u.email, u.display_name, m.created_at FROM memberships m JOIN users u ON u.id = m.user_id
          WHERE m.tenant_id = $1 AND m.user_id = $2`,
        [p.tenantId, id],
      );
      return {
        user_id: id,
        email: row.email,
        display_name: row.display_name,
        role,
        joined_at: iso(row.created_at)!,
      };
    });
  }

  /** Removing a member also ends their logins and revokes their personal tokens in this tenant. */
  async remove(req: Request, p: DashboardPrincipal, userId: string): Promise<void> {
    const id = uuidOr404(userId, 'member');
    await this.db.transaction(async (tx) => {
      const current = await this.lockMember(tx, p.tenantId, id, userId);
      this.checkCanManage(p, current, current);
      if (current === 'owner') await this.keepAnOwner(tx, p.tenantId);
      await tx.query(`DELETE FROM memberships WHERE tenant_id = $1 AND user_id = $2`, [p.tenantId, id]);
      await tx.query(
        `UPDATE auth_tokens SET revoked_at = now() WHERE tenant_id = $1 AND user_id = $2 AND revoked_at IS NULL`,
        [p.tenantId, id],
      );
      await this.audit.record(
        req,
        p,
        { action: 'member.remove', targetType: 'user', targetId: id, details: { role: current } },
        tx,
      );
    });
  }

  async invite(
    req: Request,
    p: DashboardPrincipal,
    input: { email: string; role: MemberRole },
  ): Promise<InvitationView & { invite_token: string }> {
    this.checkCanManage(p, input.role, input.role);
    const member = await this.db.query<unknown[]>(
      `SELECT 1 FROM memberships m JOIN users u ON u.id = m.user_id WHERE m.tenant_id = $1 AND lower(u.email) = lower($2)`,
      [p.tenantId, input.email],
    );
    if (member.length > 0) {
      throw new HeraldError('conflict', 'this e-mail already belongs to a member', {
        details: { field: 'email' },
      });
    }
    const token = generateToken('hinv');
    const row = await this.db.transaction(async (tx) => {
      // Inviting the same address again replaces the open invitation (and its token).
      await tx.query(
        `UPDATE invitations SET revoked_at = now()
          WHERE tenant_id = $1 AND lower(email) = lower($2) AND accepted_at IS NULL AND revoked_at IS NULL`,
        [p.tenantId, input.email],
      );
      const [inserted] = await tx.query<InvitationRow[]>(
        `INSERT INTO invitations (tenant_id, email, role, token_hash, invited_by, expires_at)
         VALUES ($1, $2, $3, $4, $5, now() + make_interval(secs => $6))
         RETURNING id, email, role, invited_by, expires_at, accepted_at, revoked_at, created_at`,
        [p.tenantId, input.email, input.role, this.accounts.secrets.hash(token), p.userId, INVITATION_TTL_S],
      );
      await this.audit.record(
        req,
        p,
        {
          action: 'member.invite',
          targetType: 'invitation',
          targetId: inserted.id,
          details: { email: input.email, role: input.role },
        },
        tx,
      );
      return inserted;
    });
    return { ...toInvitation(row), invite_token: token };
  }

  async invitations(
    p: DashboardPrincipal,
    q: { limit: number; cursor?: string },
  ): Promise<Page<InvitationView>> {
    const after = decodeCursor(q.cursor, 2);
    const rows = await this.db.query<(InvitationRow & { ck: string })[]>(
      `SELECT id, email, role, invited_by, expires_at, accepted_at, revoked_at, created_at, created_at::text AS ck FROM invitations
        WHERE tenant_id = $1 AND ($2::timestamptz IS NULL OR (created_at, id) < ($2::timestamptz, $3::uuid))
        ORDER BY created_at DESC, id DESC LIMIT $4`,
      [p.tenantId, after?.[0] ?? null, after?.[1] ?? null, q.limit + 1],
    );
    return pageOf(rows, q.limit, toInvitation, (r) => [r.ck, r.id]);
  }

  async revokeInvitation(req: Request, p: DashboardPrincipal, invitationId: string): Promise<void> {
    const id = uuidOr404(invitationId, 'invitation');
    const rows = await changed(
      this.db,
      `UPDATE invitations SET revoked_at = now()
        WHERE id = $1 AND tenant_id = $2 AND accepted_at IS NULL AND revoked_at IS NULL RETURNING id`,
      [id, p.tenantId],
    );
    if (rows.length === 0) throw notFound('invitation', invitationId);
    await this.audit.record(req, p, {
      action: 'member.invite_revoke',
      targetType: 'invitation',
      targetId: id,
    });
  }

  /**
   * Accepting: the token works once, before it expires. An address that already has an account proves
   * it with that account's password; a new address sets its password here.
   */
  async accept(
    req: Request,
    input: { token: string; password: string; display_name?: string },
  ): Promise<Session> {
    const invalid = () => new HeraldError('not_found', 'invitation is unknown, used, revoked or expired');
    // Under every key of the ring: an invitation sent before a master key rotation can still be accepted.
    const [invitation] = await this.db.query<(InvitationRow & { tenant_id: string })[]>(
      `SELECT id, tenant_id, email, role, invited_by, expires_at, accepted_at, revoked_at, created_at
         FROM invitations WHERE token_hash = ANY($1::text[])`,
      [this.accounts.secrets.hashesForLookup(input.token)],
    );
    if (!invitation || toInvitation(invitation).status !== 'pending') throw invalid();
    // Before the password is verified or hashed: an invitation to an existing account is a way to try
    // that account's password, so it shares the account's per-e-mail limit with login.
    await this.attempts.check({ email: invitation.email });
    const [existing] = await this.db.query<{ id: string; password_hash: string; disabled_at: Date | null }[]>(
      `SELECT id, password_hash, disabled_at FROM users WHERE lower(email) = lower($1)`,
      [invitation.email],
    );
    let newHash: string | undefined;
    if (existing) {
      if (
        existing.disabled_at ||
        !(await this.accounts.passwords.verify(input.password, existing.password_hash))
      ) {
        throw new HeraldError('unauthorized', 'this e-mail has an account: give its password to accept');
      }
    } else {
      checkPassword(input.password);
      newHash = await this.accounts.passwords.hash(input.password);
    }
    return this.db.transaction(async (tx) => {
      const claimed = await changed<{ id: string }>(
        tx,
        `UPDATE invitations SET accepted_at = now()
          WHERE id = $1 AND accepted_at IS NULL AND revoked_at IS NULL AND expires_at > now() RETURNING id`,
        [invitation.id],
      );
      if (claimed.length === 0) throw invalid();
      const userId =
        existing?.id ??
        (
          await tx.query<{ id: string }[]>(
            `INSERT INTO users (email, password_hash, display_name) VALUES ($1, $2, $3) RETURNING id`,
            [invitation.email, newHash, input.display_name ?? null],
          )
        )[0].id;
      await tx.query(`UPDATE invitations SET accepted_by = $2 WHERE id = $1`, [invitation.id, userId]);
      await tx.query(
        `INSERT INTO memberships (tenant_id, user_id, role) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING`,
        [invitation.tenant_id, userId, invitation.role],
      );
      const [m] = await tx.query<{ role: MemberRole }[]>(
        `SELECT role FROM memberships WHERE tenant_id = $1 AND user_id = $2`,
        [invitation.tenant_id, userId],
      );
      await this.audit.record(
        req,
        { tenantId: invitation.tenant_id, userId, actorType: 'user' },
        {
          action: 'member.join',
          targetType: 'invitation',
          targetId: invitation.id,
          details: { email: invitation.email, role: m.role },
        },
        tx,
      );
      return this.accounts.startSession(tx, userId, invitation.tenant_id, m.role);
    });
  }

  private async lockMember(
    tx: EntityManager,
    tenantId: string,
    userId: string,
    raw: string,
  ): Promise<MemberRole> {
    const [row] = await tx.query<{ role: MemberRole }[]>(
      `SELECT role FROM memberships WHERE tenant_id = $1 AND user_id = $2 FOR UPDATE`,
      [tenantId, userId],
    );
    if (!row) throw notFound('member', raw);
    return row.role;
  }

  /** Only an owner touches the owner role; an admin manages developers, viewers and other admins. */
  private checkCanManage(p: DashboardPrincipal, from: MemberRole, to: MemberRole): void {
    const needed = Math.max(ROLE_RANK[from], ROLE_RANK[to]);
    if (p.role !== 'owner' && needed >= ROLE_RANK.owner) {
      throw new HeraldError('forbidden', 'only an owner may grant, change or remove the owner role');
    }
  }

  private async keepAnOwner(tx: EntityManager, tenantId: string): Promise<void> {
    // Locks every owner row so two concurrent demotions cannot both pass the count.
    const owners = await tx.query<unknown[]>(
      `SELECT user_id FROM memberships WHERE tenant_id = $1 AND role = 'owner' FOR UPDATE`,
      [tenantId],
    );
    if (owners.length <= 1) {
      throw new HeraldError('conflict', 'a tenant keeps at least one owner: make someone else owner first');
    }
  }
}
