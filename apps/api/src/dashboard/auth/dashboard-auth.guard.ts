import { type CanActivate, type ExecutionContext, Injectable } from '@nestjs/common';
import { Reflector } from '@nestjs/core';
import { InjectDataSource } from '@nestjs/typeorm';
import type { DataSource } from 'typeorm';
import { HeraldError } from '@herald/common';
import type { MemberRole } from '@herald/db';
import { AccountService } from './account.service';
import type { DashboardRequest } from './dashboard-request';
import { allows, type Permission, PUBLIC_ROUTE, REQUIRED_PERMISSION } from './permissions';

const unauthorized = (message: string) =>
  new HeraldError('unauthorized', message, {
    headers: { 'WWW-Authenticate': 'Bearer realm="herald-dashboard"' },
  });

/**
 * Dashboard authentication and authorisation: `Authorization: Bearer <access token | personal token>`,
 * then the route's permission against the caller's role. The role is read from the membership on
 * every request (one indexed query), so a changed role or a removed member takes effect at once
 * rather than when the access token expires.
 */
@Injectable()
export class DashboardAuthGuard implements CanActivate {
  constructor(
    @InjectDataSource() private readonly db: DataSource,
    private readonly accounts: AccountService,
    private readonly reflector: Reflector,
  ) {}

  async canActivate(context: ExecutionContext): Promise<boolean> {
    const targets = [context.getHandler(), context.getClass()];
    if (this.reflector.getAllAndOverride<boolean | undefined>(PUBLIC_ROUTE, targets)) return true;
    const req = context.switchToHttp().getRequest<DashboardRequest>();
    const header = req.headers.authorization;
    const match = header ? /^Bearer\s+(\S+)\s*$/i.exec(header) : null;
    if (!match) throw unauthorized('missing Authorization: Bearer <token>');
    const token = match[1];

    if (token.startsWith('hpat_')) {
      const secrets = this.accounts.secrets;
      // Under every key of the ring: a token created before a master key rotation keeps working.
      const [row] = await this.db.query<
        { id: string; user_id: string; tenant_id: string; role: MemberRole; token_hash: string }[]
      >(
        `SELECT t.id, t.user_id, t.tenant_id, m.role, t.token_hash
           FROM auth_tokens t
           JOIN memberships m ON m.tenant_id = t.tenant_id AND m.user_id = t.user_id
           JOIN users u ON u.id = t.user_id
          WHERE t.token_hash = ANY($1::text[]) AND t.kind = 'personal' AND t.revoked_at IS NULL
            AND (t.expires_at IS NULL OR t.expires_at > now()) AND u.disabled_at IS NULL`,
        [secrets.hashesForLookup(token)],
      );
      if (!row) throw unauthorized('personal token is not valid (revoked, expired or unknown)');
      // Personal tokens live long, so one found under a previous key is re-hashed under the current key
      // on use (once: the condition makes a concurrent request's write a no-op); the old key is then
      // no longer needed for it. Refresh tokens and invitations are single-use and need no such step.
      if (secrets.needsRehash(row.token_hash)) {
        await this.db.query(`UPDATE auth_tokens SET token_hash = $2 WHERE id = $1 AND token_hash = $3`, [
          row.id,
          secrets.hash(token),
          row.token_hash,
        ]);
      }
      // Usage is recorded at most once a minute per token, so scripts do not write on every call.
      await this.db.query(
        `UPDATE auth_tokens SET last_used_at = now()
          WHERE id = $1 AND (last_used_at IS NULL OR last_used_at < now() - interval '1 minute')`,
        [row.id],
      );
      req.dashboard = {
        userId: row.user_id,
        tenantId: row.tenant_id,
        role: row.role,
        actorType: 'api_token',
        tokenId: row.id,
        familyId: null,
      };
    } else {
      const claims = this.accounts.signer.verify(token);
      if (!claims) throw unauthorized('access token is not valid or has expired: refresh it');
      const [row] = await this.db.query<{ role: MemberRole }[]>(
        `SELECT m.role FROM memberships m JOIN users u ON u.id = m.user_id
          WHERE m.tenant_id = $1 AND m.user_id = $2 AND u.disabled_at IS NULL
            AND NOT EXISTS (SELECT 1 FROM auth_tokens t WHERE t.family_id = $3 AND t.revoked_at IS NOT NULL)`,
        [claims.tid, claims.sub, claims.fam],
      );
      if (!row) throw unauthorized('this login has ended (logged out, revoked or no longer a member)');
      req.dashboard = {
        userId: claims.sub,
        tenantId: claims.tid,
        role: row.role,
        actorType: 'user',
        tokenId: null,
        familyId: claims.fam,
      };
    }

    const permission = this.reflector.getAllAndOverride<Permission | undefined>(REQUIRED_PERMISSION, targets);
    if (permission && !allows(req.dashboard.role, permission)) {
      throw new HeraldError(
        'forbidden',
        `the ${req.dashboard.role} role may not do this (needs ${permission})`,
        {
          details: { permission, role: req.dashboard.role },
        },
      );
    }
    return true;
  }
}
