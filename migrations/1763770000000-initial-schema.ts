import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * The first schema. Forward-only: later changes come as new migrations, never edits to this one.
 * Storage is UTC (`timestamptz`); ids that leave the system as JPush numbers (`msg_id`) are bigint
 * identities below 2^53; devices use bigint ids so audiences can be scanned in keyset ranges.
 */
export class InitialSchema1763770000000 implements MigrationInterface {
  name = 'InitialSchema1763770000000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`CREATE EXTENSION IF NOT EXISTS pgcrypto`);
    await q.query(`CREATE EXTENSION IF NOT EXISTS btree_gin`);

    await q.query(`
      CREATE TABLE tenants (
        id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
        name text NOT NULL,
        created_at timestamptz NOT NULL DEFAULT now(),
        updated_at timestamptz NOT NULL DEFAULT now()
      )`);

    await q.query(`
      CREATE TABLE users (
        id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
        email text NOT NULL,
        password_hash text NOT NULL,
        display_name text,
        disabled_at timestamptz,
        last_login_at timestamptz,
        created_at timestamptz NOT NULL DEFAULT now(),
        updated_at timestamptz NOT NULL DEFAULT now()
      )`);
    await q.query(`CREATE UNIQUE INDEX users_email_key ON users (lower(email))`);

    await q.query(`
      CREATE TABLE memberships (
        tenant_id uuid NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
        user_id uuid NOT NULL REFERENCES users(id) ON DELETE CASCADE,
        role text NOT NULL CHECK (role IN ('owner', 'admin', 'developer', 'viewer')),
        created_at timestamptz NOT NULL DEFAULT now(),
        PRIMARY KEY (tenant_id, user_id)
      )`);
    await q.query(`CREATE INDEX memberships_user_idx ON memberships (user_id)`);

    // Refresh tokens and personal API tokens: only a keyed hash of the token is kept.
    await q.query(`
      CREATE TABLE auth_tokens (
        id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
        kind text NOT NULL CHECK (kind IN ('refresh', 'personal')),
        user_id uuid NOT NULL REFERENCES users(id) ON DELETE CASCADE,
        tenant_id uuid REFERENCES tenants(id) ON DELETE CASCADE,
        token_hash text NOT NULL,
        name text,
        family_id uuid,
        expires_at timestamptz,
        revoked_at timestamptz,
        last_used_at timestamptz,
        created_at timestamptz NOT NULL DEFAULT now()
      )`);
    await q.query(`CREATE UNIQUE INDEX auth_tokens_hash_key ON auth_tokens (token_hash)`);
    await q.query(`CREATE INDEX auth_tokens_user_idx ON auth_tokens (user_id, kind)`);
    await q.query(
      `CREATE INDEX auth_tokens_family_idx ON auth_tokens (family_id) WHERE family_id IS NOT NULL`,
    );

    await q.query(`
      CREATE TABLE apps (
        id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
        tenant_id uuid NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
        name text NOT NULL,
        app_key text NOT NULL CHECK (app_key ~ '^[a-zA-Z0-9]{24}$'),
        master_secret_hash text NOT NULL,
        previous_secret_hash text,
        previous_secret_expires_at timestamptz,
        timezone text NOT NULL DEFAULT 'UTC',
        rate_limit_per_minute integer NOT NULL DEFAULT 600 CHECK (rate_limit_per_minute > 0),
        created_at timestamptz NOT NULL DEFAULT now(),
        updated_at timestamptz NOT NULL DEFAULT now()
      )`);
    await q.query(`CREATE UNIQUE INDEX apps_app_key_key ON apps (app_key)`);
    await q.query(`CREATE INDEX apps_tenant_idx ON apps (tenant_id)`);

    await q.query(`
      CREATE TABLE app_credentials (
        id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
        app_id uuid NOT NULL REFERENCES apps(id) ON DELETE CASCADE,
        provider text NOT NULL CHECK (provider IN ('apns', 'fcm')),
        auth_type text NOT NULL CHECK (auth_type IN ('token', 'certificate', 'service_account')),
        environment text NOT NULL CHECK (environment IN ('sandbox', 'production', 'both')),
        encrypted_payload text NOT NULL,
        apns_key_id text,
        team_id text,
        bundle_id text,
        project_id text,
        certificate_expires_at timestamptz,
        fingerprint text,
        validated_at timestamptz,
        created_at timestamptz NOT NULL DEFAULT now(),
        updated_at timestamptz NOT NULL DEFAULT now()
      )`);
    await q.query(
      `CREATE UNIQUE INDEX app_credentials_slot_key ON app_credentials (app_id, provider, environment)`,
    );

    await q.query(`
      CREATE TABLE devices (
        id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        app_id uuid NOT NULL REFERENCES apps(id) ON DELETE CASCADE,
        registration_id text NOT NULL,
        device_secret_hash text NOT NULL,
        platform text NOT NULL,
        channel text NOT NULL CHECK (channel IN ('apns', 'fcm', 'gateway')),
        token text,
        apns_environment text CHECK (apns_environment IN ('sandbox', 'production')),
        alias text,
        tags text[] NOT NULL DEFAULT '{}',
        -- BCP 47, lower-cased, so 'zh' matches 'zh-cn' with an index-backed prefix search.
        language text CHECK (language = lower(language)),
        country text CHECK (country ~ '^[A-Z]{2}$'),
        province text,
        city text,
        timezone text,
        app_version text,
        os_version text,
        device_model text,
        mobile text,
        badge integer NOT NULL DEFAULT 0,
        status text NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'quarantined', 'invalid')),
        status_reason text,
        status_changed_at timestamptz,
        token_updated_at timestamptz,
        last_seen_at timestamptz,
        stable_heartbeat integer CHECK (stable_heartbeat BETWEEN 30 AND 600),
        created_at timestamptz NOT NULL DEFAULT now(),
        updated_at timestamptz NOT NULL DEFAULT now()
      )`);
    // Globally unique: a device authenticates with `rid:secret` alone (SDK API, gateway), no app key.
    await q.query(`CREATE UNIQUE INDEX devices_rid_key ON devices (registration_id)`);
    await q.query(
      `CREATE UNIQUE INDEX devices_token_key ON devices (app_id, channel, token) WHERE token IS NOT NULL`,
    );
    await q.query(`CREATE INDEX devices_alias_idx ON devices (app_id, alias) WHERE alias IS NOT NULL`);
    // Tag containment scoped to an app: btree_gin lets the app id share the GIN index.
    await q.query(`CREATE INDEX devices_tags_idx ON devices USING gin (app_id, tags)`);
    // Keyset scans of an app's deliverable devices (audience shards) walk this index in id order.
    await q.query(`CREATE INDEX devices_active_scan_idx ON devices (app_id, id) WHERE status = 'active'`);
    // Platform-restricted pushes scan one channel's devices without walking the others.
    await q.query(
      `CREATE INDEX devices_active_channel_scan_idx ON devices (app_id, channel, id) WHERE status = 'active'`,
    );
    await q.query(
      `CREATE INDEX devices_language_idx ON devices (app_id, language text_pattern_ops) WHERE status = 'active'`,
    );
    await q.query(`CREATE INDEX devices_country_idx ON devices (app_id, country) WHERE status = 'active'`);
    await q.query(
      `CREATE INDEX devices_status_idx ON devices (status, status_changed_at) WHERE status <> 'active'`,
    );

    await q.query(`
      CREATE TABLE messages (
        id bigint GENERATED ALWAYS AS IDENTITY (START WITH 1000000001) PRIMARY KEY,
        app_id uuid NOT NULL REFERENCES apps(id) ON DELETE CASCADE,
        sendno text NOT NULL DEFAULT '0',
        source text NOT NULL DEFAULT 'push'
          CHECK (source IN ('push', 'batch', 'schedule', 'campaign', 'test')),
        status text NOT NULL DEFAULT 'accepted'
          CHECK (status IN ('accepted', 'planning', 'sending', 'completed', 'cancelled', 'failed')),
        cid text,
        request jsonb NOT NULL,
        audience jsonb NOT NULL,
        platforms text[] NOT NULL,
        time_to_live integer NOT NULL DEFAULT 86400,
        override_message_id bigint,
        schedule_id uuid,
        correlation_id text,
        shards_total integer,
        shards_done integer NOT NULL DEFAULT 0,
        error text,
        created_at timestamptz NOT NULL DEFAULT now(),
        started_at timestamptz,
        completed_at timestamptz,
        cancelled_at timestamptz,
        expires_at timestamptz,
        CHECK (id < 9007199254740992)
      )`);
    await q.query(`CREATE INDEX messages_app_created_idx ON messages (app_id, created_at DESC, id DESC)`);
    // The reconciler's work list: accepted but not finished.
    await q.query(
      `CREATE INDEX messages_unfinished_idx ON messages (created_at) WHERE status IN ('accepted', 'planning', 'sending')`,
    );
    await q.query(
      `CREATE INDEX messages_schedule_idx ON messages (schedule_id) WHERE schedule_id IS NOT NULL`,
    );

    // One row per shard: the durable record that a slice of the audience was fanned out.
    await q.query(`
      CREATE TABLE message_shards (
        message_id bigint NOT NULL REFERENCES messages(id) ON DELETE CASCADE,
        shard_no integer NOT NULL,
        from_device_id bigint NOT NULL,
        to_device_id bigint NOT NULL,
        status text NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'running', 'done', 'cancelled')),
        attempts integer NOT NULL DEFAULT 0,
        completed_at timestamptz,
        PRIMARY KEY (message_id, shard_no)
      )`);

    await q.query(`
      CREATE TABLE message_counters (
        message_id bigint NOT NULL REFERENCES messages(id) ON DELETE CASCADE,
        channel text NOT NULL CHECK (channel IN ('apns', 'fcm', 'gateway')),
        targets bigint NOT NULL DEFAULT 0,
        sent bigint NOT NULL DEFAULT 0,
        failed bigint NOT NULL DEFAULT 0,
        delivered bigint NOT NULL DEFAULT 0,
        clicked bigint NOT NULL DEFAULT 0,
        dismissed bigint NOT NULL DEFAULT 0,
        PRIMARY KEY (message_id, channel)
      )`);
    await q.query(`
      CREATE TABLE message_failures (
        message_id bigint NOT NULL REFERENCES messages(id) ON DELETE CASCADE,
        channel text NOT NULL CHECK (channel IN ('apns', 'fcm', 'gateway')),
        reason text NOT NULL,
        count bigint NOT NULL DEFAULT 0,
        PRIMARY KEY (message_id, channel, reason)
      )`);

    // The per-device ledger: for any message and device, what happened and why.
    await q.query(`
      CREATE TABLE deliveries (
        message_id bigint NOT NULL REFERENCES messages(id) ON DELETE CASCADE,
        device_id bigint NOT NULL,
        app_id uuid NOT NULL,
        channel text NOT NULL CHECK (channel IN ('apns', 'fcm', 'gateway')),
        state text NOT NULL CHECK (state IN
          ('pending', 'sent', 'retrying', 'failed', 'invalid_token', 'delivered', 'expired', 'recalled')),
        reason text,
        provider_message_id text,
        provider_status integer,
        attempts integer NOT NULL DEFAULT 0,
        sent_at timestamptz,
        delivered_at timestamptz,
        clicked_at timestamptz,
        dismissed_at timestamptz,
        created_at timestamptz NOT NULL DEFAULT now(),
        updated_at timestamptz NOT NULL DEFAULT now(),
        PRIMARY KEY (message_id, device_id)
      )`);
    await q.query(`CREATE INDEX deliveries_device_idx ON deliveries (device_id, created_at DESC)`);

    await q.query(`
      CREATE TABLE segments (
        id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
        app_id uuid NOT NULL REFERENCES apps(id) ON DELETE CASCADE,
        name text NOT NULL,
        filter jsonb NOT NULL,
        created_at timestamptz NOT NULL DEFAULT now(),
        updated_at timestamptz NOT NULL DEFAULT now()
      )`);
    await q.query(`CREATE UNIQUE INDEX segments_name_key ON segments (app_id, name)`);

    await q.query(`
      CREATE TABLE schedules (
        id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
        app_id uuid NOT NULL REFERENCES apps(id) ON DELETE CASCADE,
        name text NOT NULL,
        enabled boolean NOT NULL DEFAULT true,
        -- enabled is JPush's pause switch; status is the lifecycle, so paused is not stated twice.
        status text NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'cancelled', 'finished')),
        trigger jsonb NOT NULL,
        push jsonb NOT NULL,
        local_time boolean NOT NULL DEFAULT false,
        timezone text NOT NULL DEFAULT 'UTC',
        cid text,
        next_fire_at timestamptz,
        last_fire_at timestamptz,
        created_at timestamptz NOT NULL DEFAULT now(),
        updated_at timestamptz NOT NULL DEFAULT now()
      )`);
    await q.query(`CREATE INDEX schedules_app_idx ON schedules (app_id, created_at DESC)`);
    await q.query(
      `CREATE INDEX schedules_due_idx ON schedules (next_fire_at) WHERE enabled AND status = 'active'`,
    );
    // (schedule, fire time[, UTC offset group]) → exactly one message, whichever worker gets there first.
    await q.query(`
      CREATE TABLE schedule_fires (
        schedule_id uuid NOT NULL REFERENCES schedules(id) ON DELETE CASCADE,
        fire_at timestamptz NOT NULL,
        utc_offset_minutes integer NOT NULL DEFAULT 0,
        message_id bigint REFERENCES messages(id) ON DELETE SET NULL,
        created_at timestamptz NOT NULL DEFAULT now(),
        PRIMARY KEY (schedule_id, fire_at, utc_offset_minutes)
      )`);
    await q.query(
      `ALTER TABLE messages ADD CONSTRAINT messages_schedule_fk FOREIGN KEY (schedule_id) REFERENCES schedules(id) ON DELETE SET NULL`,
    );

    await q.query(`
      CREATE TABLE feedback_events (
        id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        app_id uuid NOT NULL REFERENCES apps(id) ON DELETE CASCADE,
        device_id bigint,
        registration_id text NOT NULL,
        channel text NOT NULL CHECK (channel IN ('apns', 'fcm', 'gateway')),
        token_hash text,
        token_suffix text,
        reason text NOT NULL,
        action text NOT NULL CHECK (action IN ('invalidated', 'quarantined', 'restored', 'ignored')),
        provider_timestamp timestamptz,
        message_id bigint,
        created_at timestamptz NOT NULL DEFAULT now()
      )`);
    await q.query(`CREATE INDEX feedback_events_app_idx ON feedback_events (app_id, created_at, id)`);

    // Request-level idempotency: JPush cids (issued, then used) and Herald's Idempotency-Key header.
    await q.query(`
      CREATE TABLE idempotency_records (
        app_id uuid NOT NULL REFERENCES apps(id) ON DELETE CASCADE,
        kind text NOT NULL CHECK (kind IN ('cid', 'key')),
        key text NOT NULL,
        request_hash text,
        status_code integer,
        response jsonb,
        message_id bigint,
        created_at timestamptz NOT NULL DEFAULT now(),
        expires_at timestamptz NOT NULL,
        PRIMARY KEY (app_id, kind, key)
      )`);
    await q.query(`CREATE INDEX idempotency_records_expiry_idx ON idempotency_records (expires_at)`);

    await q.query(`
      CREATE TABLE audit_log (
        id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        tenant_id uuid REFERENCES tenants(id) ON DELETE SET NULL,
        app_id uuid,
        actor_type text NOT NULL CHECK (actor_type IN ('user', 'api_token', 'app', 'device', 'system')),
        actor_id text,
        action text NOT NULL,
        target_type text,
        target_id text,
        source_ip inet,
        details jsonb NOT NULL DEFAULT '{}',
        created_at timestamptz NOT NULL DEFAULT now()
      )`);
    await q.query(`CREATE INDEX audit_log_tenant_idx ON audit_log (tenant_id, created_at DESC, id DESC)`);
  }

  async down(): Promise<void> {
    throw new Error('Herald migrations are forward-only; restore from a backup instead of migrating down');
  }
}
