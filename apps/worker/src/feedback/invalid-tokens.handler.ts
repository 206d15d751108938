import { Injectable, Logger } from '@nestjs/common';
import type { JobPayload } from '@herald/queue';
import type { JobHandler } from '../jobs/job-handler';
import { PushRuntime } from '../push/push.runtime';
import { applyStateChanges, type StateChange } from './device-state.writer';
import { EnvironmentRetry } from './environment-retry';
import { FeedbackMetrics } from './feedback.metrics';
import { onePerDevice, ruleFor, type FeedbackItem } from './feedback-rules';

export interface InvalidTokensSummary {
  invalidated: number;
  quarantined: number;
  ignored: number;
  unchanged: number;
  corrected: number;
}

/**
 * The token-hygiene worker: turns a page of invalid-token outcomes into device state changes (the
 * rules are in `feedback-rules.ts`; the race and idempotency rules in `device-state.writer.ts`).
 * Shares the fan-out's long-lived provider clients and credential cache (`PushRuntime`), so an
 * environment retry never opens a connection of its own.
 */
@Injectable()
export class InvalidTokensHandler implements JobHandler<'feedback.invalid-tokens'> {
  readonly jobName = 'feedback.invalid-tokens' as const;
  private readonly logger = new Logger('feedback');
  private readonly retry: EnvironmentRetry;

  constructor(
    private readonly runtime: PushRuntime,
    private readonly metrics: FeedbackMetrics,
  ) {
    this.retry = new EnvironmentRetry(runtime.db, runtime.pool);
  }

  async handle(payload: JobPayload<'feedback.invalid-tokens'>): Promise<InvalidTokensSummary> {
    const { appId } = payload;
    const changes: StateChange[] = [];
    const otherEnvironment: FeedbackItem[] = [];
    const change = (item: FeedbackItem, target: StateChange['target']) =>
      changes.push({
        deviceId: item.deviceId,
        messageId: item.messageId,
        channel: item.channel,
        reason: item.reason,
        ...(item.providerTimestamp !== undefined && { providerTimestamp: item.providerTimestamp }),
        target,
      });
    for (const item of onePerDevice(payload.items)) {
      switch (ruleFor(item)) {
        case 'invalidate':
          change(item, 'invalid');
          break;
        case 'quarantine':
          change(item, 'quarantined');
          break;
        case 'other-environment':
          otherEnvironment.push(item);
          break;
        case 'none':
          this.metrics.add(item.channel, item.reason, 'unchanged');
          this.logger.warn({ appId, channel: item.channel, reason: item.reason }, 'no rule for this outcome');
      }
    }

    let corrected = 0;
    if (otherEnvironment.length > 0) {
      const credentials = await this.runtime.appCredentials(appId);
      const retried = await this.retry.run(appId, credentials, otherEnvironment);
      corrected = retried.corrected;
      this.metrics.add('apns', 'BadDeviceToken', 'environment_corrected', corrected);
      for (const item of retried.quarantine) change(item, 'quarantined');
    }

    const summary: InvalidTokensSummary = {
      invalidated: 0,
      quarantined: 0,
      ignored: 0,
      unchanged: 0,
      corrected,
    };
    for (const c of await applyStateChanges(this.runtime.db, appId, changes)) {
      summary[c.action] += c.n;
      this.metrics.add(c.channel, c.reason, c.action, c.n);
    }
    return summary;
  }
}
