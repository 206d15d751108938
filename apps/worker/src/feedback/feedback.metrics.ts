import { Injectable } from '@nestjs/common';
import { heraldMetrics } from '@herald/metrics';

export type FeedbackAction =
  | 'invalidated'
  | 'quarantined'
  | 'ignored'
  | 'unchanged'
  | 'environment_corrected'
  | 'environment_retry_deferred'
  | 'environment_retry_failed'
  | 'purged'
  | 'webhook_sent'
  | 'webhook_failed';

/**
 * Counts of what token hygiene did, per channel, reason and action: exported as the Prometheus
 * counter `herald_feedback_total{channel,reason,action}` and kept here for `snapshot()`.
 */
@Injectable()
export class FeedbackMetrics {
  private readonly counts = new Map<string, number>();

  add(channel: string, reason: string, action: FeedbackAction, n = 1): void {
    if (n <= 0) return;
    heraldMetrics.feedbackActions.inc({ channel, reason, action }, n);
    const key = `${channel}|${reason}|${action}`;
    this.counts.set(key, (this.counts.get(key) ?? 0) + n);
  }

  snapshot(): { channel: string; reason: string; action: FeedbackAction; count: number }[] {
    return [...this.counts.entries()]
      .map(([key, count]) => {
        const [channel, reason, action] = key.split('|');
        return { channel, reason, action: action as FeedbackAction, count };
      })
      .sort((a, b) =>
        `${a.channel}|${a.reason}|${a.action}`.localeCompare(`${b.channel}|${b.reason}|${b.action}`),
      );
  }
}
