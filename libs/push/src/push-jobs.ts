import type { QueueService } from '@herald/platform';

/** BullMQ ids must not contain ':'; a fixed id per plan and per shard makes re-adding a no-op. */
export const planJobId = (messageId: string) => `plan-${messageId}`;
export const shardJobId = (messageId: string, shardNo: number) => `shard-${messageId}-${shardNo}`;

/** Shard i of n starts at i/n of the `big_push_duration` window (0: at once). */
export async function enqueueShards(
  queues: QueueService,
  messageId: string,
  shardNos: number[],
  durationMs: number,
  total: number,
  startedAt = Date.now(),
): Promise<void> {
  const queue = queues.queue('push');
  const now = Date.now();
  await queue.addBulk(
    shardNos.map((shardNo) => ({
      name: 'push.shard',
      data: { messageId, shardNo },
      opts: {
        jobId: shardJobId(messageId, shardNo),
        delay: Math.max(0, startedAt + Math.floor((durationMs * shardNo) / Math.max(1, total)) - now),
        attempts: 5,
        backoff: { type: 'exponential', delay: 2_000 },
        removeOnComplete: { age: 3600, count: 10_000 },
        removeOnFail: { age: 7 * 24 * 3600 },
      },
    })),
  );
}

export const recallJobId = (messageId: string) => `recall-${messageId}`;

export async function enqueuePlan(queues: QueueService, messageId: string): Promise<void> {
  await queues.queue('push').add(
    'push.plan',
    { messageId },
    {
      jobId: planJobId(messageId),
      attempts: 5,
      backoff: { type: 'exponential', delay: 2_000 },
      removeOnComplete: { age: 3600, count: 10_000 },
      removeOnFail: { age: 7 * 24 * 3600 },
    },
  );
}
