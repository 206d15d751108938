import { z } from 'zod';
import type { QueueName } from './queue.names';

/**
 * The job registry: each job name, the queue it runs on and the schema its payload must satisfy.
 * Producers and processors share it; processors validate the payload at entry. Free of Nest and the
 * database, so any process can import it.
 */
const msgId = z.string().regex(/^[1-9][0-9]{0,15}$/, 'a msg_id: a decimal bigint below 2^53');
const deviceId = z.string().regex(/^[1-9][0-9]{0,18}$/, 'a device id: a decimal bigint');
const channel = z.enum(['apns', 'fcm', 'gateway']);

export const JOBS = {
  'maintenance.purge-idempotency': {
    queue: 'maintenance',
    payload: z.object({ batchSize: z.number().int().positive().max(100_000).default(5_000) }).strict(),
  },
  /** Splits an accepted message's audience into shards (keyset ranges) and enqueues them. */
  'push.plan': { queue: 'push', payload: z.object({ messageId: msgId }).strict() },
  /** Delivers one shard: scans its id range, sends on each channel, records every outcome. */
  'push.shard': {
    queue: 'push',
    payload: z.object({ messageId: msgId, shardNo: z.number().int().min(0).max(100_000) }).strict(),
  },
  /** Recall: removes undelivered gateway copies and tells connected devices (after the fan-out stopped). */
  'push.recall': { queue: 'push', payload: z.object({ messageId: msgId }).strict() },
  /**
   * Invalid-token outcomes from sends, for the token-hygiene worker. Bounded: one shard page at most.
   * `providerTimestamp` is APNs' 410 timestamp (ISO-8601) when it sent one.
   */
  'feedback.invalid-tokens': {
    queue: 'feedback',
    payload: z
      .object({
        appId: z.uuid(),
        items: z
          .array(
            z
              .object({
                deviceId,
                messageId: msgId,
                channel,
                reason: z.string().min(1).max(200),
                status: z.number().int().optional(),
                providerTimestamp: z.iso.datetime({ offset: true }).optional(),
                apnsEnvironment: z.enum(['sandbox', 'production']).optional(),
              })
              .strict(),
          )
          .min(1)
          .max(10_000),
      })
      .strict(),
  },
  /** Folds SDK receipts (`device_receipts`) for APNs/FCM devices into the ledger and counters. */
  'reports.fold-receipts': {
    queue: 'maintenance',
    payload: z.object({ batchSize: z.number().int().positive().max(100_000).default(5_000) }).strict(),
  },
  /** Finds delivery and click events of messages with a JPush `callback` and POSTs them, signed. */
  'callbacks.dispatch': {
    queue: 'callbacks',
    payload: z.object({ batchSize: z.number().int().positive().max(10_000).default(500) }).strict(),
  },
  /** Token hygiene: quarantined devices older than `HERALD_QUARANTINE_DAYS` become invalid, in batches. */
  'feedback.expire-quarantine': {
    queue: 'maintenance',
    payload: z.object({ batchSize: z.number().int().positive().max(100_000).default(1_000) }).strict(),
  },
  /** Token hygiene: deletes invalid devices older than `HERALD_INVALID_RETENTION_DAYS`, in batches. */
  'feedback.purge-invalid': {
    queue: 'maintenance',
    payload: z.object({ batchSize: z.number().int().positive().max(100_000).default(1_000) }).strict(),
  },
  /** POSTs pending `token.invalidated` webhooks (signed, retried with back-off) to each app's URL. */
  'feedback.webhooks': {
    queue: 'callbacks',
    payload: z.object({ batchSize: z.number().int().positive().max(10_000).default(500) }).strict(),
  },
  /**
   * Fires the schedules whose `next_fire_at` has come (PostgreSQL is the truth; `schedule_fires` makes
   * each fire produce one message however many workers run it).
   */
  'schedules.fire-due': { queue: 'maintenance', payload: z.object({}).strict() },
} as const satisfies Record<string, { queue: QueueName; payload: z.ZodType }>;

export type JobName = keyof typeof JOBS;
export type JobPayload<N extends JobName> = z.infer<(typeof JOBS)[N]['payload']>;
export type JobInput<N extends JobName> = z.input<(typeof JOBS)[N]['payload']>;

export const JOB_NAMES = Object.keys(JOBS) as JobName[];

export function parseJobPayload<N extends JobName>(name: N, data: unknown): JobPayload<N> {
  return JOBS[name].payload.parse(data) as JobPayload<N>;
}

export function isJobName(name: string): name is JobName {
  return Object.prototype.hasOwnProperty.call(JOBS, name);
}

/** Recurring jobs every deployment runs, as BullMQ job schedulers (idempotent upserts at worker boot). */
export const RECURRING_JOBS: { id: string; name: JobName; everyMs: number; data: Record<string, unknown> }[] =
  [
    { id: 'purge-idempotency', name: 'maintenance.purge-idempotency', everyMs: 60 * 60 * 1000, data: {} },
    { id: 'fold-receipts', name: 'reports.fold-receipts', everyMs: 2_000, data: {} },
    { id: 'dispatch-callbacks', name: 'callbacks.dispatch', everyMs: 2_000, data: {} },
    { id: 'expire-quarantine', name: 'feedback.expire-quarantine', everyMs: 60 * 60 * 1000, data: {} },
    { id: 'purge-invalid-devices', name: 'feedback.purge-invalid', everyMs: 60 * 60 * 1000, data: {} },
    { id: 'feedback-webhooks', name: 'feedback.webhooks', everyMs: 5_000, data: {} },
    { id: 'schedules-fire-due', name: 'schedules.fire-due', everyMs: 1_000, data: {} },
  ];
