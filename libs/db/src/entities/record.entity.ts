import { Column, CreateDateColumn, Entity, Index, PrimaryColumn, PrimaryGeneratedColumn } from 'typeorm';
import type { DeviceChannel } from './device.entity';

export type FeedbackAction = 'invalidated' | 'quarantined' | 'restored' | 'ignored';

@Entity({ name: 'feedback_events' })
@Index('feedback_events_app_idx', ['appId', 'createdAt', 'id'])
export class FeedbackEventEntity {
  @PrimaryGeneratedColumn('identity', { type: 'bigint', generatedIdentity: 'ALWAYS' })
  id!: string;

  @Column({ name: 'app_id', type: 'uuid' })
  appId!: string;

  @Column({ name: 'device_id', type: 'bigint', nullable: true })
  deviceId!: string | null;

  @Column({ name: 'registration_id', type: 'text' })
  registrationId!: string;

  @Column({ type: 'text' })
  channel!: DeviceChannel;

  @Column({ name: 'token_hash', type: 'text', nullable: true })
  tokenHash!: string | null;

  @Column({ name: 'token_suffix', type: 'text', nullable: true })
  tokenSuffix!: string | null;

  @Column({ type: 'text' })
  reason!: string;

  @Column({ type: 'text' })
  action!: FeedbackAction;

  @Column({ name: 'provider_timestamp', type: 'timestamptz', nullable: true })
  providerTimestamp!: Date | null;

  @Column({ name: 'message_id', type: 'bigint', nullable: true })
  messageId!: string | null;

  @CreateDateColumn({ name: 'created_at', type: 'timestamptz', default: () => 'now()' })
  createdAt!: Date;
}

export type IdempotencyKind = 'cid' | 'key';

@Entity({ name: 'idempotency_records' })
@Index('idempotency_records_expiry_idx', ['expiresAt'])
export class IdempotencyRecordEntity {
  @PrimaryColumn({ name: 'app_id', type: 'uuid' })
  appId!: string;

  @PrimaryColumn({ type: 'text' })
  kind!: IdempotencyKind;

  @PrimaryColumn({ type: 'text' })
  key!: string;

  @Column({ name: 'request_hash', type: 'text', nullable: true })
  requestHash!: string | null;

  @Column({ name: 'status_code', type: 'integer', nullable: true })
  statusCode!: number | null;

  @Column({ type: 'jsonb', nullable: true })
  response!: Record<string, unknown> | null;

  @Column({ name: 'message_id', type: 'bigint', nullable: true })
  messageId!: string | null;

  @CreateDateColumn({ name: 'created_at', type: 'timestamptz', default: () => 'now()' })
  createdAt!: Date;

  @Column({ name: 'expires_at', type: 'timestamptz' })
  expiresAt!: Date;
}

export type AuditActorType = 'user' | 'api_token' | 'app' | 'device' | 'system';

@Entity({ name: 'audit_log' })
@Index('audit_log_tenant_idx', { synchronize: false })
export class AuditLogEntity {
  @PrimaryGeneratedColumn('identity', { type: 'bigint', generatedIdentity: 'ALWAYS' })
  id!: string;

  @Column({ name: 'tenant_id', type: 'uuid', nullable: true })
  tenantId!: string | null;

  @Column({ name: 'app_id', type: 'uuid', nullable: true })
  appId!: string | null;

  @Column({ name: 'actor_type', type: 'text' })
  actorType!: AuditActorType;

  @Column({ name: 'actor_id', type: 'text', nullable: true })
  actorId!: string | null;

  @Column({ type: 'text' })
  action!: string;

  @Column({ name: 'target_type', type: 'text', nullable: true })
  targetType!: string | null;

  @Column({ name: 'target_id', type: 'text', nullable: true })
  targetId!: string | null;

  @Column({ name: 'source_ip', type: 'inet', nullable: true })
  sourceIp!: string | null;

  @Column({ type: 'jsonb', default: () => "'{}'" })
  details!: Record<string, unknown>;

  @CreateDateColumn({ name: 'created_at', type: 'timestamptz', default: () => 'now()' })
  createdAt!: Date;
}

export type ReceiptEvent = 'delivered' | 'opened' | 'dismissed';

/** A receipt a device reported over the SDK API (APNs/FCM devices; the gateway reports its own). */
@Entity({ name: 'device_receipts' })
@Index('device_receipts_unprocessed_idx', { synchronize: false })
export class DeviceReceiptEntity {
  @PrimaryColumn({ name: 'message_id', type: 'bigint' })
  messageId!: string;

  @PrimaryColumn({ name: 'device_id', type: 'bigint' })
  deviceId!: string;

  @PrimaryColumn({ type: 'text' })
  event!: ReceiptEvent;

  @Column({ name: 'app_id', type: 'uuid' })
  appId!: string;

  @Column({ name: 'occurred_at', type: 'timestamptz' })
  occurredAt!: Date;

  @Column({ name: 'processed_at', type: 'timestamptz', nullable: true })
  processedAt!: Date | null;

  @CreateDateColumn({ name: 'created_at', type: 'timestamptz', default: () => 'now()' })
  createdAt!: Date;
}

export type CallbackEventKind = 'sent' | 'delivered' | 'clicked' | 'dismissed';

/** The outbox of JPush `callback` events, drained by the callbacks worker. */
@Entity({ name: 'callback_events' })
@Index('callback_events_due_idx', ['nextAttemptAt', 'id'])
export class CallbackEventEntity {
  @PrimaryGeneratedColumn('identity', { type: 'bigint', generatedIdentity: 'ALWAYS' })
  id!: string;

  @Column({ name: 'app_id', type: 'uuid' })
  appId!: string;

  @Column({ name: 'message_id', type: 'bigint' })
  messageId!: string;

  @Column({ name: 'device_id', type: 'bigint' })
  deviceId!: string;

  @Column({ name: 'registration_id', type: 'text' })
  registrationId!: string;

  @Column({ type: 'text' })
  event!: CallbackEventKind;

  @Column({ name: 'occurred_at', type: 'timestamptz' })
  occurredAt!: Date;

  @Column({ type: 'integer', default: 0 })
  attempts!: number;

  @Column({ name: 'next_attempt_at', type: 'timestamptz', default: () => 'now()' })
  nextAttemptAt!: Date;

  @Column({ name: 'last_error', type: 'text', nullable: true })
  lastError!: string | null;

  @CreateDateColumn({ name: 'created_at', type: 'timestamptz', default: () => 'now()' })
  createdAt!: Date;
}

/** The outbox of per-app `token.invalidated` webhooks. */
@Entity({ name: 'webhook_events' })
export class WebhookEventEntity {
  @PrimaryGeneratedColumn('identity', { type: 'bigint', generatedIdentity: 'ALWAYS' })
  id!: string;

  @Column({ name: 'app_id', type: 'uuid' })
  appId!: string;

  @Column({ type: 'text' })
  event!: 'token.invalidated';

  @Column({ name: 'feedback_event_id', type: 'bigint' })
  feedbackEventId!: string;

  @Column({ type: 'integer', default: 0 })
  attempts!: number;

  @Column({ name: 'next_attempt_at', type: 'timestamptz', default: () => 'now()' })
  nextAttemptAt!: Date;

  @Column({ name: 'last_error', type: 'text', nullable: true })
  lastError!: string | null;

  @Column({ name: 'failed_at', type: 'timestamptz', nullable: true })
  failedAt!: Date | null;

  @CreateDateColumn({ name: 'created_at', type: 'timestamptz', default: () => 'now()' })
  createdAt!: Date;
}
