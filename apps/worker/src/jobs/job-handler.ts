import type { Job } from 'bullmq';
import type { JobName, JobPayload } from '@herald/queue';

/** One processor per job name; the payload arrives already validated against the job's schema. */
export interface JobHandler<N extends JobName = JobName> {
  readonly jobName: N;
  handle(payload: JobPayload<N>, job: Job): Promise<unknown>;
}

export const JOB_HANDLERS = Symbol('JOB_HANDLERS');
