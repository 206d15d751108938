import { Injectable } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import type { DataSource } from 'typeorm';
import { AppEntity } from '@herald/db';

const TTL_MS = 10_000;
const MAX_ENTRIES = 10_000;
/** At most one forced re-read per app key per second (see `refresh`). */
const REFRESH_MS = 1_000;

/**
 * Apps by app key for device registration, cached for ten seconds: registration needs only the app's
 * id, and a database round trip per registration was a quarter of its cost. (The developer API's
 * authentication reads the app fresh, so a rotated secret stops working at once.)
 */
@Injectable()
export class AppDirectory {
  private readonly cache = new Map<string, { app: AppEntity | null; until: number }>();
  /** When each app key was last re-read on request (`refresh`). */
  private readonly refreshed = new Map<string, number>();

  constructor(@InjectDataSource() private readonly db: DataSource) {}

  async byKey(appKey: string, now = Date.now()): Promise<AppEntity | null> {
    const hit = this.cache.get(appKey);
    if (hit && hit.until > now) return hit.app;
    const app = await this.db.getRepository(AppEntity).findOne({ where: { appKey } });
    if (this.cache.size >= MAX_ENTRIES) this.cache.clear();
    this.cache.set(appKey, { app, until: now + TTL_MS });
    return app;
  }

  /** Drops a cached app (the dashboard calls it when an app is deleted or its secret rotated). */
  forget(appKey: string): void {
    this.cache.delete(appKey);
    this.refreshed.delete(appKey);
  }

  /**
   * The app read afresh from the database — unless it was read afresh less than `REFRESH_MS` ago, in
   * which case the cached copy. For a secret that does not match the cached copy (rotated by another
   * process, or a previous secret in its overlap window): app keys are public (they ship inside every
   * client app), so anyone can send wrong secrets, and each must not cost a database read and evict
   * the copy every legitimate request uses.
   */
  async refresh(appKey: string, now = Date.now()): Promise<AppEntity | null> {
    const last = this.refreshed.get(appKey);
    if (last !== undefined && now - last < REFRESH_MS) return this.byKey(appKey, now);
    if (this.refreshed.size >= MAX_ENTRIES) this.refreshed.clear();
    this.refreshed.set(appKey, now);
    this.cache.delete(appKey);
    return this.byKey(appKey, now);
  }
}
