import { type DynamicModule, Module } from '@nestjs/common';
import { APP_FILTER } from '@nestjs/core';
import { HeraldConfigModule, type HeraldConfig } from '@herald/config';
import { DbModule } from '@herald/db';
import { HealthModule, LoggingModule, QueueModule } from '@herald/platform';
import { GlobalExceptionFilter } from './http/global-exception.filter';

@Module({})
export class ApiModule {
  static forRoot(config: HeraldConfig, logName = 'api'): DynamicModule {
    return {
      module: ApiModule,
      imports: [
        HeraldConfigModule.forRoot(config),
        LoggingModule.forRoot(config, logName),
        DbModule,
        QueueModule,
        HealthModule,
      ],
      providers: [{ provide: APP_FILTER, useClass: GlobalExceptionFilter }],
    };
  }
}
