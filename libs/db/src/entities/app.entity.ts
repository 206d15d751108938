import { Column, CreateDateColumn, Entity, Index, PrimaryColumn, UpdateDateColumn } from 'typeorm';

@Entity({ name: 'apps' })
@Index('apps_app_key_key', ['appKey'], { unique: true })
@Index('apps_tenant_idx', ['tenantId'])
export class AppEntity {
  @PrimaryColumn({ type: 'uuid', default: () => 'gen_random_uuid()' })
  id!: string;

  @Column({ name: 'tenant_id', type: 'uuid' })
  tenantId!: string;

  @Column({ type: 'text' })
  name!: string;

  @Column({ name: 'app_key', type: 'text' })
  appKey!: string;

  /** Keyed hash (see `SecretHasher`); the secret itself is shown once and never stored. */
  @Column({ name: 'master_secret_hash', type: 'text' })
  masterSecretHash!: string;

  /** The secret before the last rotation, accepted until `previousSecretExpiresAt`. */
  @Column({ name: 'previous_secret_hash', type: 'text', nullable: true })
  previousSecretHash!: string | null;

  @Column({ name: 'previous_secret_expires_at', type: 'timestamptz', nullable: true })
  previousSecretExpiresAt!: Date | null;

  @Column({ type: 'text', default: 'UTC' })
  timezone!: string;

  /** Where `token.invalidated` webhooks go (token hygiene); null: none. */
  @Column({ name: 'webhook_url', type: 'text', nullable: true })
  webhookUrl!: string | null;

  /** The webhook signing secret, envelope-encrypted (AAD `app_webhook:<appId>`). */
  @Column({ name: 'webhook_secret', type: 'text', nullable: true })
  webhookSecret!: string | null;

  @Column({ name: 'rate_limit_per_minute', type: 'integer', default: 600 })
  rateLimitPerMinute!: number;

  @CreateDateColumn({ name: 'created_at', type: 'timestamptz', default: () => 'now()' })
  createdAt!: Date;

  @UpdateDateColumn({ name: 'updated_at', type: 'timestamptz', default: () => 'now()' })
  updatedAt!: Date;
}

export type CredentialProvider = 'apns' | 'fcm';
export type CredentialAuthType = 'token' | 'certificate' | 'service_account';
export type CredentialEnvironment = 'sandbox' | 'production' | 'both';

@Entity({ name: 'app_credentials' })
@Index('app_credentials_slot_key', ['appId', 'provider', 'environment'], { unique: true })
export class AppCredentialEntity {
  @PrimaryColumn({ type: 'uuid', default: () => 'gen_random_uuid()' })
  id!: string;

  @Column({ name: 'app_id', type: 'uuid' })
  appId!: string;

  @Column({ type: 'text' })
  provider!: CredentialProvider;

  @Column({ name: 'auth_type', type: 'text' })
  authType!: CredentialAuthType;

  @Column({ type: 'text' })
  environment!: CredentialEnvironment;

  /**
   * An `EnvelopeCipher` envelope (AES-256-GCM, master key id inside). Its AAD binds it to this credential
   * slot (app id, provider, environment), so a ciphertext copied to another slot does not decrypt.
   */
  @Column({ name: 'encrypted_payload', type: 'text' })
  encryptedPayload!: string;

  /** Apple's key id of a `.p8` token key (not Herald's master key id). */
  @Column({ name: 'apns_key_id', type: 'text', nullable: true })
  apnsKeyId!: string | null;

  @Column({ name: 'team_id', type: 'text', nullable: true })
  teamId!: string | null;

  @Column({ name: 'bundle_id', type: 'text', nullable: true })
  bundleId!: string | null;

  @Column({ name: 'project_id', type: 'text', nullable: true })
  projectId!: string | null;

  @Column({ name: 'certificate_expires_at', type: 'timestamptz', nullable: true })
  certificateExpiresAt!: Date | null;

  @Column({ type: 'text', nullable: true })
  fingerprint!: string | null;

  @Column({ name: 'validated_at', type: 'timestamptz', nullable: true })
  validatedAt!: Date | null;

  @CreateDateColumn({ name: 'created_at', type: 'timestamptz', default: () => 'now()' })
  createdAt!: Date;

  @UpdateDateColumn({ name: 'updated_at', type: 'timestamptz', default: () => 'now()' })
  updatedAt!: Date;
}
