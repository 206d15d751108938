import { type DynamicModule, Module } from '@nestjs/common';
import { HeraldConfigModule, type HeraldConfig } from '@herald/config';
import { DbModule } from '@herald/db';
import { MetricsModule } from '@herald/metrics';
import { HealthModule, LoggingModule, QueueModule } from '@herald/platform';
import { DeviceAuthService } from './device-auth.service';
import { GatewayServer } from './gateway.server';
import { ReceiptWriter } from './receipt.writer';

/**
 * The long-connection node: health on HTTP, and the WebSocket endpoint `/v1/connect`
 * (docs/gateway-protocol.md) attached to the same server by {@link GatewayServer}.
 */
@Module({})
export class GatewayModule {
  static forRoot(config: HeraldConfig, logName = 'gateway'): DynamicModule {
    return {
      module: GatewayModule,
      imports: [
        HeraldConfigModule.forRoot(config),
        LoggingModule.forRoot(config, logName),
        DbModule,
        QueueModule,
        HealthModule,
        MetricsModule,
      ],
      providers: [DeviceAuthService, ReceiptWriter, GatewayServer],
      exports: [GatewayServer],
    };
  }
}
