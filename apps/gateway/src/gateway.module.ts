import { type DynamicModule, Module } from '@nestjs/common';
import { HeraldConfigModule, type HeraldConfig } from '@herald/config';
import { DbModule } from '@herald/db';
import { HealthModule, LoggingModule, QueueModule } from '@herald/platform';

/**
 * The long-connection node. This module carries its HTTP surface (health); the WebSocket endpoint
 * `/v1/connect` of docs/gateway-protocol.md is attached to the same server by the gateway issue.
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
      ],
    };
  }
}
