import { Column, CreateDateColumn, Entity, Index, PrimaryColumn } from 'typeorm';
import type { MemberRole } from './tenant.entity';

/** An open, accepted or revoked invitation to join a tenant (migration 1763880000000). */
@Entity({ name: 'invitations' })
@Index('invitations_token_key', ['tokenHash'], { unique: true })
@Index('invitations_open_key', { synchronize: false })
@Index('invitations_tenant_idx', { synchronize: false })
export class InvitationEntity {
  @PrimaryColumn({ type: 'uuid', default: () => 'gen_random_uuid()' })
  id!: string;

  @Column({ name: 'tenant_id', type: 'uuid' })
  tenantId!: string;

  @Column({ type: 'text' })
  email!: string;

  @Column({ type: 'text' })
  role!: MemberRole;

  /** Keyed hash (`SecretHasher`) of the one-time token; the token itself is shown once. */
  @Column({ name: 'token_hash', type: 'text' })
  tokenHash!: string;

  @Column({ name: 'invited_by', type: 'uuid', nullable: true })
  invitedBy!: string | null;

  @Column({ name: 'expires_at', type: 'timestamptz' })
  expiresAt!: Date;

  @Column({ name: 'accepted_at', type: 'timestamptz', nullable: true })
  acceptedAt!: Date | null;

  @Column({ name: 'accepted_by', type: 'uuid', nullable: true })
  acceptedBy!: string | null;

  @Column({ name: 'revoked_at', type: 'timestamptz', nullable: true })
  revokedAt!: Date | null;

  @CreateDateColumn({ name: 'created_at', type: 'timestamptz', default: () => 'now()' })
  createdAt!: Date;
}
