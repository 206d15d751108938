import {
  Inject,
  Injectable,
  Logger,
  type OnModuleDestroy,
  type OnModuleInit,
  Optional,
} from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import type { Redis } from 'ioredis';
import type { DataSource } from 'typeorm';
import { HERALD_CONFIG, type HeraldConfig } from '@herald/config';
import { AppEntity } from '@herald/db';
import { REDIS } from '@herald/platform';
import { closeRedis, createRedis } from '@herald/queue';

const TTL_MS = 10_000;
const MAX_ENTRIES = 10_000;
/** At most one forced re-read per app key per second (see `refresh`). */
const REFRESH_MS = 1_000;

/**
 * Apps by app key for device registration and the developer API's authentication, cached for ten
 * seconds: registration needs only the app's id, and a database round trip per registration was a
 * quarter of its cost. When the dashboard deletes an app or rotates its secret (`forget`), every API
 * process drops its copy at once: the key is published on Redis to the other processes' directories.
 * (A process that misses the message, while its Redis connection is down, has its copy expire
 * within the ten seconds.)
 */
@Injectable()
export class AppDirectory implements OnModuleInit, OnModuleDestroy {
  private readonly logger = new Logger('app-directory');
  private readonly cache = new Map<string, { app: AppEntity | null; until: number }>();
  /** When each app key was last re-read on request (`refresh`). */
  private readonly refreshed = new Map<string, number>();
  private readonly channel: string | undefined;
  private subscriber: Redis | undefined;
  /** Resolves once this process hears other processes' `forget`s (tests wait for it). */
  subscribed: Promise<void> = Promise.resolve();

  constructor(
    @InjectDataSource() private readonly db: DataSource,
    @Optional() @Inject(REDIS) private readonly redis?: Redis,
    @Optional() @Inject(HERALD_CONFIG) private readonly config?: HeraldConfig,
  ) {
    if (redis && config) this.channel = `${config.redis.queuePrefix}:apps:forget`;
  }

  onModuleInit(): void {
    if (!this.channel || !this.config) return;
    const subscriber = createRedis(this.config.redis, 'worker', 'herald-app-directory');
    subscriber.on('message', (_channel: string, appKey: string) => this.drop(appKey));
    // Not awaited by the boot: an API that starts while Redis is away subscribes once it is back
    // (ioredis subscribes again after every reconnect).
    this.subscribed = subscriber.subscribe(this.channel).then(
      () => undefined,
      (err: unknown) => this.logger.warn({ err }, 'app-key cache: subscribing to forgets failed'),
    );
    this.subscriber = subscriber;
  }

  async onModuleDestroy(): Promise<void> {
    if (this.subscriber) await closeRedis(this.subscriber);
  }

  async byKey(appKey: string, now = Date.now()): Promise<AppEntity | null> {
    const hit = this.cache.get(appKey);
    if (hit && hit.until > now) return hit.app;
    const app = await this.db.getRepository(AppEntity).findOne({ where: { appKey } });
    if (this.cache.size >= MAX_ENTRIES) this.cache.clear();
    this.cache.set(appKey, { app, until: now + TTL_MS });
    return app;
  }

  /**
   * Drops a cached app here and in every other API process (the dashboard calls it when an app is
   * deleted or its secret rotated).
   */
  forget(appKey: string): void {
    this.drop(appKey);
    if (this.redis && this.channel) {
      this.redis
        .publish(this.channel, appKey)
        .catch((err: unknown) =>
          this.logger.warn({ err, appKey }, 'app-key cache: other processes keep the app up to 10 s'),
        );
    }
  }

  private drop(appKey: string): void {
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
