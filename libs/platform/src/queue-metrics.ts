import { Injectable, type OnApplicationBootstrap, type OnApplicationShutdown } from '@nestjs/common';
import { heraldMetrics, queueSampler } from '@herald/metrics';
import { QUEUE_NAMES } from '@herald/queue';
import { QueueService } from './queue.module';

/**
 * Queue depths and the oldest waiting job's age, sampled from BullMQ when `/metrics` is scraped.
 * Registered by the worker (and so by the all-in-one), the processes that own the queues.
 */
@Injectable()
export class QueueMetrics implements OnApplicationBootstrap, OnApplicationShutdown {
  private remove?: () => void;

  constructor(private readonly queues: QueueService) {}

  onApplicationBootstrap(): void {
    this.remove = heraldMetrics.addSampler(
      queueSampler(heraldMetrics, () => QUEUE_NAMES.map((name) => this.queues.queue(name))),
    );
  }

  onApplicationShutdown(): void {
    this.remove?.();
  }
}
