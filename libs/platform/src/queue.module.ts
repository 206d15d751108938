import { Global, Inject, Injectable, Module, type OnApplicationShutdown } from '@nestjs/common';
import { Queue } from 'bullmq';
import type { Redis } from 'ioredis';
import { HERALD_CONFIG, type HeraldConfig } from '@herald/config';
import {
  bullPrefix,
  closeRedis,
  createRedis,
  JOBS,
  parseJobPayload,
  RECURRING_JOBS,
  waitUntilReady,
  type JobInput,
  type JobName,
  type QueueName,
} from '@herald/queue';
import { RateLimiter } from './rate-limiter';
import { REDIS } from './redis.token';

/**
 * Producer side of every queue, on the process's one fail-fast connection. It alone closes that
 * connection, after its queues, so shutdown never races a queue still using it.
 */
@Injectable()
export class QueueService implements OnApplicationShutdown {
  private readonly queues = new Map<QueueName, Queue>();

  constructor(
    @Inject(REDIS) private readonly redis: Redis,
    @Inject(HERALD_CONFIG) private readonly config: HeraldConfig,
  ) {}

  queue(name: QueueName): Queue {
    let q = this.queues.get(name);
    if (!q) {
      q = new Queue(name, { connection: this.redis, prefix: bullPrefix(this.config.redis.queuePrefix) });
      this.queues.set(name, q);
    }
    return q;
  }

  async add<N extends JobName>(name: N, data: JobInput<N>, opts?: { jobId?: string; delay?: number }) {
    return this.queue(JOBS[name].queue).add(name, parseJobPayload(name, data), {
      // A job that fails on a passing condition (a pool wait, a deadlock, Redis blip) runs again.
      attempts: 5,
      backoff: { type: 'exponential', delay: 1_000 },
      removeOnComplete: { age: 3600, count: 10_000 },
      removeOnFail: { age: 7 * 24 * 3600 },
      ...opts,
    });
  }

  /**
   * The recurring jobs every deployment runs, as BullMQ job schedulers: idempotent, so it runs at
   * worker start and again from the reconciler (a Redis flush takes the schedulers with it).
   */
  async upsertRecurringJobs(): Promise<void> {
    for (const r of RECURRING_JOBS) {
      await this.queue(JOBS[r.name].queue).upsertJobScheduler(
        r.id,
        { every: r.everyMs },
        { name: r.name, data: r.data },
      );
    }
  }

  async onApplicationShutdown(): Promise<void> {
    await Promise.all([...this.queues.values()].map((q) => q.close()));
    await closeRedis(this.redis);
  }
}

@Global()
@Module({
  providers: [
    {
      provide: REDIS,
      inject: [HERALD_CONFIG],
      useFactory: async (config: HeraldConfig) => {
        const redis = createRedis(config.redis, 'producer');
        // Serve with a connected client when Redis is up; when it is down, start anyway and let
        // /readyz say so, rather than refusing to boot.
        await waitUntilReady(redis, 5_000);
        return redis;
      },
    },
    QueueService,
    RateLimiter,
  ],
  exports: [REDIS, QueueService, RateLimiter],
})
export class QueueModule {}
