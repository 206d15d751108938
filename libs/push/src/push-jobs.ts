import type { QueueService } from '@herald/platform';

/** BullMQ ids must not contain ':'; a fixed id per plan and per shard makes re-adding a no-op. */
export const planJobId = (messageId: string) => `plan-${messageId}`;
export const shardJobId = (messageId: string, shardNo: number) => `shard-${messageId}-${shardNo}`;

/** One job as `Queue.addBulk` takes it: the push queue's jobs are added in bulk by the api (`PushService`). */
export interface PushJob {
  name: 'push.shard' | 'push.plan';
  data: { messageId: string; shardNo?: number };
  opts: {
    jobId: string;
    delay?: number;
    attempts: number;
    backoff: { type: 'exponential'; delay: number };
    removeOnComplete: { age: number; count: number };
    removeOnFail: { age: number };
  };
}

/** Shard i of n starts at i/n of the `big_push_duration` window (0: at once). */
export function shardJobs(
  messageId: string,
  shardNos: number[],
  durationMs: number,
  total: number,
  startedAt = Date.now(),
): PushJob[] {
  const now = Date.now();
  return shardNos.map((shardNo) => ({
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
  }));
}

export async function enqueueShards(
  queues: QueueService,
  messageId: string,
  shardNos: number[],
  durationMs: number,
  total: number,
  startedAt = Date.now(),
): Promise<void> {
  await queues.queue('push').addBulk(shardJobs(messageId, shardNos, durationMs, total, startedAt));
}

export const recallJobId = (messageId: string) => `recall-${messageId}`;

export function planJob(messageId: string): PushJob {
  return {
    name: 'push.plan',
    data: { messageId },
    opts: {
      jobId: planJobId(messageId),
      attempts: 5,
      backoff: { type: 'exponential', delay: 2_000 },
      removeOnComplete: { age: 3600, count: 10_000 },
      removeOnFail: { age: 7 * 24 * 3600 },
    },
  };
}

export async function enqueuePlan(queues: QueueService, messageId: string): Promise<void> {
  const job = planJob(messageId);
  await queues.queue('push').add(job.name, job.data, job.opts);
}
