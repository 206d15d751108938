export {
  heraldMetrics,
  HeraldMetrics,
  type DeliveryChannel,
  type DeliveryOutcomeKind,
  type ScrapeSampler,
} from './metrics';
export { httpMetricsMiddleware } from './http-metrics';
export { MetricsController, MetricsModule } from './metrics.controller';
export { queueSampler } from './queue-sampler';
