export { HealthController, HealthModule } from './health.controller';
export { readiness, type CheckResult } from './health';
export { LoggingModule } from './logging.module';
export { QueueModule, QueueService } from './queue.module';
export { RateLimiter, type RateLimitResult } from './rate-limiter';
export { REDIS } from './redis.token';
export { assignRequestId, requestIdMiddleware } from './request-id';
export { runProcess } from './run-process';
export { installShutdown, type Closable } from './shutdown';
