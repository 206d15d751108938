import type { INestApplication } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { Logger } from 'nestjs-pino';
import type { HeraldConfig } from '@herald/config';
import { httpMetricsMiddleware } from '@herald/metrics';
import { GatewayModule } from './gateway.module';

export async function startGateway(config: HeraldConfig, logName = 'gateway'): Promise<INestApplication> {
  const app = await NestFactory.create(GatewayModule.forRoot(config, logName), {
    bufferLogs: true,
    bodyParser: false,
  });
  app.useLogger(app.get(Logger));
  app.use(httpMetricsMiddleware('gateway'));
  await app.listen(config.gateway.port, config.gateway.host);
  return app;
}
