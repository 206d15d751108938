import { Column, CreateDateColumn, Entity, Index, PrimaryColumn, PrimaryGeneratedColumn } from 'typeorm';
import type { DeviceChannel } from './device.entity';

export type MessageSource = 'push' | 'batch' | 'schedule' | 'campaign' | 'test';
export type MessageStatus = 'accepted' | 'planning' | 'sending' | 'completed' | 'cancelled' | 'failed';

/** A push as accepted. `id` is the JPush `msg_id`: a bigint below 2^53, a decimal string in JS. */
@Entity({ name: 'messages' })
@Index('messages_app_created_idx', { synchronize: false })
@Index('messages_unfinished_idx', { synchronize: false })
@Index('messages_schedule_idx', { synchronize: false })
export class MessageEntity {
  @PrimaryGeneratedColumn('identity', { type: 'bigint', generatedIdentity: 'ALWAYS' })
  id!: string;

  @Column({ name: 'app_id', type: 'uuid' })
  appId!: string;

  @Column({ type: 'text', default: '0' })
  sendno!: string;

  @Column({ type: 'text', default: 'push' })
  source!: MessageSource;

  @Column({ type: 'text', default: 'accepted' })
  status!: MessageStatus;

  @Column({ type: 'text', nullable: true })
  cid!: string | null;

  /** The validated request as received, so a reconciler can re-plan it after Redis loses its data. */
  @Column({ type: 'jsonb' })
  request!: Record<string, unknown>;

  @Column({ type: 'jsonb' })
  audience!: Record<string, unknown> | string;

  @Column({ type: 'text', array: true })
  platforms!: string[];

  @Column({ name: 'time_to_live', type: 'integer', default: 86400 })
  timeToLive!: number;

  @Column({ name: 'override_message_id', type: 'bigint', nullable: true })
  overrideMessageId!: string | null;

  @Column({ name: 'schedule_id', type: 'uuid', nullable: true })
  scheduleId!: string | null;

  @Column({ name: 'correlation_id', type: 'text', nullable: true })
  correlationId!: string | null;

  @Column({ name: 'shards_total', type: 'integer', nullable: true })
  shardsTotal!: number | null;

  @Column({ name: 'shards_done', type: 'integer', default: 0 })
  shardsDone!: number;

  @Column({ type: 'text', nullable: true })
  error!: string | null;

  @CreateDateColumn({ name: 'created_at', type: 'timestamptz', default: () => 'now()' })
  createdAt!: Date;

  @Column({ name: 'started_at', type: 'timestamptz', nullable: true })
  startedAt!: Date | null;

  @Column({ name: 'completed_at', type: 'timestamptz', nullable: true })
  completedAt!: Date | null;

  @Column({ name: 'cancelled_at', type: 'timestamptz', nullable: true })
  cancelledAt!: Date | null;

  @Column({ name: 'expires_at', type: 'timestamptz', nullable: true })
  expiresAt!: Date | null;
}

export type ShardStatus = 'pending' | 'running' | 'done' | 'cancelled';

@Entity({ name: 'message_shards' })
export class MessageShardEntity {
  @PrimaryColumn({ name: 'message_id', type: 'bigint' })
  messageId!: string;

  @PrimaryColumn({ name: 'shard_no', type: 'integer' })
  shardNo!: number;

  @Column({ name: 'from_device_id', type: 'bigint' })
  fromDeviceId!: string;

  @Column({ name: 'to_device_id', type: 'bigint' })
  toDeviceId!: string;

  @Column({ type: 'text', default: 'pending' })
  status!: ShardStatus;

  @Column({ type: 'integer', default: 0 })
  attempts!: number;

  @Column({ name: 'completed_at', type: 'timestamptz', nullable: true })
  completedAt!: Date | null;
}

@Entity({ name: 'message_counters' })
export class MessageCounterEntity {
  @PrimaryColumn({ name: 'message_id', type: 'bigint' })
  messageId!: string;

  @PrimaryColumn({ type: 'text' })
  channel!: DeviceChannel;

  @Column({ type: 'bigint', default: 0 })
  targets!: string;

  @Column({ type: 'bigint', default: 0 })
  sent!: string;

  @Column({ type: 'bigint', default: 0 })
  failed!: string;

  @Column({ type: 'bigint', default: 0 })
  delivered!: string;

  @Column({ type: 'bigint', default: 0 })
  clicked!: string;

  @Column({ type: 'bigint', default: 0 })
  dismissed!: string;
}

@Entity({ name: 'message_failures' })
export class MessageFailureEntity {
  @PrimaryColumn({ name: 'message_id', type: 'bigint' })
  messageId!: string;

  @PrimaryColumn({ type: 'text' })
  channel!: DeviceChannel;

  @PrimaryColumn({ type: 'text' })
  reason!: string;

  @Column({ type: 'bigint', default: 0 })
  count!: string;
}

export type DeliveryState =
  'pending' | 'sent' | 'retrying' | 'failed' | 'invalid_token' | 'delivered' | 'expired' | 'recalled';

/** The per-device delivery ledger: one row per (message, device), owned by exactly one shard. */
@Entity({ name: 'deliveries' })
@Index('deliveries_device_idx', { synchronize: false })
export class DeliveryEntity {
  @PrimaryColumn({ name: 'message_id', type: 'bigint' })
  messageId!: string;

  @PrimaryColumn({ name: 'device_id', type: 'bigint' })
  deviceId!: string;

  @Column({ name: 'app_id', type: 'uuid' })
  appId!: string;

  @Column({ type: 'text' })
  channel!: DeviceChannel;

  @Column({ type: 'text' })
  state!: DeliveryState;

  @Column({ type: 'text', nullable: true })
  reason!: string | null;

  @Column({ name: 'provider_message_id', type: 'text', nullable: true })
  providerMessageId!: string | null;

  @Column({ name: 'provider_status', type: 'integer', nullable: true })
  providerStatus!: number | null;

  @Column({ type: 'integer', default: 0 })
  attempts!: number;

  @Column({ name: 'sent_at', type: 'timestamptz', nullable: true })
  sentAt!: Date | null;

  @Column({ name: 'delivered_at', type: 'timestamptz', nullable: true })
  deliveredAt!: Date | null;

  @Column({ name: 'clicked_at', type: 'timestamptz', nullable: true })
  clickedAt!: Date | null;

  @Column({ name: 'dismissed_at', type: 'timestamptz', nullable: true })
  dismissedAt!: Date | null;

  @CreateDateColumn({ name: 'created_at', type: 'timestamptz', default: () => 'now()' })
  createdAt!: Date;

  @Column({ name: 'updated_at', type: 'timestamptz', default: () => 'now()' })
  updatedAt!: Date;
}
