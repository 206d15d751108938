import { JOB_NAMES } from '@herald/queue';
import type { JobHandler } from './job-handler';
import { buildJobRegistry, JobRegistryError } from './job-registry';

const handler = (jobName: string): JobHandler =>
  ({ jobName, handle: async () => undefined }) as unknown as JobHandler;

describe('buildJobRegistry', () => {
  it('accepts exactly one handler per job', () => {
    const registry = buildJobRegistry(JOB_NAMES.map(handler));
    expect([...registry.keys()].sort()).toEqual([...JOB_NAMES].sort());
  });

  it('refuses to start when a job has no handler, naming it', () => {
    const [missing, ...rest] = JOB_NAMES;
    expect(() => buildJobRegistry(rest.map(handler))).toThrow(
      new JobRegistryError(`job registry: no handler for ${missing}`),
    );
    expect(() => buildJobRegistry([])).toThrow(/no handler for .*; no handler for /);
  });

  it('refuses two handlers for one job, and handlers for jobs that do not exist', () => {
    const all = JOB_NAMES.map(handler);
    expect(() => buildJobRegistry([...all, handler(JOB_NAMES[0])])).toThrow(/two handlers for/);
    expect(() => buildJobRegistry([...all, handler('nope.nothing')])).toThrow(
      /handler for unknown job nope.nothing/,
    );
  });
});
