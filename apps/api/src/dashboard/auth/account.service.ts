import { randomUUID } from 'node:crypto';
import { Inject, Injectable } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import type { Request } from 'express';
import type { DataSource, EntityManager } from 'typeorm';
import { HeraldError } from '@herald/common';
import { HERALD_CONFIG, type HeraldConfig } from '@herald/config';
import { generateToken, PasswordHasher, SecretHasher } from '@herald/crypto';
import type { MemberRole } from '@herald/db';
import { AuditService } from '../audit.service';
import { changed, decodeCursor, iso, notFound, pageOf, type Page, uuidOr404 } from '../dashboard.http';
import { AccessTokenSigner } from './access-token.signer';
import type { DashboardPrincipal } from './dashboard-request';

/** Access tokens are verified without a database write; a short life bounds a leaked one. */
export const ACCESS_TOKEN_TTL_S = 15 * 60;
/** Each refresh rotates the token and starts this window again; an idle login ends after it. */
export const REFRESH_TOKEN_TTL_S = 30 * 24 * 3600;
export const PERSONAL_TOKEN_MAX_DAYS = 366;
export const PASSWORD_MIN = 10;

export interface Session {
  access_token: string;
  refresh_token: string;
  token_type: 'Bearer';
  expires_in: number;
  tenant_id: string;
  user_id: string;
  role: MemberRole;
}

export interface PersonalTokenView {
  id: string;
  name: string | null;
  expires_at: string | null;
  last_used_at: string | null;
  created_at: string;
}

interface TokenRow {
  id: string;
  user_id: string;
  tenant_id: string | null;
  family_id: string | null;
  expires_at: Date | null;
  revoked_at: Date | null;
  last_used_at: Date | null;
}

const unauthorized = (message: string) => new HeraldError('unauthorized', message);
const badLogin = () => unauthorized('wrong e-mail or password');

/**
 * Accounts: signup (a tenant with its owner), login, refresh with rotation and reuse detection, logout,
 * and personal API tokens. Passwords use argon2id; refresh and personal tokens are random and stored
 * only as keyed hashes; access tokens are signed (see AccessTokenSigner).
 */
@Injectable()
export class AccountService {
  readonly passwords = new PasswordHasher();
  readonly secrets: SecretHasher;
  readonly signer: AccessTokenSigner;
  /** Verified against when the e-mail is unknown, so a login's timing does not reveal accounts. */
  private dummyHash: Promise<string> | undefined;

  constructor(
    @InjectDataSource() private readonly db: DataSource,
    @Inject(HERALD_CONFIG) config: HeraldConfig,
    private readonly audit: AuditService,
  ) {
    this.secrets = new SecretHasher(config.crypto);
    this.signer = new AccessTokenSigner(config.crypto);
  }

  async signup(
    req: Request,
    input: { email: string; password: string; tenant_name: string },
  ): Promise<Session> {
    checkPassword(input.password);
    const passwordHash = await this.passwords.hash(input.password);
    return this.db.transaction(async (tx) => {
      const existing = await tx.query<unknown[]>(`SELECT 1 FROM users WHERE lower(email) = lower($1)`, [
        input.email,
      ]);
      if (existing.length > 0) {
        throw new HeraldError(
          'conflict',
          'an account with this e-mail exists: log in, or ask to be invited',
          {
            details: { field: 'email' },
          },
        );
      }
      const [tenant] = await tx.query<{ id: string }[]>(
        `INSERT INTO tenants (name) VALUES ($1) RETURNING id`,
        [input.tenant_name],
      );
      const [user] = await tx.query<{ id: string }[]>(
        `INSERT INTO users (email, password_hash, last_login_at) VALUES ($1, $2, now()) RETURNING id`,
        [input.email, passwordHash],
      );
      await tx.query(`INSERT INTO memberships (tenant_id, user_id, role) VALUES ($1, $2, 'owner')`, [
        tenant.id,
        user.id,
      ]);
      const actor = { tenantId: tenant.id, userId: user.id, actorType: 'user' as const };
      await this.audit.record(
        req,
        actor,
        {
          action: 'tenant.create',
          targetType: 'tenant',
          targetId: tenant.id,
          details: { name: input.tenant_name, email: input.email },
        },
        tx,
      );
      return this.startSession(tx, user.id, tenant.id, 'owner');
    });
  }

  async login(
    req: Request,
    input: { email: string; password: string; tenant_id?: string },
  ): Promise<Session> {
    const [user] = await this.db.query<{ id: string; password_hash: string; disabled_at: Date | null }[]>(
      `SELECT id, password_hash, disabled_at FROM users WHERE lower(email) = lower($1)`,
      [input.email],
    );
    if (!user) {
      this.dummyHash ??= this.passwords.hash(generateToken('dummy'));
      await this.passwords.verify(input.password, await this.dummyHash);
      throw badLogin();
    }
    if (!(await this.passwords.verify(input.password, user.password_hash)) || user.disabled_at)
      throw badLogin();
    // Without a tenant id the oldest membership is used; a member of several tenants names one.
    const [membership] = await this.db.query<{ tenant_id: string; role: MemberRole }[]>(
      `SELECT tenant_id, role FROM memberships WHERE user_id = $1 AND ($2::uuid IS NULL OR tenant_id = $2::uuid)
        ORDER BY created_at, tenant_id LIMIT 1`,
      [user.id, input.tenant_id ?? null],
    );
    if (!membership) {
      throw new HeraldError(
        'forbidden',
        input.tenant_id ? 'not a member of this tenant' : 'not a member of any tenant',
      );
    }
    await this.db.query(`UPDATE users SET last_login_at = now() WHERE id = $1`, [user.id]);
    await this.audit.record(
      req,
      { tenantId: membership.tenant_id, userId: user.id, actorType: 'user' },
      {
        action: 'auth.login',
        targetType: 'user',
        targetId: user.id,
      },
    );
    return this.startSession(this.db, user.id, membership.tenant_id, membership.role);
  }

  /**
   * Rotation: a refresh token works once. Presenting one that was already used means it leaked (or a
   * client raced itself): the whole family — every token of that login — is revoked, and so are the
   * access tokens issued under it (the guard checks the family).
   */
  async refresh(req: Request, refreshToken: string): Promise<Session> {
    const [row] = await this.db.query<TokenRow[]>(
      `SELECT id, user_id, tenant_id, family_id, expires_at, revoked_at, last_used_at
         FROM auth_tokens WHERE token_hash = ANY($1::text[]) AND kind = 'refresh'`,
      // Under every key of the ring: a token issued before a master key rotation still refreshes (its
      // successor is written under the current key, so a login moves to the new key by itself).
      [this.secrets.hashesForLookup(refreshToken)],
    );
    if (!row || row.revoked_at || !row.tenant_id || !row.family_id)
      throw unauthorized('refresh token is not valid');
    if (row.expires_at && row.expires_at.getTime() <= Date.now()) throw unauthorized('refresh token expired');
    const claimed = await changed(
      this.db,
      `UPDATE auth_tokens SET last_used_at = now()
        WHERE id = $1 AND last_used_at IS NULL AND revoked_at IS NULL RETURNING id`,
      [row.id],
    );
    if (claimed.length === 0) {
      await this.revokeFamily(row.family_id);
      await this.audit.record(
        req,
        { tenantId: row.tenant_id, userId: row.user_id, actorType: 'user' },
        {
          action: 'auth.refresh_reuse',
          targetType: 'session',
          targetId: row.family_id,
          details: { revoked: 'family' },
        },
      );
      throw unauthorized('refresh token was already used: this login is revoked, log in again');
    }
    const [membership] = await this.db.query<{ role: MemberRole }[]>(
      `SELECT m.role FROM memberships m JOIN users u ON u.id = m.user_id
        WHERE m.tenant_id = $1 AND m.user_id = $2 AND u.disabled_at IS NULL`,
      [row.tenant_id, row.user_id],
    );
    if (!membership) {
      await this.revokeFamily(row.family_id);
      throw unauthorized('no longer a member of this tenant');
    }
    return this.issue(this.db, row.user_id, row.tenant_id, membership.role, row.family_id);
  }

  async logout(req: Request, p: DashboardPrincipal): Promise<void> {
    if (!p.familyId) {
      throw new HeraldError(
        'invalid_parameter',
        'personal API tokens do not log out: delete the token instead',
      );
    }
    await this.revokeFamily(p.familyId);
    await this.audit.record(req, p, { action: 'auth.logout', targetType: 'session', targetId: p.familyId });
  }

  /** A new login: a fresh refresh family. Used by signup, login and accepting an invitation. */
  async startSession(
    db: DataSource | EntityManager,
    userId: string,
    tenantId: string,
    role: MemberRole,
  ): Promise<Session> {
    return this.issue(db, userId, tenantId, role, randomUUID());
  }

  private async issue(
    db: DataSource | EntityManager,
    userId: string,
    tenantId: string,
    role: MemberRole,
    familyId: string,
  ): Promise<Session> {
    const refreshToken = generateToken('hrt');
    await db.query(
      `INSERT INTO auth_tokens (kind, user_id, tenant_id, token_hash, family_id, expires_at)
       VALUES ('refresh', $1, $2, $3, $4, now() + make_interval(secs => $5))`,
      [userId, tenantId, this.secrets.hash(refreshToken), familyId, REFRESH_TOKEN_TTL_S],
    );
    return {
      access_token: this.signer.sign({ sub: userId, tid: tenantId, fam: familyId }, ACCESS_TOKEN_TTL_S),
      refresh_token: refreshToken,
      token_type: 'Bearer',
      expires_in: ACCESS_TOKEN_TTL_S,
      tenant_id: tenantId,
      user_id: userId,
      role,
    };
  }

  private async revokeFamily(familyId: string): Promise<void> {
    await this.db.query(
      `UPDATE auth_tokens SET revoked_at = now() WHERE family_id = $1 AND revoked_at IS NULL`,
      [familyId],
    );
  }

  // ---- personal API tokens -------------------------------------------------------------------------

  async createPersonalToken(
    req: Request,
    p: DashboardPrincipal,
    input: { name: string; expires_in_days?: number },
  ): Promise<PersonalTokenView & { token: string }> {
    // A token could otherwise outlive itself: a leaked one would mint its own successors.
    if (p.actorType === 'api_token') {
      throw new HeraldError('forbidden', 'a personal token cannot create tokens: sign in to create one');
    }
    const token = generateToken('hpat');
    const [row] = await this.db.query<{ id: string; expires_at: Date | null; created_at: Date }[]>(
      `INSERT INTO auth_tokens (kind, user_id, tenant_id, token_hash, name, expires_at)
       VALUES ('personal', $1, $2, $3, $4, now() + make_interval(days => $5::int))
       RETURNING id, expires_at, created_at`,
      // Every token expires: after the days asked for, at most (and by default) a year and a day.
      [
        p.userId,
        p.tenantId,
        this.secrets.hash(token),
        input.name,
        input.expires_in_days ?? PERSONAL_TOKEN_MAX_DAYS,
      ],
    );
    await this.audit.record(req, p, {
      action: 'token.create',
      targetType: 'api_token',
      targetId: row.id,
      details: { name: input.name },
    });
    return {
      id: row.id,
      name: input.name,
      token,
      expires_at: iso(row.expires_at),
      last_used_at: null,
      created_at: iso(row.created_at)!,
    };
  }

  /** The caller's own tokens in this tenant, newest first; the token itself is never shown again. */
  async listPersonalTokens(
    p: DashboardPrincipal,
    q: { limit: number; cursor?: string },
  ): Promise<Page<PersonalTokenView>> {
    const after = decodeCursor(q.cursor, 2);
    const rows = await this.db.query<
      {
        id: string;
        name: string | null;
        expires_at: Date | null;
        last_used_at: Date | null;
        created_at: Date;
        ck: string;
      }[]
    >(
      `SELECT id, name, expires_at, last_used_at, created_at, created_at::text AS ck FROM auth_tokens
        WHERE kind = 'personal' AND user_id = $1 AND tenant_id = $2 AND revoked_at IS NULL
          AND ($3::timestamptz IS NULL OR (created_at, id) < ($3::timestamptz, $4::uuid))
        ORDER BY created_at DESC, id DESC LIMIT $5`,
      [p.userId, p.tenantId, after?.[0] ?? null, after?.[1] ?? null, q.limit + 1],
    );
    return pageOf(
      rows,
      q.limit,
      (r) => ({
        id: r.id,
        name: r.name,
        expires_at: iso(r.expires_at),
        last_used_at: iso(r.last_used_at),
        created_at: iso(r.created_at)!,
      }),
      (r) => [r.ck, r.id],
    );
  }

  async revokePersonalToken(req: Request, p: DashboardPrincipal, id: string): Promise<void> {
    const tokenId = uuidOr404(id, 'token');
    const rows = await changed(
      this.db,
      `UPDATE auth_tokens SET revoked_at = now()
        WHERE id = $1 AND kind = 'personal' AND user_id = $2 AND tenant_id = $3 AND revoked_at IS NULL
        RETURNING id`,
      [tokenId, p.userId, p.tenantId],
    );
    if (rows.length === 0) throw notFound('token', id);
    await this.audit.record(req, p, { action: 'token.revoke', targetType: 'api_token', targetId: tokenId });
  }
}

export function checkPassword(password: string): void {
  if (password.length < PASSWORD_MIN || password.length > 1024) {
    throw new HeraldError('invalid_parameter', `password: must be ${PASSWORD_MIN} to 1024 characters`, {
      details: { field: 'password' },
    });
  }
}
