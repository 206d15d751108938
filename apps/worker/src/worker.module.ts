import { type DynamicModule, Module } from '@nestjs/common';
import { HeraldConfigModule, type HeraldConfig } from '@herald/config';
import { DbModule } from '@herald/db';
import { LoggingModule, QueueMetrics, QueueModule } from '@herald/platform';
import { SCHEDULE_CLOCK, systemClock } from '@herald/schedules';
import { CallbackDispatchHandler } from './callbacks/callback-dispatch.handler';
import { FEEDBACK_HANDLERS, FEEDBACK_PROVIDERS } from './feedback/feedback.providers';
import { JOB_HANDLERS, type JobHandler } from './jobs/job-handler';
import { WorkerHostService } from './jobs/worker-host.service';
import { PurgeIdempotencyHandler } from './maintenance/purge-idempotency.handler';
import { PlanHandler } from './push/plan.handler';
import { PushRuntime } from './push/push.runtime';
import { RecallHandler } from './push/recall.handler';
import { ReconcilerService } from './push/reconciler.service';
import { ShardHandler } from './push/shard.handler';
import { FoldReceiptsHandler } from './reports/fold-receipts.handler';
import { FireDueSchedulesHandler } from './schedules/fire-due.handler';

const HANDLERS = [
  PurgeIdempotencyHandler,
  PlanHandler,
  ShardHandler,
  RecallHandler,
  CallbackDispatchHandler,
  FoldReceiptsHandler,
  FireDueSchedulesHandler,
  ...FEEDBACK_HANDLERS,
];

@Module({})
export class WorkerModule {
  static forRoot(config: HeraldConfig, logName = 'worker'): DynamicModule {
    return {
      module: WorkerModule,
      imports: [
        HeraldConfigModule.forRoot(config),
        LoggingModule.forRoot(config, logName),
        DbModule,
        QueueModule,
      ],
      providers: [
        PushRuntime,
        { provide: SCHEDULE_CLOCK, useValue: systemClock },
        ReconcilerService,
        ...FEEDBACK_PROVIDERS,
        ...HANDLERS,
        {
          provide: JOB_HANDLERS,
          inject: HANDLERS,
          useFactory: (...handlers: JobHandler[]) => handlers,
        },
        WorkerHostService,
        QueueMetrics,
      ],
    };
  }
}
