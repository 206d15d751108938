import { z } from 'zod';
import { ROLES } from './auth/permissions';
import { MAX_OVERLAP_S } from './apps.service';
import { PERSONAL_TOKEN_MAX_DAYS } from './auth/account.service';
import { isTimeZone, pageQuery } from './dashboard.http';

const email = z
  .string()
  .trim()
  .toLowerCase()
  .max(254)
  .regex(/^[^@\s]+@[^@\s]+\.[^@\s]+$/, 'must be an e-mail address');
const name = z.string().trim().min(1).max(100);
const password = z.string().min(1).max(1024);
const role = z.enum(ROLES as [string, ...string[]]).transform((r) => r as (typeof ROLES)[number]);
const timezone = z
  .string()
  .trim()
  .min(1)
  .max(64)
  .refine(isTimeZone, 'must be an IANA time zone, e.g. Asia/Shanghai');
const uuid = z.string().uuid();
const environment = z.enum(['sandbox', 'production', 'both']);
const day = z
  .string()
  .regex(/^\d{4}-\d{2}-\d{2}$/, 'must be YYYY-MM-DD')
  .refine(
    (d) =>
      !Number.isNaN(Date.parse(`${d}T00:00:00Z`)) && new Date(`${d}T00:00:00Z`).toISOString().startsWith(d),
    'is not a calendar date',
  );

export const signupSchema = z.object({ email, password, tenant_name: name }).strict();
export const loginSchema = z.object({ email, password, tenant_id: uuid.optional() }).strict();
export const refreshSchema = z.object({ refresh_token: z.string().min(1).max(512) }).strict();
export const acceptInviteSchema = z
  .object({ token: z.string().min(1).max(512), password, display_name: name.optional() })
  .strict();

export const renameTenantSchema = z.object({ name }).strict();
export const inviteSchema = z.object({ email, role }).strict();
export const roleSchema = z.object({ role }).strict();
export const personalTokenSchema = z
  .object({ name, expires_in_days: z.number().int().min(1).max(PERSONAL_TOKEN_MAX_DAYS).optional() })
  .strict();

export const createAppSchema = z
  .object({
    name,
    timezone: timezone.optional(),
    rate_limit_per_minute: z.number().int().min(1).max(1_000_000).optional(),
  })
  .strict();
export const updateAppSchema = z
  .object({
    name: name.optional(),
    timezone: timezone.optional(),
    rate_limit_per_minute: z.number().int().min(1).max(1_000_000).optional(),
  })
  .strict();
export const rotateSchema = z
  .object({ overlap_seconds: z.number().int().min(0).max(MAX_OVERLAP_S).optional() })
  .strict();

/** api.md §3, exactly: a token key (`.p8`) or a certificate (`.p12`, base64) per environment. */
export const apnsSchema = z.discriminatedUnion('auth', [
  z
    .object({
      environment,
      auth: z.literal('token'),
      key_id: z.string().min(1).max(64),
      team_id: z.string().min(1).max(64),
      bundle_id: z.string().min(1).max(255),
      key: z.string().min(1).max(16_384),
    })
    .strict(),
  z
    .object({
      environment,
      auth: z.literal('certificate'),
      p12: z
        .string()
        .min(1)
        .max(65_536)
        .regex(/^[A-Za-z0-9+/=\s]+$/, 'must be base64'),
      passphrase: z.string().max(1024).optional(),
      bundle_id: z.string().min(1).max(255).optional(),
    })
    .strict(),
]);
export const fcmSchema = z.object({ service_account: z.record(z.string(), z.unknown()) }).strict();
export const deleteCredentialQuery = z.object({ environment: environment.optional() }).strict();
export const testSendSchema = z
  .object({
    registration_id: z.string().min(1).max(128),
    alert: z.string().min(1).max(1000).optional(),
    title: z.string().min(1).max(200).optional(),
  })
  .strict();

export const segmentSchema = z.object({ name: z.unknown(), filter: z.unknown() }).strict();
export const segmentUpdateSchema = z
  .object({ name: z.unknown().optional(), filter: z.unknown().optional() })
  .strict();
export const estimateSchema = z.object({ filter: z.unknown() }).strict();

export const pageSchema = z.object(pageQuery).strict();

const statuses = ['accepted', 'planning', 'sending', 'completed', 'cancelled', 'failed'] as const;
export const messagesQuery = z
  .object({
    ...pageQuery,
    status: z
      .string()
      .transform((s) => s.split(',').map((x) => x.trim()))
      .pipe(z.array(z.enum(statuses)).min(1))
      .optional(),
    source: z.enum(['push', 'batch', 'schedule', 'campaign', 'test']).optional(),
    from: z.string().datetime({ offset: true }).optional(),
    to: z.string().datetime({ offset: true }).optional(),
  })
  .strict();

export const devicesQuery = z
  .object({
    ...pageQuery,
    registration_id: z.string().min(1).max(128).optional(),
    alias: z.string().min(1).max(128).optional(),
    tag: z.string().min(1).max(128).optional(),
    // 4–8 characters: the tokens that end with it; longer: the whole token (see AppDataService.devices).
    token_suffix: z.string().min(4, 'give at least 4 characters').max(4096).optional(),
    status: z.enum(['active', 'quarantined', 'invalid']).optional(),
    channel: z.enum(['apns', 'fcm', 'gateway']).optional(),
  })
  .strict();

export const dailyQuery = z.object({ from: day.optional(), to: day.optional() }).strict();

export const auditQuery = z
  .object({
    ...pageQuery,
    app_id: uuid.optional(),
    action: z.string().min(1).max(64).optional(),
    actor_id: z.string().min(1).max(64).optional(),
  })
  .strict();
