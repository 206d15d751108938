import { Global, Inject, Injectable, Module, type OnApplicationShutdown } from '@nestjs/common';
import { Queue } from 'bullmq';
import type { Redis } from 'ioredis';
import { HERALD_CONFIG, type HeraldConfig } from '@herald/config';
import { JOBS, type JobInput, type JobName } from '@herald/queue';

import { bullPrefix, createRedis, type QueueName } from '@herald/queue';

export const REDIS = Symbol('REDIS');

/** Producer side of every queue: one fail-fast connection shared by all queues of a process. */
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
    const payload = JOBS[name].payload.parse(data);
    return this.queue(JOBS[name].queue).add(name, payload, {
      removeOnComplete: { age: 3600, count: 10_000 },
      removeOnFail: { age: 7 * 24 * 3600 },
      ...opts,
    });
  }

  async onApplicationShutdown(): Promise<void> {
    await Promise.all([...this.queues.values()].map((q) => q.close()));
  }
}

@Injectable()
class RedisLifecycle implements OnApplicationShutdown {
  constructor(@Inject(REDIS) private readonly redis: Redis) {}

  async onApplicationShutdown(): Promise<void> {
    await this.redis.quit().catch(() => this.redis.disconnect());
  }
}

@Global()
@Module({
  providers: [
    {
      provide: REDIS,
      inject: [HERALD_CONFIG],
      useFactory: (config: HeraldConfig) => createRedis(config.redis.url, 'producer'),
    },
    RedisLifecycle,
    QueueService,
  ],
  exports: [REDIS, QueueService],
})
export class QueueModule {}
