import { Injectable } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import type { Request } from 'express';
import type { DataSource, EntityManager } from 'typeorm';
import type { DashboardPrincipal } from './auth/dashboard-request';
import { decodeCursor, iso, pageOf, type Page } from './dashboard.http';

export interface AuditEntry {
  action: string;
  appId?: string | null;
  targetType?: string;
  targetId?: string | null;
  /** What changed, never a secret: names, roles, key ids, fingerprints. */
  details?: Record<string, unknown>;
}

export interface AuditActor {
  tenantId: string;
  userId: string;
  actorType: DashboardPrincipal['actorType'];
  tokenId?: string | null;
}

export const actorOf = (p: DashboardPrincipal): AuditActor => ({
  tenantId: p.tenantId,
  userId: p.userId,
  actorType: p.actorType,
  tokenId: p.tokenId,
});

/**
 * The tenant's audit log: every change made through the dashboard, with who (the user; a personal
 * token also names its id), when and from which address (`req.ip`, which honours only the
 * configured trusted proxies). Written in the change's own transaction where there is one.
 */
@Injectable()
export class AuditService {
  constructor(@InjectDataSource() private readonly db: DataSource) {}

  async record(
    req: Request,
    actor: AuditActor,
    entry: AuditEntry,
    runner: DataSource | EntityManager = this.db,
  ): Promise<void> {
    const details = { ...(entry.details ?? {}), ...(actor.tokenId ? { token_id: actor.tokenId } : {}) };
    await runner.query(
      `INSERT INTO audit_log (tenant_id, app_id, actor_type, actor_id, action, target_type, target_id,
                              source_ip, details)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8::inet, $9)`,
      [
        actor.tenantId,
        entry.appId ?? null,
        actor.actorType,
        actor.userId,
        entry.action,
        entry.targetType ?? null,
        entry.targetId ?? null,
        sourceIp(req),
        details,
      ],
    );
  }
}

export interface AuditView {
  id: string;
  created_at: string;
  action: string;
  app_id: string | null;
  target_type: string | null;
  target_id: string | null;
  source_ip: string | null;
  actor: { type: string; id: string | null; email: string | null };
  details: Record<string, unknown>;
}

export interface AuditQuery {
  limit: number;
  cursor?: string;
  app_id?: string;
  action?: string;
  actor_id?: string;
}

/** The tenant's audit entries, newest first. */
export async function listAudit(db: DataSource, tenantId: string, q: AuditQuery): Promise<Page<AuditView>> {
  const after = decodeCursor(q.cursor, 2);
  const rows = await db.query<
    {
      id: string;
      created_at: Date;
      ck: string;
      action: string;
      app_id: string | null;
      target_type: string | null;
      target_id: string | null;
      source_ip: string | null;
      actor_type: string;
      actor_id: string | null;
      email: string | null;
      details: Record<string, unknown>;
    }[]
  >(
    `SELECT a.id::text AS id, a.created_at, a.created_at::text AS ck, a.action, a.app_id, a.target_type, a.target_id,
            host(a.source_ip) AS source_ip, a.actor_type, a.actor_id, u.email, a.details
       FROM audit_log a LEFT JOIN users u ON u.id::text = a.actor_id
      WHERE a.tenant_id = $1 AND ($2::uuid IS NULL OR a.app_id = $2::uuid)
        AND ($3::text IS NULL OR a.action = $3 OR a.action LIKE $3 || '.%')
        AND ($4::text IS NULL OR a.actor_id = $4)
        AND ($5::timestamptz IS NULL OR (a.created_at, a.id) < ($5::timestamptz, $6::bigint))
      ORDER BY a.created_at DESC, a.id DESC LIMIT $7`,
    [
      tenantId,
      q.app_id ?? null,
      q.action ?? null,
      q.actor_id ?? null,
      after?.[0] ?? null,
      after?.[1] ?? null,
      q.limit + 1,
    ],
  );
  return pageOf(
    rows,
    q.limit,
    (r) => ({
      id: r.id,
      created_at: iso(r.created_at)!,
      action: r.action,
      app_id: r.app_id,
      target_type: r.target_type,
      target_id: r.target_id,
      source_ip: r.source_ip,
      actor: { type: r.actor_type, id: r.actor_id, email: r.email },
      details: r.details,
    }),
    (r) => [r.ck, r.id],
  );
}

function sourceIp(req: Request): string | null {
  const ip = req.ip ?? req.socket?.remoteAddress;
  // `inet` rejects anything that is not an address (e.g. a unix socket's undefined or a zone id).
  return ip && /^[0-9a-fA-F:.]+$/.test(ip) ? ip : null;
}
