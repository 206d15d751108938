import {
  type DynamicModule,
  Global,
  Inject,
  type MiddlewareConsumer,
  Module,
  type NestModule,
  RequestMethod,
} from '@nestjs/common';
import { LoggerModule } from 'nestjs-pino';
import pino, { type Logger } from 'pino';
import type { HeraldConfig } from '@herald/config';
import { loggerOptions } from '@herald/common';
import { httpLogger } from './http-logger';

const ROOT_LOGGER = Symbol('herald:root-logger');

/**
 * Structured JSON logs (pino) for every app; on HTTP apps every line of a request carries its
 * correlation id (`httpLogger`), and every request ends with one access line. nestjs-pino keeps one
 * root logger per process, so components that share a process (the all-in-one) must share one `app`
 * name. Global, so that its middleware runs before any module's (a request the body parser rejects
 * still gets its id and its access line).
 */
@Global()
@Module({})
export class LoggingModule implements NestModule {
  constructor(@Inject(ROOT_LOGGER) private readonly root: Logger) {}

  configure(consumer: MiddlewareConsumer): void {
    consumer.apply(httpLogger(this.root)).forRoutes({ path: '*path', method: RequestMethod.ALL });
  }

  static forRoot(config: HeraldConfig, app: string): DynamicModule {
    const root = pino(loggerOptions(config.logLevel, app));
    return {
      module: LoggingModule,
      imports: [
        // nestjs-pino for Nest's `Logger` only: its own request middleware is replaced by `httpLogger`.
        LoggerModule.forRoot({ pinoHttp: { logger: root }, useExisting: true, forRoutes: [] }),
      ],
      providers: [{ provide: ROOT_LOGGER, useValue: root }],
    };
  }
}
