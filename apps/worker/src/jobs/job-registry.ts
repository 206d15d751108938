import { JOB_NAMES, type JobName } from '@herald/queue';
import type { JobHandler } from './job-handler';

export class JobRegistryError extends Error {}

/**
 * Checked at worker start: every job in the contracts has exactly one handler, and no handler claims
 * a job that does not exist. A job without a handler would sit in Redis forever.
 */
export function buildJobRegistry(handlers: JobHandler[]): Map<JobName, JobHandler> {
  const registry = new Map<JobName, JobHandler>();
  const problems: string[] = [];
  for (const h of handlers) {
    if (!(JOB_NAMES as string[]).includes(h.jobName)) problems.push(`handler for unknown job ${h.jobName}`);
    else if (registry.has(h.jobName)) problems.push(`two handlers for ${h.jobName}`);
    else registry.set(h.jobName, h);
  }
  for (const name of JOB_NAMES) if (!registry.has(name)) problems.push(`no handler for ${name}`);
  if (problems.length > 0) throw new JobRegistryError(`job registry: ${problems.join('; ')}`);
  return registry;
}
