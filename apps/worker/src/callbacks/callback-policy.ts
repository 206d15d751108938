import { OutboundRefused } from '@herald/platform';
import type { CallbackEvent } from '@herald/push';

/**
 * JPush's `callback.type` bits: 1 delivered (送达回执), 2 clicked (点击回执), 8 sent (推送成功回执).
 * 16 (dismissed) is Herald's own: JPush has no such event, so it is only sent when asked for.
 */
export const CALLBACK_TYPE_BITS: Record<CallbackEvent, number> = {
  delivered: 1,
  clicked: 2,
  sent: 8,
  dismissed: 16,
};

/** No `type`: delivery and click events, as the API contract describes the callback. */
export const DEFAULT_CALLBACK_TYPE = CALLBACK_TYPE_BITS.delivered | CALLBACK_TYPE_BITS.clicked;

export function callbackWants(type: unknown, event: CallbackEvent): boolean {
  // The same reading as `enqueueCallbackEvents` in @herald/push, which filters before queueing.
  const mask =
    typeof type === 'number' && Number.isInteger(type) && type >= 0 && type <= 0x7fffffff
      ? type
      : DEFAULT_CALLBACK_TYPE;
  return (mask & CALLBACK_TYPE_BITS[event]) !== 0;
}

/** Attempts (the first POST included) before an event is dropped. */
export const MAX_CALLBACK_ATTEMPTS = 10;
const BASE_DELAY_MS = 30_000;
const MAX_DELAY_MS = 6 * 3600_000;

/**
 * Delay before the next POST after the `failures`-th failed one: 30 s × 4^(failures−1), capped at 6 h,
 * ±20 % jitter so that the events of a tenant that was down do not all come back in the same second.
 * Nine retries span about 27 hours (30 s, 2 min, 8 min, 32 min, 2 h 8 min, then 6 h four times).
 */
export function retryDelayMs(failures: number, random: () => number = Math.random): number {
  const base = Math.min(BASE_DELAY_MS * 4 ** Math.max(0, failures - 1), MAX_DELAY_MS);
  return Math.round(base * (0.8 + 0.4 * random()));
}

/** Only absolute http(s) URLs are POSTed to; anything else can never succeed. */
export function parseCallbackUrl(url: unknown): URL | undefined {
  if (typeof url !== 'string') return undefined;
  try {
    const parsed = new URL(url);
    return parsed.protocol === 'https:' || parsed.protocol === 'http:' ? parsed : undefined;
  } catch {
    return undefined;
  }
}

/** A refused address, thrown by OutboundHttp itself or by its lookup inside the connection (as the cause). */
export function isOutboundRefused(err: unknown): boolean {
  return err instanceof OutboundRefused || (err instanceof Error && err.cause instanceof OutboundRefused);
}

/** `TimeoutError: …`, `TypeError: fetch failed: connect ECONNREFUSED …` (a timeout is a DOMException). */
export function describeOutboundError(err: unknown): string {
  if (typeof err !== 'object' || err === null) return String(err);
  const { name, message, cause } = err as { name?: unknown; message?: unknown; cause?: unknown };
  const why = cause instanceof Error ? `: ${cause.message}` : '';
  return `${typeof name === 'string' ? name : 'Error'}: ${String(message)}${why}`;
}
