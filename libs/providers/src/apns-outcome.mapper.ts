import type { DeliveryOutcome } from './outcome';

/** One failed token: Apple's status and JSON body, or a transport error (the shape `@parse/node-apn` used). */
export interface ApnsFailure {
  status?: number | string;
  response?: { reason?: string; timestamp?: number | string };
  error?: { message?: string };
}

/**
 * Throttling gets a fixed back-off the retry policy can widen. (`@parse/node-apn` never passed
 * Retry-After on; Herald's own HTTP/2 path keeps that mapping so outcomes did not change with it.)
 */
export const APNS_RATE_LIMIT_BACKOFF_MS = 60_000;

const INVALID_TOKEN_REASONS = new Set(['BadDeviceToken', 'DeviceTokenNotForTopic', 'Unregistered']);

export function mapApnsFailure(failure: ApnsFailure): DeliveryOutcome {
  const status = typeof failure.status === 'number' ? failure.status : undefined;
  // node-apn turns a 500 with a JSON reason into a bare error; keep Apple's name for it.
  const reason =
    failure.response?.reason ??
    (status === 500 ? 'InternalServerError' : undefined) ??
    failure.error?.message;
  if (status === undefined) {
    // No HTTP status: timeout, GOAWAY-refused stream, reset connection. APNs never accepted it.
    return { kind: 'retryable', reason: `transport: ${reason ?? 'unknown error'}` };
  }
  if (status === 410 || (status === 400 && reason !== undefined && INVALID_TOKEN_REASONS.has(reason))) {
    const ts = failure.response?.timestamp;
    return {
      kind: 'invalid_token',
      reason: reason ?? 'Unregistered',
      status,
      ...(ts !== undefined && { providerTimestamp: new Date(Number(ts)) }),
    };
  }
  if (status === 429) {
    return {
      kind: 'rate_limited',
      reason: reason ?? 'TooManyRequests',
      status,
      retryAfterMs: APNS_RATE_LIMIT_BACKOFF_MS,
    };
  }
  if (status >= 500 || status === 408) {
    return { kind: 'retryable', reason: reason ?? `http ${status}`, status };
  }
  return { kind: 'permanent', reason: reason ?? `http ${status}`, status };
}
