import { Inject, Injectable } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import type { Request } from 'express';
import type { DataSource } from 'typeorm';
import { HeraldError } from '@herald/common';
import { HERALD_CONFIG, type HeraldConfig } from '@herald/config';
import { generateAppKey, generateMasterSecret, SecretHasher } from '@herald/crypto';
import { AppEntity } from '@herald/db';
import { AppDirectory } from '../auth/app-directory';
import { actorOf, AuditService } from './audit.service';
import type { DashboardPrincipal } from './auth/dashboard-request';
import { changed, decodeCursor, iso, notFound, pageOf, type Page, uuidOr404 } from './dashboard.http';

export const DEFAULT_OVERLAP_S = 24 * 3600;
export const MAX_OVERLAP_S = 7 * 24 * 3600;

export interface AppView {
  id: string;
  name: string;
  app_key: string;
  timezone: string;
  rate_limit_per_minute: number;
  /** While the previous master secret still works after a rotation; null otherwise. */
  previous_secret_expires_at: string | null;
  created_at: string;
  updated_at: string;
}

export const toAppView = (a: AppEntity): AppView => ({
  id: a.id,
  name: a.name,
  app_key: a.appKey,
  timezone: a.timezone,
  rate_limit_per_minute: a.rateLimitPerMinute,
  previous_secret_expires_at:
    a.previousSecretExpiresAt && a.previousSecretExpiresAt.getTime() > Date.now()
      ? iso(a.previousSecretExpiresAt)
      : null,
  created_at: iso(a.createdAt)!,
  updated_at: iso(a.updatedAt)!,
});

/**
 * Apps of the caller's tenant. `appOf` is the one door to everything under `/apps/{id}`: it finds the
 * app by id *and* tenant, so another tenant's app id is a 404 for every sub-resource.
 */
@Injectable()
export class AppsService {
  private readonly hasher: SecretHasher;

  constructor(
    @InjectDataSource() private readonly db: DataSource,
    @Inject(HERALD_CONFIG) config: HeraldConfig,
    private readonly audit: AuditService,
    private readonly directory: AppDirectory,
  ) {
    this.hasher = new SecretHasher(config.crypto);
  }

  async appOf(p: DashboardPrincipal, id: string): Promise<AppEntity> {
    const appId = uuidOr404(id, 'app');
    const app = await this.db.getRepository(AppEntity).findOneBy({ id: appId, tenantId: p.tenantId });
    if (!app) throw notFound('app', id);
    return app;
  }

  async create(
    req: Request,
    p: DashboardPrincipal,
    input: { name: string; timezone?: string; rate_limit_per_minute?: number },
  ): Promise<AppView & { master_secret: string }> {
    const appKey = generateAppKey();
    const masterSecret = generateMasterSecret();
    const app = await this.db.transaction(async (tx) => {
      const saved = await tx.getRepository(AppEntity).save({
        tenantId: p.tenantId,
        name: input.name,
        appKey,
        masterSecretHash: this.hasher.hash(masterSecret),
        timezone: input.timezone ?? 'UTC',
        rateLimitPerMinute: input.rate_limit_per_minute ?? 600,
      });
      await this.audit.record(
        req,
        actorOf(p),
        {
          action: 'app.create',
          appId: saved.id,
          targetType: 'app',
          targetId: saved.id,
          details: { name: input.name, app_key: appKey },
        },
        tx,
      );
      return saved;
    });
    const fresh = await this.appOf(p, app.id);
    return { ...toAppView(fresh), master_secret: masterSecret };
  }

  async list(p: DashboardPrincipal, q: { limit: number; cursor?: string }): Promise<Page<AppView>> {
    const after = decodeCursor(q.cursor, 2);
    const qb = this.db
      .getRepository(AppEntity)
      .createQueryBuilder('a')
      .where('a.tenant_id = :tenantId', { tenantId: p.tenantId })
      .orderBy('a.created_at', 'DESC')
      .addOrderBy('a.id', 'DESC')
      .limit(q.limit + 1);
    if (after)
      qb.andWhere('(a.created_at, a.id) < (:at::timestamptz, :id::uuid)', { at: after[0], id: after[1] });
    // The cursor carries PostgreSQL's own text of the timestamp: a JS Date would drop its microseconds.
    const { entities, raw } = await qb
      .addSelect('a.created_at::text', 'ck')
      .getRawAndEntities<{ ck: string }>();
    const rows = entities.map((app, i) => ({ app, ck: raw[i].ck }));
    return pageOf(
      rows,
      q.limit,
      (r) => toAppView(r.app),
      (r) => [r.ck, r.app.id],
    );
  }

  async update(
    req: Request,
    p: DashboardPrincipal,
    id: string,
    input: { name?: string; timezone?: string; rate_limit_per_minute?: number },
  ): Promise<AppView> {
    const app = await this.appOf(p, id);
    const changes: Partial<AppEntity> = {};
    if (input.name !== undefined) changes.name = input.name;
    if (input.timezone !== undefined) changes.timezone = input.timezone;
    if (input.rate_limit_per_minute !== undefined) changes.rateLimitPerMinute = input.rate_limit_per_minute;
    if (Object.keys(changes).length === 0) return toAppView(app);
    await this.db.transaction(async (tx) => {
      await tx.getRepository(AppEntity).update({ id: app.id, tenantId: p.tenantId }, changes);
      await this.audit.record(
        req,
        actorOf(p),
        {
          action: 'app.update',
          appId: app.id,
          targetType: 'app',
          targetId: app.id,
          details: { ...input },
        },
        tx,
      );
    });
    return toAppView(await this.appOf(p, app.id));
  }

  /** Deleting an app deletes its devices, messages, credentials and segments with it (cascade). */
  async delete(req: Request, p: DashboardPrincipal, id: string): Promise<void> {
    const app = await this.appOf(p, id);
    await this.db.transaction(async (tx) => {
      await tx.query(`DELETE FROM apps WHERE id = $1 AND tenant_id = $2`, [app.id, p.tenantId]);
      await this.audit.record(
        req,
        actorOf(p),
        {
          action: 'app.delete',
          appId: app.id,
          targetType: 'app',
          targetId: app.id,
          details: { name: app.name, app_key: app.appKey },
        },
        tx,
      );
    });
    this.directory.forget(app.appKey);
  }

  /**
   * A new master secret; the old one keeps working for `overlap_seconds` (0: stops at once), so
   * servers can be redeployed with the new secret without a gap. Rotating again within the window
   * retires the older secret: only the current and the one before it ever work.
   */
  async rotateSecret(
    req: Request,
    p: DashboardPrincipal,
    id: string,
    overlapSeconds: number,
  ): Promise<{ master_secret: string; previous_secret_expires_at: string | null }> {
    const app = await this.appOf(p, id);
    const secret = generateMasterSecret();
    const [row] = await this.db.transaction(async (tx) => {
      const rows = await changed<{ previous_secret_expires_at: Date | null }>(
        tx,
        `UPDATE apps SET previous_secret_hash = CASE WHEN $3::int > 0 THEN master_secret_hash END,
                         previous_secret_expires_at = CASE WHEN $3::int > 0 THEN now() + make_interval(secs => $3::int) END,
                         master_secret_hash = $4, updated_at = now()
          WHERE id = $1 AND tenant_id = $2 RETURNING previous_secret_expires_at`,
        [app.id, p.tenantId, overlapSeconds, this.hasher.hash(secret)],
      );
      await this.audit.record(
        req,
        actorOf(p),
        {
          action: 'app.rotate_secret',
          appId: app.id,
          targetType: 'app',
          targetId: app.id,
          details: { overlap_seconds: overlapSeconds },
        },
        tx,
      );
      return rows;
    });
    // Every API process's app-key cache (authentication and registration) drops the app at once.
    this.directory.forget(app.appKey);
    return { master_secret: secret, previous_secret_expires_at: iso(row.previous_secret_expires_at) };
  }

  static checkOverlap(value: number | undefined): number {
    const overlap = value ?? DEFAULT_OVERLAP_S;
    if (!Number.isInteger(overlap) || overlap < 0 || overlap > MAX_OVERLAP_S) {
      throw new HeraldError('invalid_parameter', `overlap_seconds: 0 to ${MAX_OVERLAP_S}`);
    }
    return overlap;
  }
}
