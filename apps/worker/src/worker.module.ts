import { type DynamicModule, Module } from '@nestjs/common';
import { HeraldConfigModule, type HeraldConfig } from '@herald/config';
import { DbModule } from '@herald/db';
import { LoggingModule, QueueModule } from '@herald/platform';
import { JOB_HANDLERS, type JobHandler } from './jobs/job-handler';
import { WorkerHostService } from './jobs/worker-host.service';
import { PurgeIdempotencyHandler } from './maintenance/purge-idempotency.handler';

const HANDLERS = [PurgeIdempotencyHandler];

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
        ...HANDLERS,
        {
          provide: JOB_HANDLERS,
          inject: HANDLERS,
          useFactory: (...handlers: JobHandler[]) => handlers,
        },
        WorkerHostService,
      ],
    };
  }
}
