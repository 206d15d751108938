import { Column, CreateDateColumn, Entity, Index, PrimaryColumn, UpdateDateColumn } from 'typeorm';

@Entity({ name: 'segments' })
@Index('segments_name_key', ['appId', 'name'], { unique: true })
export class SegmentEntity {
  @PrimaryColumn({ type: 'uuid', default: () => 'gen_random_uuid()' })
  id!: string;

  @Column({ name: 'app_id', type: 'uuid' })
  appId!: string;

  @Column({ type: 'text' })
  name!: string;

  /** An `audience.filter` tree (api.md §1). */
  @Column({ type: 'jsonb' })
  filter!: Record<string, unknown>;

  @CreateDateColumn({ name: 'created_at', type: 'timestamptz', default: () => 'now()' })
  createdAt!: Date;

  @UpdateDateColumn({ name: 'updated_at', type: 'timestamptz', default: () => 'now()' })
  updatedAt!: Date;
}

/** The lifecycle; pausing is `enabled = false` (JPush's field), not a status. */
export type ScheduleStatus = 'active' | 'cancelled' | 'finished';

/** The source of truth for schedules; BullMQ job schedulers are derived from these rows. */
@Entity({ name: 'schedules' })
@Index('schedules_app_idx', { synchronize: false })
@Index('schedules_due_idx', { synchronize: false })
@Index('schedules_paused_due_idx', { synchronize: false })
export class ScheduleEntity {
  @PrimaryColumn({ type: 'uuid', default: () => 'gen_random_uuid()' })
  id!: string;

  @Column({ name: 'app_id', type: 'uuid' })
  appId!: string;

  @Column({ type: 'text' })
  name!: string;

  @Column({ type: 'boolean', default: true })
  enabled!: boolean;

  @Column({ type: 'text', default: 'active' })
  status!: ScheduleStatus;

  @Column({ type: 'jsonb' })
  trigger!: Record<string, unknown>;

  @Column({ type: 'jsonb' })
  push!: Record<string, unknown>;

  /** The validated push a fire sends (`push` is the request as written, shown by GET). */
  @Column({ type: 'jsonb' })
  spec!: Record<string, unknown>;

  /** Wall clock (`YYYY-MM-DD HH:MM:SS`) of the pending trigger time; null once finished. */
  @Column({ type: 'text', nullable: true })
  occurrence!: string | null;

  /** Last created, resumed or changed: local-time groups due before it are not sent late. */
  @Column({ name: 'active_from', type: 'timestamptz', default: () => 'now()' })
  activeFrom!: Date;

  @Column({ name: 'local_time', type: 'boolean', default: false })
  localTime!: boolean;

  @Column({ type: 'text', default: 'UTC' })
  timezone!: string;

  @Column({ type: 'text', nullable: true })
  cid!: string | null;

  @Column({ name: 'next_fire_at', type: 'timestamptz', nullable: true })
  nextFireAt!: Date | null;

  @Column({ name: 'last_fire_at', type: 'timestamptz', nullable: true })
  lastFireAt!: Date | null;

  @CreateDateColumn({ name: 'created_at', type: 'timestamptz', default: () => 'now()' })
  createdAt!: Date;

  @UpdateDateColumn({ name: 'updated_at', type: 'timestamptz', default: () => 'now()' })
  updatedAt!: Date;
}

@Entity({ name: 'schedule_fires' })
export class ScheduleFireEntity {
  @PrimaryColumn({ name: 'schedule_id', type: 'uuid' })
  scheduleId!: string;

  @PrimaryColumn({ name: 'fire_at', type: 'timestamptz' })
  fireAt!: Date;

  @PrimaryColumn({ name: 'utc_offset_minutes', type: 'integer', default: 0 })
  utcOffsetMinutes!: number;

  @Column({ name: 'message_id', type: 'bigint', nullable: true })
  messageId!: string | null;

  @CreateDateColumn({ name: 'created_at', type: 'timestamptz', default: () => 'now()' })
  createdAt!: Date;
}
