export { HealthController, HealthModule } from './health.controller';
export { readiness, type CheckResult } from './health';
export { LoggingModule } from './logging.module';
export { QueueModule, QueueService, REDIS } from './queue.module';
export { assignRequestId, requestIdMiddleware } from './request-id';
export { runProcess } from './run-process';
export { installShutdown, type Closable } from './shutdown';
