import { Column, CreateDateColumn, Entity, Index, PrimaryColumn, UpdateDateColumn } from 'typeorm';

/**
 * A campaign: a name over a schedule (which holds the push template and the trigger). Its state is the
 * schedule's — paused is `enabled = false`, cancelled and finished are the schedule's status — so it
 * is never stated twice. Created through the dashboard; hidden from `/v3/schedules`.
 */
@Entity({ name: 'campaigns' })
@Index('campaigns_schedule_key', ['scheduleId'], { unique: true })
@Index('campaigns_app_idx', { synchronize: false })
export class CampaignEntity {
  @PrimaryColumn({ type: 'uuid', default: () => 'gen_random_uuid()' })
  id!: string;

  @Column({ name: 'app_id', type: 'uuid' })
  appId!: string;

  @Column({ name: 'schedule_id', type: 'uuid' })
  scheduleId!: string;

  @Column({ type: 'text' })
  name!: string;

  @Column({ name: 'created_by', type: 'uuid', nullable: true })
  createdBy!: string | null;

  @CreateDateColumn({ name: 'created_at', type: 'timestamptz', default: () => 'now()' })
  createdAt!: Date;

  @UpdateDateColumn({ name: 'updated_at', type: 'timestamptz', default: () => 'now()' })
  updatedAt!: Date;
}
