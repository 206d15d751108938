import { type DynamicModule, Module } from '@nestjs/common';
import { LoggerModule } from 'nestjs-pino';
import type { HeraldConfig } from '@herald/config';
import { loggerOptions } from '@herald/common';
import { assignRequestId } from './request-id';

/**
 * Structured JSON logs (pino) for every app; on HTTP apps every line of a request carries its
 * correlation id (`assignRequestId`). nestjs-pino keeps one root logger per process, so components
 * that share a process (the all-in-one) must share one `app` name.
 */
@Module({})
export class LoggingModule {
  static forRoot(config: HeraldConfig, app: string): DynamicModule {
    return {
      module: LoggingModule,
      imports: [
        LoggerModule.forRoot({
          pinoHttp: {
            ...loggerOptions(config.logLevel, app),
            genReqId: assignRequestId,
            customLogLevel: (_req, res, err) =>
              err || res.statusCode >= 500 ? 'error' : res.statusCode >= 400 ? 'warn' : 'info',
            autoLogging: {
              ignore: (req) => req.url === '/healthz' || req.url === '/readyz' || req.url === '/metrics',
            },
            serializers: {
              req: (req: { id: string; method: string; url: string; remoteAddress?: string }) => ({
                id: req.id,
                method: req.method,
                url: req.url?.split('?')[0],
                remoteAddress: req.remoteAddress,
              }),
              res: (res: { statusCode: number }) => ({ statusCode: res.statusCode }),
            },
          },
        }),
      ],
    };
  }
}
