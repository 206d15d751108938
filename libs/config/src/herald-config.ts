import { hostname } from 'node:os';
import { z } from 'zod';
import { envSchema } from './config.schema';

export interface MasterKey {
  id: string;
  key: Buffer;
}

export interface HeraldConfig {
  env: 'development' | 'test' | 'production';
  database: { url: string; poolSize: number };
  /**
   * `clusterNodes`: Redis Cluster seed nodes (`REDIS_CLUSTER_NODES`); when set, every connection is an
   * ioredis Cluster and `url` only supplies credentials and TLS (`rediss:`).
   */
  redis: { url: string; queuePrefix: string; clusterNodes?: { host: string; port: number }[] };
  api: { host: string; port: number; publicUrl: string };
  gateway: {
    host: string;
    port: number;
    publicUrl: string;
    /** Names this node in Redis routing; unique among running nodes. */
    nodeId: string;
    inboxMax: number;
    maxFrameBytes: number;
    presenceTtlSeconds: number;
    minHeartbeatSeconds: number;
    idleGraceSeconds: number;
    helloTimeoutMs: number;
    slowBytes: number;
    slowGraceMs: number;
    authCacheTtlMs: number;
  };
  crypto: { current: MasterKey; previous: MasterKey[] };
  /** `extraCaFile`: NODE_EXTRA_CA_CERTS, also handed to the provider clients (fakes, TLS proxies). */
  providers: { apnsEndpoint?: string; fcmEndpoint?: string; extraCaFile?: string };
  sdk: {
    registerPerMinute: number;
    registerPerAppPerMinute: number;
    /** Authenticated SDK requests (update, tags, alias, receipts) per device per minute. */
    devicePerMinute: number;
  };
  /**
   * Dashboard sign-in attempts (signup, login, refresh, accept-invite) per client address per minute,
   * and password attempts (signup, login, accept-invite) per e-mail address per minute.
   */
  dashboard: { authPerMinute: number; authPerEmailPerMinute: number };
  /** Proxies whose `X-Forwarded-For` is trusted for the client address (GeoIP, rate limits). */
  trustedProxies: string[];
  /**
   * Private or reserved addresses (IPs and CIDR ranges) that tenants' callback and webhook URLs may
   * reach anyway: for self-hosted setups whose endpoints are internal. Public addresses always can.
   */
  outboundAllow: string[];
  /**
   * `lockMs`: a job's lock; a worker that dies (SIGKILL, OOM) loses its jobs to another worker after
   * about this long — BullMQ's stalled-job check runs at the same interval.
   */
  worker: { concurrency: number; lockMs: number; metricsPort: number };
  /** Token hygiene: quarantined devices turn invalid after `quarantineDays`; invalid ones are purged after `invalidRetentionDays`. */
  feedback: { quarantineDays: number; invalidRetentionDays: number };
  push: {
    /** Push jobs (plans, shards, recalls) a worker process runs at once. */
    concurrency: number;
    /**
     * Shards of multi-shard messages sending at once per process; single-shard (unicast) jobs never
     * wait for them. Two keep both cores busy: the provider clients already hold up to 1,000 requests
     * in flight each, and more shards at once only add pages to collect (1M devices, one worker:
     * 2 at once → 94 s and 384 MB, 8 → 114 s and 441 MB).
     */
    shardParallelism: number;
    /** Token-hygiene jobs a worker process runs at once (mostly PostgreSQL work). */
    feedbackConcurrency: number;
    /** Devices per shard: the unit of parallelism, redelivery and progress. */
    shardSize: number;
    /** Sends of a token after a transient failure, beyond the first. */
    retryAttempts: number;
    reconcileIntervalMs: number;
    /** A message younger than this is left to the API's own enqueue. */
    reconcileGraceMs: number;
  };
  shutdownTimeoutMs: number;
  logLevel: 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace' | 'silent';
}

export class ConfigError extends Error {
  constructor(readonly issues: { key: string; message: string }[]) {
    super(`Invalid configuration: ${issues.map((i) => `${i.key} ${i.message}`).join('; ')}`);
    this.name = 'ConfigError';
  }
}

type Env = Record<string, string | undefined>;

/** Blank values count as unset, so `FOO=` in a shell or a compose file falls back to the default. */
function withoutBlanks(env: Env): Env {
  const out: Env = {};
  for (const [k, v] of Object.entries(env)) if (v !== undefined && v.trim() !== '') out[k] = v;
  return out;
}

export function loadConfig(env: Env): HeraldConfig {
  const parsed = envSchema.safeParse(withoutBlanks(env));
  if (!parsed.success) {
    throw new ConfigError(
      parsed.error.issues.map((issue: z.core.$ZodIssue) => ({
        key: issue.path.map(String).join('.') || '(environment)',
        message: issue.message,
      })),
    );
  }
  const e = parsed.data;
  return {
    env: e.NODE_ENV,
    database: { url: e.DATABASE_URL, poolSize: e.HERALD_DB_POOL_SIZE },
    redis: {
      url: e.REDIS_URL,
      queuePrefix: e.HERALD_QUEUE_PREFIX,
      ...(e.REDIS_CLUSTER_NODES && { clusterNodes: e.REDIS_CLUSTER_NODES }),
    },
    api: {
      host: e.HERALD_BIND_HOST,
      port: e.HERALD_API_PORT,
      publicUrl: (e.HERALD_PUBLIC_URL ?? `http://127.0.0.1:${e.HERALD_API_PORT}`).replace(/\/$/, ''),
    },
    gateway: {
      host: e.HERALD_BIND_HOST,
      port: e.HERALD_GATEWAY_PORT,
      publicUrl: e.HERALD_GATEWAY_PUBLIC_URL ?? `ws://127.0.0.1:${e.HERALD_GATEWAY_PORT}/v1/connect`,
      nodeId:
        e.HERALD_GATEWAY_NODE_ID ??
        `${hostname()
          .replace(/[^A-Za-z0-9_.-]/g, '_')
          .slice(0, 48)}-${process.pid}`,
      inboxMax: e.HERALD_GATEWAY_INBOX_MAX,
      maxFrameBytes: e.HERALD_GATEWAY_MAX_FRAME_BYTES,
      presenceTtlSeconds: e.HERALD_GATEWAY_PRESENCE_TTL_SECONDS,
      minHeartbeatSeconds: e.HERALD_GATEWAY_MIN_HEARTBEAT_SECONDS,
      idleGraceSeconds: e.HERALD_GATEWAY_IDLE_GRACE_SECONDS,
      helloTimeoutMs: e.HERALD_GATEWAY_HELLO_TIMEOUT_MS,
      slowBytes: e.HERALD_GATEWAY_SLOW_BYTES,
      slowGraceMs: e.HERALD_GATEWAY_SLOW_GRACE_MS,
      authCacheTtlMs: e.HERALD_GATEWAY_AUTH_CACHE_TTL_MS,
    },
    crypto: {
      current: { id: e.HERALD_MASTER_KEY_ID, key: Buffer.from(e.HERALD_MASTER_KEY, 'base64') },
      previous: e.HERALD_PREVIOUS_MASTER_KEYS.map((k) => ({ id: k.id, key: Buffer.from(k.key, 'base64') })),
    },
    providers: {
      apnsEndpoint: e.HERALD_APNS_ENDPOINT,
      fcmEndpoint: e.HERALD_FCM_ENDPOINT,
      extraCaFile: e.NODE_EXTRA_CA_CERTS,
    },
    sdk: {
      registerPerMinute: e.HERALD_SDK_REGISTER_PER_MINUTE,
      registerPerAppPerMinute: e.HERALD_SDK_REGISTER_PER_APP_PER_MINUTE,
      devicePerMinute: e.HERALD_SDK_DEVICE_PER_MINUTE,
    },
    dashboard: {
      authPerMinute: e.HERALD_DASHBOARD_AUTH_PER_MINUTE,
      authPerEmailPerMinute: e.HERALD_DASHBOARD_AUTH_PER_EMAIL_PER_MINUTE,
    },
    trustedProxies: e.HERALD_TRUSTED_PROXIES,
    outboundAllow: e.HERALD_OUTBOUND_ALLOW,
    worker: {
      concurrency: e.HERALD_WORKER_CONCURRENCY,
      lockMs: e.HERALD_JOB_LOCK_MS,
      metricsPort: e.HERALD_WORKER_METRICS_PORT,
    },
    feedback: {
      quarantineDays: e.HERALD_QUARANTINE_DAYS,
      invalidRetentionDays: e.HERALD_INVALID_RETENTION_DAYS,
    },
    push: {
      concurrency: e.HERALD_PUSH_CONCURRENCY,
      feedbackConcurrency: e.HERALD_FEEDBACK_CONCURRENCY,
      shardParallelism: e.HERALD_SHARD_PARALLELISM,
      shardSize: e.HERALD_SHARD_SIZE,
      retryAttempts: e.HERALD_PUSH_RETRY_ATTEMPTS,
      reconcileIntervalMs: e.HERALD_RECONCILE_INTERVAL_MS,
      reconcileGraceMs: e.HERALD_RECONCILE_GRACE_MS,
    },
    shutdownTimeoutMs: e.HERALD_SHUTDOWN_TIMEOUT_MS,
    logLevel: e.HERALD_LOG_LEVEL,
  };
}

function redactUrl(url: string): string {
  try {
    const u = new URL(url);
    if (u.password) u.password = '***';
    return u.toString();
  } catch {
    return '***';
  }
}

/** A copy safe to log: no key material, no passwords in URLs. */
export function redactConfig(config: HeraldConfig): Record<string, unknown> {
  return {
    ...config,
    database: { ...config.database, url: redactUrl(config.database.url) },
    redis: { ...config.redis, url: redactUrl(config.redis.url) },
    crypto: {
      current: { id: config.crypto.current.id, key: '***' },
      previous: config.crypto.previous.map((k) => ({ id: k.id, key: '***' })),
    },
  };
}

/**
 * The one place Herald reads `process.env`. `defaults` fill keys the environment leaves unset (tests
 * supply a throwaway master key this way); `overrides` win over the environment.
 */
export function configFromProcessEnv(defaults: Env = {}, overrides: Env = {}): HeraldConfig {
  return loadConfig({ ...defaults, ...withoutBlanks(process.env), ...overrides });
}
