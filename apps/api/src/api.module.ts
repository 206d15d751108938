import {
  type DynamicModule,
  type MiddlewareConsumer,
  Module,
  type NestModule,
  RequestMethod,
} from '@nestjs/common';
import { json, urlencoded } from 'express';
import { APP_FILTER } from '@nestjs/core';
import { HeraldConfigModule, type HeraldConfig } from '@herald/config';
import { DbModule } from '@herald/db';
import { MetricsModule } from '@herald/metrics';
import { HealthModule, LoggingModule, QueueModule } from '@herald/platform';
import { AppAuthModule } from './auth/app-auth.module';
import { DeviceAuthGuard } from './auth/device-auth.guard';
import { DASHBOARD_CONTROLLERS, DASHBOARD_PROVIDERS } from './dashboard/dashboard.providers';
import { DeviceService } from './devices/device.service';
import { GeoIpService } from './devices/geoip.service';
import { GatewayPresenceReader, PRESENCE_READER } from './devices/presence.reader';
import { FeedbackController } from './feedback/feedback.controller';
import { FeedbackService } from './feedback/feedback.service';
import { GlobalExceptionFilter } from './http/global-exception.filter';
import { DeviceApiController } from './jpush/device-api.controller';
import { PushController } from './push/push.controller';
import { PushService } from './push/push.service';
import { ReportController } from './reports/report.controller';
import { ReportService } from './reports/report.service';
import { SchedulesModule } from './schedules/schedules.module';
import { SdkController } from './sdk/sdk.controller';

/** JPush's batch endpoints carry up to 1000 pushes in one body. */
const BODY_LIMIT = '10mb';

@Module({})
export class ApiModule implements NestModule {
  /**
   * Body parsing runs as module middleware, after the logging middleware of the imported
   * LoggingModule, so a request the parser rejects (bad JSON, too large) still gets its access-log line.
   */
  configure(consumer: MiddlewareConsumer): void {
    consumer
      .apply(
        json({ limit: BODY_LIMIT, type: ['application/json', 'application/*+json'] }),
        urlencoded({ limit: BODY_LIMIT, extended: false }),
      )
      .forRoutes({ path: '*path', method: RequestMethod.ALL });
  }

  static forRoot(config: HeraldConfig, logName = 'api'): DynamicModule {
    return {
      module: ApiModule,
      imports: [
        HeraldConfigModule.forRoot(config),
        LoggingModule.forRoot(config, logName),
        DbModule,
        QueueModule,
        HealthModule,
        MetricsModule,
        AppAuthModule,
        SchedulesModule,
      ],
      controllers: [
        SdkController,
        DeviceApiController,
        PushController,
        ReportController,
        FeedbackController,
        ...DASHBOARD_CONTROLLERS,
      ],
      providers: [
        { provide: APP_FILTER, useClass: GlobalExceptionFilter },
        { provide: PRESENCE_READER, useClass: GatewayPresenceReader },
        DeviceAuthGuard,
        DeviceService,
        FeedbackService,
        GeoIpService,
        PushService,
        ReportService,
        ...DASHBOARD_PROVIDERS,
      ],
    };
  }
}
