import { Inject, Injectable, Logger } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import type { DataSource } from 'typeorm';
import { QueueService } from '@herald/platform';
import { SCHEDULE_CLOCK, ScheduleFirer, type Clock, type Fire } from '@herald/schedules';
import type { JobHandler } from '../jobs/job-handler';

/**
 * Schedules are rows; this recurring job (every second, a BullMQ job scheduler that the push
 * reconciler restores after a Redis flush) fires those that are due by the injected clock. A fire
 * that Redis lost is therefore only late by the reconciler's interval, never lost or doubled.
 */
@Injectable()
export class FireDueSchedulesHandler implements JobHandler<'schedules.fire-due'> {
  readonly jobName = 'schedules.fire-due' as const;
  private readonly logger = new Logger('schedules');
  private readonly firer: ScheduleFirer;

  constructor(
    @InjectDataSource() db: DataSource,
    queues: QueueService,
    @Inject(SCHEDULE_CLOCK) private readonly clock: Clock,
  ) {
    this.firer = new ScheduleFirer(db, queues, this.logger);
  }

  async handle(): Promise<{ fired: number }> {
    const fires = await this.run();
    return { fired: fires.length };
  }

  /** One pass at the clock's current time (tests call it directly). */
  async run(): Promise<Fire[]> {
    const fires = await this.firer.fireDue(this.clock.now());
    if (fires.length > 0) {
      this.logger.log(
        { fires: fires.map((f) => ({ schedule: f.scheduleId, at: f.fireAt, msgId: f.messageId })) },
        'fired schedules',
      );
    }
    return fires;
  }
}
