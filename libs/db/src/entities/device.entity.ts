import { Column, CreateDateColumn, Entity, Index, PrimaryGeneratedColumn, UpdateDateColumn } from 'typeorm';

export type DeviceChannel = 'apns' | 'fcm' | 'gateway';
export type DeviceStatus = 'active' | 'quarantined' | 'invalid';
export type ApnsEnvironment = 'sandbox' | 'production';

/**
 * A device of one app; `registration_id` is unique across all apps. `id` is a bigint (a string in JS) so audience scans can page by keyset ranges.
 * Partial and GIN indexes are declared in the migration only (`synchronize: false`).
 */
@Entity({ name: 'devices' })
@Index('devices_rid_key', ['registrationId'], { unique: true })
@Index('devices_token_key', { synchronize: false })
@Index('devices_alias_idx', { synchronize: false })
@Index('devices_tags_idx', { synchronize: false })
@Index('devices_active_scan_idx', { synchronize: false })
@Index('devices_active_channel_scan_idx', { synchronize: false })
@Index('devices_language_idx', { synchronize: false })
@Index('devices_status_idx', { synchronize: false })
@Index('devices_app_version_idx', { synchronize: false })
@Index('devices_segment_idx', { synchronize: false })
export class DeviceEntity {
  @PrimaryGeneratedColumn('identity', { type: 'bigint', generatedIdentity: 'ALWAYS' })
  id!: string;

  @Column({ name: 'app_id', type: 'uuid' })
  appId!: string;

  @Column({ name: 'registration_id', type: 'text' })
  registrationId!: string;

  @Column({ name: 'device_secret_hash', type: 'text' })
  deviceSecretHash!: string;

  @Column({ type: 'text' })
  platform!: string;

  @Column({ type: 'text' })
  channel!: DeviceChannel;

  @Column({ type: 'text', nullable: true })
  token!: string | null;

  @Column({ name: 'apns_environment', type: 'text', nullable: true })
  apnsEnvironment!: ApnsEnvironment | null;

  @Column({ type: 'text', nullable: true })
  alias!: string | null;

  @Column({ type: 'text', array: true, default: () => "'{}'" })
  tags!: string[];

  /** BCP 47 tag, lower-cased (`zh-hans-cn`). */
  @Column({ type: 'text', nullable: true })
  language!: string | null;

  /** ISO 3166-1 alpha-2, upper-case. */
  @Column({ type: 'text', nullable: true })
  country!: string | null;

  @Column({ type: 'text', nullable: true })
  province!: string | null;

  @Column({ type: 'text', nullable: true })
  city!: string | null;

  @Column({ type: 'text', nullable: true })
  timezone!: string | null;

  @Column({ name: 'app_version', type: 'text', nullable: true })
  appVersion!: string | null;

  /** `app_version` in a form that sorts as a semantic version (`appVersionKey` in @herald/audience). */
  @Column({ name: 'app_version_key', type: 'text', nullable: true })
  appVersionKey!: string | null;

  @Column({ name: 'os_version', type: 'text', nullable: true })
  osVersion!: string | null;

  @Column({ name: 'device_model', type: 'text', nullable: true })
  deviceModel!: string | null;

  @Column({ type: 'text', nullable: true })
  mobile!: string | null;

  @Column({ type: 'integer', default: 0 })
  badge!: number;

  @Column({ type: 'text', default: 'active' })
  status!: DeviceStatus;

  @Column({ name: 'status_reason', type: 'text', nullable: true })
  statusReason!: string | null;

  @Column({ name: 'status_changed_at', type: 'timestamptz', nullable: true })
  statusChangedAt!: Date | null;

  @Column({ name: 'token_updated_at', type: 'timestamptz', nullable: true })
  tokenUpdatedAt!: Date | null;

  @Column({ name: 'last_seen_at', type: 'timestamptz', nullable: true })
  lastSeenAt!: Date | null;

  /** The last heartbeat interval (seconds) that held on this device's network; proposed in `welcome`. */
  @Column({ name: 'stable_heartbeat', type: 'integer', nullable: true })
  stableHeartbeat!: number | null;

  @CreateDateColumn({ name: 'created_at', type: 'timestamptz', default: () => 'now()' })
  createdAt!: Date;

  @UpdateDateColumn({ name: 'updated_at', type: 'timestamptz', default: () => 'now()' })
  updatedAt!: Date;
}
