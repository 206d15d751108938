import { isIP } from 'node:net';
import { z } from 'zod';

const wholeNumber = z.coerce
  .number({ error: 'must be a whole number' })
  .int({ error: 'must be a whole number' });
const port = wholeNumber
  .min(1, { error: 'must be a port (1-65535)' })
  .max(65535, { error: 'must be a port (1-65535)' });
const positiveInt = wholeNumber.positive({ error: 'must be a positive whole number' });
const optionalUrl = z
  .string()
  .trim()
  .transform((v) => (v === '' ? undefined : v))
  .pipe(z.url().optional())
  .optional();

const base64Key = z
  .string({ error: 'is required (base64 of 32 random bytes; `npm run up` generates a development key)' })
  .trim()
  .refine((v) => /^[A-Za-z0-9+/_-]+={0,2}$/.test(v) && Buffer.from(v, 'base64').length === 32, {
    error: 'must be base64 of exactly 32 bytes',
  });

const keyId = z.string().regex(/^[A-Za-z0-9_-]{1,32}$/, { error: 'must be 1-32 characters [A-Za-z0-9_-]' });

/** `id:base64,id:base64` — retired master keys still needed to decrypt and verify older data. */
const previousKeys = z
  .string()
  .trim()
  .transform((v, ctx) => {
    if (v === '') return [];
    const keys: { id: string; key: string }[] = [];
    for (const part of v.split(',')) {
      const [id, key, ...rest] = part.trim().split(':');
      if (
        !id ||
        !key ||
        rest.length > 0 ||
        !keyId.safeParse(id).success ||
        !base64Key.safeParse(key).success
      ) {
        ctx.addIssue({ code: 'custom', message: 'must be a comma-separated list of id:base64-32-byte-key' });
        return z.NEVER;
      }
      keys.push({ id, key });
    }
    return keys;
  });

/**
 * A comma-separated list of IP addresses and CIDR ranges: proxies whose `X-Forwarded-For` is believed
 * (Express's `trust proxy` list), private ranges tenants' URLs may reach.
 */
const ipRanges = z
  .string()
  .trim()
  .transform((v, ctx) => {
    const list = v === '' ? [] : v.split(',').map((p) => p.trim());
    const valid = (entry: string) => {
      const [address, prefix, ...rest] = entry.split('/');
      const family = isIP(address);
      const max = family === 4 ? 32 : 128;
      return (
        family !== 0 &&
        rest.length === 0 &&
        (prefix === undefined || (/^\d{1,3}$/.test(prefix) && Number(prefix) <= max))
      );
    };
    if (!list.every(valid)) {
      ctx.addIssue({
        code: 'custom',
        message: 'must be a comma-separated list of IP addresses or CIDR ranges',
      });
      return z.NEVER;
    }
    return list;
  });

const postgresUrl = z
  .string()
  .trim()
  .refine((v) => /^postgres(ql)?:\/\/.+/.test(v) && URL.canParse(v), { error: 'must be a postgres:// URL' });
const redisUrl = z
  .string()
  .trim()
  .refine((v) => /^rediss?:\/\/.+/.test(v) && URL.canParse(v), {
    error: 'must be a redis:// or rediss:// URL',
  });

/** `host:port,host:port` — seed nodes of a Redis Cluster; the client discovers the rest. */
const clusterNodes = z
  .string()
  .trim()
  .transform((v, ctx) => {
    const nodes: { host: string; port: number }[] = [];
    for (const part of v.split(',').map((p) => p.trim())) {
      const m = /^(\[[0-9a-fA-F:]+\]|[A-Za-z0-9._-]+):(\d{1,5})$/.exec(part);
      const port = m ? Number(m[2]) : 0;
      if (!m || port < 1 || port > 65535) {
        ctx.addIssue({ code: 'custom', message: 'must be a comma-separated list of host:port' });
        return z.NEVER;
      }
      nodes.push({ host: m[1].replace(/^\[|\]$/g, ''), port });
    }
    return nodes;
  });

/**
 * The environment contract. Every key here is documented in the README's configuration table;
 * `api.md` §4 names the ones scripts and tests rely on.
 */
export const envSchema = z
  .object({
    NODE_ENV: z.enum(['development', 'test', 'production']).default('development'),
    DATABASE_URL: postgresUrl.default('postgres://postgres@127.0.0.1:5432/herald'),
    HERALD_DB_POOL_SIZE: positiveInt.max(200).default(10),
    REDIS_URL: redisUrl.default('redis://127.0.0.1:6379'),
    REDIS_CLUSTER_NODES: clusterNodes.optional(),
    HERALD_QUEUE_PREFIX: z
      .string()
      .regex(/^[a-z0-9_-]{1,32}$/, { error: 'must be 1-32 characters [a-z0-9_-]' })
      .default('herald'),
    HERALD_BIND_HOST: z.string().trim().min(1).default('0.0.0.0'),
    HERALD_API_PORT: port.default(3000),
    HERALD_GATEWAY_PORT: port.default(3001),
    HERALD_PUBLIC_URL: optionalUrl,
    HERALD_GATEWAY_PUBLIC_URL: optionalUrl,
    HERALD_MASTER_KEY: base64Key,
    HERALD_MASTER_KEY_ID: keyId.default('k1'),
    HERALD_PREVIOUS_MASTER_KEYS: previousKeys.default([]),
    HERALD_APNS_ENDPOINT: optionalUrl,
    HERALD_FCM_ENDPOINT: optionalUrl,
    HERALD_SDK_REGISTER_PER_MINUTE: positiveInt.default(120),
    HERALD_SDK_REGISTER_PER_APP_PER_MINUTE: positiveInt.default(6_000),
    HERALD_SDK_DEVICE_PER_MINUTE: positiveInt.default(300),
    HERALD_DASHBOARD_AUTH_PER_MINUTE: positiveInt.default(60),
    HERALD_DASHBOARD_AUTH_PER_EMAIL_PER_MINUTE: positiveInt.default(10),
    HERALD_TRUSTED_PROXIES: ipRanges.default([]),
    HERALD_OUTBOUND_ALLOW: ipRanges.default([]),
    HERALD_GATEWAY_NODE_ID: z
      .string()
      .regex(/^[A-Za-z0-9_.-]{1,64}$/, { error: 'must be 1-64 characters [A-Za-z0-9_.-]' })
      .optional(),
    HERALD_GATEWAY_INBOX_MAX: positiveInt.max(10_000).default(100),
    HERALD_GATEWAY_MAX_FRAME_BYTES: positiveInt.min(1024).max(1_048_576).default(65_536),
    HERALD_GATEWAY_PRESENCE_TTL_SECONDS: positiveInt.min(3).default(120),
    // The contract clamps heartbeats to [30, 600] s; tests lower the floor so idle closes take seconds.
    HERALD_GATEWAY_MIN_HEARTBEAT_SECONDS: positiveInt.max(30).default(30),
    HERALD_GATEWAY_IDLE_GRACE_SECONDS: positiveInt.max(60).default(10),
    HERALD_GATEWAY_HELLO_TIMEOUT_MS: positiveInt.default(10_000),
    HERALD_GATEWAY_SLOW_BYTES: positiveInt.min(1024).default(1_048_576),
    HERALD_GATEWAY_SLOW_GRACE_MS: positiveInt.default(5_000),
    HERALD_GATEWAY_AUTH_CACHE_TTL_MS: wholeNumber.min(0).default(60_000),
    HERALD_WORKER_CONCURRENCY: positiveInt.max(1000).default(50),
    // 0 turns the worker's metrics and health listener off.
    HERALD_WORKER_METRICS_PORT: wholeNumber
      .min(0, { error: 'must be a port (1-65535) or 0' })
      .max(65535, { error: 'must be a port (1-65535) or 0' })
      .default(9464),
    HERALD_QUARANTINE_DAYS: positiveInt.max(365).default(7),
    HERALD_INVALID_RETENTION_DAYS: positiveInt.max(3650).default(30),
    HERALD_JOB_LOCK_MS: positiveInt.min(1_000).max(600_000).default(30_000),
    HERALD_PUSH_CONCURRENCY: positiveInt.max(256).default(8),
    HERALD_SHARD_PARALLELISM: positiveInt.max(256).default(2),
    HERALD_FEEDBACK_CONCURRENCY: positiveInt.max(256).default(8),
    HERALD_SHARD_SIZE: positiveInt.min(100).max(1_000_000).default(10_000),
    HERALD_PUSH_RETRY_ATTEMPTS: positiveInt.max(10).default(3),
    HERALD_RECONCILE_INTERVAL_MS: positiveInt.min(100).default(15_000),
    HERALD_RECONCILE_GRACE_MS: positiveInt.default(10_000),
    HERALD_SHUTDOWN_TIMEOUT_MS: positiveInt.default(10_000),
    HERALD_LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
    NODE_EXTRA_CA_CERTS: z.string().optional(),
  })
  .superRefine((env, ctx) => {
    const ids = [env.HERALD_MASTER_KEY_ID, ...env.HERALD_PREVIOUS_MASTER_KEYS.map((k) => k.id)];
    if (new Set(ids).size !== ids.length) {
      ctx.addIssue({
        code: 'custom',
        path: ['HERALD_PREVIOUS_MASTER_KEYS'],
        message: 'key ids must be unique across HERALD_MASTER_KEY_ID and HERALD_PREVIOUS_MASTER_KEYS',
      });
    }
  });
