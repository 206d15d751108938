import type { IncomingMessage, ServerResponse } from 'node:http';
import { heraldMetrics, type HeraldMetrics } from './metrics';

type RoutedRequest = IncomingMessage & { route?: { path?: unknown }; baseUrl?: string };

/**
 * Express middleware timing every request by its route pattern (`/v3/devices/:registration_id`), so
 * ids in paths never become labels; a request no route matched counts as `unmatched`.
 */
export function httpMetricsMiddleware(app: string, metrics: HeraldMetrics = heraldMetrics) {
  return (req: RoutedRequest, res: ServerResponse, next: () => void): void => {
    const end = metrics.httpDuration.startTimer();
    res.once('finish', () => {
      const path = req.route?.path;
      const route = typeof path === 'string' ? `${req.baseUrl ?? ''}${path}` : 'unmatched';
      end({ app, method: req.method ?? 'GET', route, status: `${Math.floor(res.statusCode / 100)}xx` });
    });
    next();
  };
}
