import { z } from 'zod';
import type { QueueName } from './queue.names';

/**
 * The job registry: each job name, the queue it runs on and the schema its payload must satisfy.
 * Producers and processors share it; processors validate the payload at entry. Free of Nest and the
 * database, so any process can import it.
 */
export const JOBS = {
  'maintenance.purge-idempotency': {
    queue: 'maintenance',
    payload: z.object({ batchSize: z.number().int().positive().max(100_000).default(5_000) }).strict(),
  },
} as const satisfies Record<string, { queue: QueueName; payload: z.ZodType }>;

export type JobName = keyof typeof JOBS;
export type JobPayload<N extends JobName> = z.infer<(typeof JOBS)[N]['payload']>;
export type JobInput<N extends JobName> = z.input<(typeof JOBS)[N]['payload']>;

export const JOB_NAMES = Object.keys(JOBS) as JobName[];

export function parseJobPayload<N extends JobName>(name: N, data: unknown): JobPayload<N> {
  return JOBS[name].payload.parse(data) as JobPayload<N>;
}

export function isJobName(name: string): name is JobName {
  return Object.prototype.hasOwnProperty.call(JOBS, name);
}

/** Recurring jobs every deployment runs, as BullMQ job schedulers (idempotent upserts at worker boot). */
export const RECURRING_JOBS: { id: string; name: JobName; everyMs: number; data: Record<string, unknown> }[] =
  [{ id: 'purge-idempotency', name: 'maintenance.purge-idempotency', everyMs: 60 * 60 * 1000, data: {} }];
