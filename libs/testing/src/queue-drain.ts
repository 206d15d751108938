import type { Queue } from 'bullmq';

const PENDING_STATES = ['waiting', 'active', 'delayed', 'prioritized', 'waiting-children'] as const;

export class QueueDrainError extends Error {}

async function countsOf(queue: Queue) {
  const counts = await queue.getJobCounts(...PENDING_STATES, 'failed', 'completed');
  // A job scheduler always keeps its next run delayed; that is not work left undone.
  const delayed = await queue.getDelayed();
  const scheduled = delayed.filter((j) => j.repeatJobKey !== undefined).length;
  counts.delayed -= scheduled;
  return counts;
}

function describe(all: [string, Record<string, number>][]): string {
  return all
    .map(
      ([name, c]) =>
        `${name}: ${Object.entries(c)
          .map(([k, v]) => `${k}=${v}`)
          .join(' ')}`,
    )
    .join('\n  ');
}

/**
 * Waits until every queue has no pending work. Fails loudly — with every queue's counts and the first
 * failure reasons — on timeout, or as soon as a job fails during the call unless `allowFailed` is set.
 */
export async function drainQueues(
  queues: Queue[],
  options: { timeoutMs?: number; allowFailed?: boolean; pollMs?: number } = {},
): Promise<void> {
  const timeoutMs = options.timeoutMs ?? 15_000;
  const deadline = Date.now() + timeoutMs;
  // Failures from before this call (already judged by an earlier drain) do not count against it.
  const failedBefore = await Promise.all(queues.map((q) => q.getFailedCount()));
  for (;;) {
    const all = await Promise.all(
      queues.map(async (q) => [q.name, await countsOf(q)] as [string, Record<string, number>]),
    );
    const failed = all.filter(([, c], i) => c.failed > failedBefore[i]);
    if (failed.length > 0 && !options.allowFailed) {
      const reasons: string[] = [];
      for (const q of queues) {
        for (const job of await q.getFailed(0, 2))
          reasons.push(`${q.name}/${job.name}#${job.id}: ${job.failedReason}`);
      }
      throw new QueueDrainError(`jobs failed:\n  ${describe(all)}\n  ${reasons.join('\n  ')}`);
    }
    const pending = all.some(([, c]) => PENDING_STATES.some((s) => c[s] > 0));
    if (!pending) return;
    if (Date.now() > deadline) {
      throw new QueueDrainError(`queues did not drain within ${timeoutMs} ms:\n  ${describe(all)}`);
    }
    await new Promise((r) => setTimeout(r, options.pollMs ?? 50));
  }
}
