import { Injectable } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import type { DataSource } from 'typeorm';
import { AppEntity } from '@herald/db';

const TTL_MS = 10_000;
const MAX_ENTRIES = 10_000;

/**
 * Apps by app key for device registration, cached for ten seconds: registration needs only the app's
 * id, and a database round trip per registration was a quarter of its cost. (The developer API's
 * authentication reads the app fresh, so a rotated secret stops working at once.)
 */
@Injectable()
export class AppDirectory {
  private readonly cache = new Map<string, { app: AppEntity | null; until: number }>();

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
  }
}
