import { Injectable, Logger } from '@nestjs/common';
import type { JobPayload } from '@herald/queue';
import type { JobHandler } from '../jobs/job-handler';
import { PushRuntime } from '../push/push.runtime';
import { applyStateChanges, type StateChange } from './device-state.writer';
import { EnvironmentRetry, type RetryResult } from './environment-retry';
import { FeedbackMetrics } from './feedback.metrics';
import { onePerDevice, ruleFor, type FeedbackItem } from './feedback-rules';

/**
 * Thrown after everything else in the job is applied when the other APNs environment answered a resend
 * only for now (429, 5xx, timeout): BullMQ runs the job again with its back-off, and that run resends
 * just these (the rest is done or unchanged). When the attempts run out the device is simply left as
 * it was: a transient answer never quarantines it.
 */
export class EnvironmentRetryDeferred extends Error {
  constructor(
    readonly count: number,
    readonly reasons: string[],
  ) {
    super(
      `APNs environment retry: ${count} resend(s) answered transiently (${reasons.join(', ')}); the job runs again`,
    );
    this.name = 'EnvironmentRetryDeferred';
  }
}

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
    let deferred: RetryResult['deferred'] = [];
    if (otherEnvironment.length > 0) {
      const credentials = await this.runtime.appCredentials(appId);
      const retried = await this.retry.run(appId, credentials, otherEnvironment);
      corrected = retried.corrected;
      deferred = retried.deferred;
      this.metrics.add('apns', 'BadDeviceToken', 'environment_corrected', corrected);
      for (const item of retried.quarantine) change(item, 'quarantined');
      if (retried.unresolved.length > 0) {
        // Not the token's fault (the other environment's credentials, or the message): no device change.
        this.metrics.add('apns', 'BadDeviceToken', 'environment_retry_failed', retried.unresolved.length);
        this.logger.warn(
          {
            appId,
            devices: retried.unresolved.length,
            refusals: distinct(retried.unresolved),
          },
          'the other APNs environment refused the resend for a reason that is not the token: devices left as they are',
        );
      }
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
    if (deferred.length > 0) {
      this.metrics.add('apns', 'BadDeviceToken', 'environment_retry_deferred', deferred.length);
      const refusals = distinct(deferred);
      this.logger.warn(
        { appId, devices: deferred.length, refusals },
        'the other APNs environment answered transiently: the job runs again',
      );
      throw new EnvironmentRetryDeferred(deferred.length, refusals);
    }
    return summary;
  }
}

/** `environment: status reason` of each distinct answer, for a log line or an error message. */
function distinct(list: RetryResult['deferred']): string[] {
  return [
    ...new Set(
      list.map(({ env, outcome }) => {
        const status = 'status' in outcome && outcome.status !== undefined ? `${outcome.status} ` : '';
        return `${env}: ${status}${'reason' in outcome ? outcome.reason : outcome.kind}`;
      }),
    ),
  ].slice(0, 10);
}
