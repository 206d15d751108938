import { Injectable } from '@nestjs/common';

export type FeedbackAction =
  | 'invalidated'
  | 'quarantined'
  | 'ignored'
  | 'unchanged'
  | 'environment_corrected'
  | 'purged'
  | 'webhook_sent'
  | 'webhook_failed';

/**
 * In-process counts of what token hygiene did, per channel, reason and action. There is no metrics
 * registry yet: the metrics issue turns these into a Prometheus counter
 * (`herald_feedback_total{channel,reason,action}`) and reads `snapshot()` or replaces this class.
 */
@Injectable()
export class FeedbackMetrics {
  private readonly counts = new Map<string, number>();

  add(channel: string, reason: string, action: FeedbackAction, n = 1): void {
    if (n <= 0) return;
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
