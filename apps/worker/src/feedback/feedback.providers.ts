import { FeedbackMetrics } from './feedback.metrics';
import { InvalidTokensHandler } from './invalid-tokens.handler';
import { PurgeInvalidHandler } from './purge-invalid.handler';
import { QuarantineExpiryHandler } from './quarantine-expiry.handler';
import { WebhookDispatchHandler } from './webhook-dispatch.handler';

/** Token hygiene's job handlers (they need `PushRuntime`, provided by the worker module). */
export const FEEDBACK_HANDLERS = [
  InvalidTokensHandler,
  QuarantineExpiryHandler,
  PurgeInvalidHandler,
  WebhookDispatchHandler,
];

export const FEEDBACK_PROVIDERS = [FeedbackMetrics];
