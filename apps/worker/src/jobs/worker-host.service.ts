import {
  Inject,
  Injectable,
  Logger,
  type OnApplicationBootstrap,
  type OnApplicationShutdown,
} from '@nestjs/common';
import { type Job, UnrecoverableError, Worker } from 'bullmq';
import type { Redis } from 'ioredis';
import { ZodError } from 'zod';
import { HERALD_CONFIG, type HeraldConfig } from '@herald/config';
import {
  bullPrefix,
  closeRedis,
  createRedis,
  isJobName,
  parseJobPayload,
  QUEUE_NAMES,
  type JobName,
} from '@herald/queue';
import { heraldMetrics } from '@herald/metrics';
import { QueueService } from '@herald/platform';
import { JOB_HANDLERS, type JobHandler } from './job-handler';
import { buildJobRegistry } from './job-registry';

/** Runs one BullMQ worker per queue and dispatches each job to its registered handler. */
@Injectable()
export class WorkerHostService implements OnApplicationBootstrap, OnApplicationShutdown {
  private readonly logger = new Logger('worker');
  private readonly registry: Map<JobName, JobHandler>;
  private readonly workers: Worker[] = [];
  private connection?: Redis;

  constructor(
    @Inject(HERALD_CONFIG) private readonly config: HeraldConfig,
    @Inject(JOB_HANDLERS) handlers: JobHandler[],
    private readonly queues: QueueService,
  ) {
    this.registry = buildJobRegistry(handlers);
  }

  async onApplicationBootstrap(): Promise<void> {
    this.connection = createRedis(this.config.redis, 'worker', 'herald-worker');
    for (const queue of QUEUE_NAMES) {
      const worker = new Worker(queue, (job) => this.dispatch(job), {
        connection: this.connection,
        prefix: bullPrefix(this.config.redis.queuePrefix),
        // Push and feedback jobs each hold a page of devices, provider streams and database
        // connections for a while: they get their own, smaller bound, so the pool is never starved.
        concurrency:
          queue === 'push'
            ? this.config.push.concurrency
            : queue === 'feedback'
              ? this.config.push.feedbackConcurrency
              : this.config.worker.concurrency,
        lockDuration: this.config.worker.lockMs,
        stalledInterval: this.config.worker.lockMs,
        autorun: true,
      });
      worker.on('failed', (job, err) =>
        this.logger.warn({ queue, job: job?.name, jobId: job?.id, err: err.message }, 'job failed'),
      );
      worker.on('error', (err) => this.logger.error({ queue, err: err.message }, 'worker error'));
      this.workers.push(worker);
    }
    await this.queues.upsertRecurringJobs();
    this.logger.log({ queues: QUEUE_NAMES, concurrency: this.config.worker.concurrency }, 'workers running');
  }

  private async dispatch(job: Job): Promise<unknown> {
    // The registry holds a handler for every declared job, so only undeclared names miss.
    const handler = isJobName(job.name) ? this.registry.get(job.name) : undefined;
    if (!handler) throw new UnrecoverableError(`unknown job ${job.name}`);
    let payload: unknown;
    try {
      payload = parseJobPayload(handler.jobName, job.data);
    } catch (err) {
      // A malformed payload will never become valid: retrying it only delays the failure.
      if (err instanceof ZodError)
        throw new UnrecoverableError(`invalid payload for ${job.name}: ${err.message}`);
      throw err;
    }
    const result = await handler.handle(payload as never, job);
    // Schedule fires are counted from the recurring job's own result ({ fired }), not in its handler.
    if (job.name === 'schedules.fire-due') {
      const fired = (result as { fired?: unknown } | undefined)?.fired;
      if (typeof fired === 'number' && fired > 0)
        heraldMetrics.scheduleFires.inc({ outcome: 'fired' }, fired);
    }
    return result;
  }

  /** Stops taking jobs and waits for the active ones to finish, so none is lost or half done. */
  async onApplicationShutdown(): Promise<void> {
    await Promise.all(this.workers.map((w) => w.close()));
    if (this.connection) await closeRedis(this.connection);
  }
}
