import type { Queue } from 'bullmq';
import type { HeraldMetrics } from './metrics';

const STATES = ['waiting', 'prioritized', 'active', 'delayed', 'waiting-children', 'failed'] as const;

/**
 * A scrape-time sampler of BullMQ queues: job counts per state and the age of the oldest waiting job
 * (how far behind the workers are). Two small Redis round trips per queue per scrape; nothing on the
 * job path.
 */
export function queueSampler(metrics: HeraldMetrics, queues: () => Queue[], now = () => Date.now()) {
  return async (): Promise<void> => {
    await Promise.all(
      queues().map(async (q) => {
        const [counts, [oldest]] = await Promise.all([q.getJobCounts(...STATES), q.getWaiting(0, 0)]);
        for (const state of STATES) metrics.queueJobs.set({ queue: q.name, state }, counts[state] ?? 0);
        // A delayed job that became waiting was ready at timestamp + delay, not at its creation.
        const readyAt = oldest ? oldest.timestamp + (oldest.delay ?? 0) : undefined;
        metrics.queueOldestWaiting.set(
          { queue: q.name },
          readyAt === undefined ? 0 : Math.max(0, (now() - readyAt) / 1000),
        );
      }),
    );
  };
}
