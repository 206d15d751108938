import { z } from 'zod';
import { PLATFORMS } from '@herald/audience';

const shortText = (max: number) => z.string().trim().min(1).max(max);

/**
 * A provider token's limit, in UTF-8 bytes: APNs tokens are 64 hex characters and FCM's well under
 * 300, so 1024 is generous — and it keeps `(app_id, channel, token)` within what the unique index
 * `devices_token_key` can hold (about 2700 bytes), which PostgreSQL would otherwise refuse with 54000.
 */
export const MAX_TOKEN_BYTES = 1024;
const pushToken = z
  .string()
  .trim()
  .min(1)
  .refine((t) => Buffer.byteLength(t, 'utf8') <= MAX_TOKEN_BYTES, `at most ${MAX_TOKEN_BYTES} bytes (UTF-8)`);

/** `POST /sdk/v1/register` (api.md §2). Unknown keys are refused: a typo must not pass silently. */
export const registerSchema = z
  .object({
    platform: z.enum(PLATFORMS),
    channel: z.enum(['apns', 'fcm', 'gateway']),
    token: pushToken.optional(),
    apns_environment: z.enum(['sandbox', 'production']).optional(),
    language: shortText(64).optional(),
    timezone: shortText(64).optional(),
    country: shortText(8).optional(),
    province: shortText(64).optional(),
    city: shortText(128).optional(),
    app_version: shortText(64).optional(),
    os_version: shortText(64).optional(),
    device_model: shortText(128).optional(),
  })
  .strict()
  .superRefine((body, ctx) => {
    if (body.channel !== 'gateway' && !body.token) {
      ctx.addIssue({
        code: 'custom',
        path: ['token'],
        message: `is required for channel ${body.channel}`,
        params: { missing: true },
      });
    }
    if (body.channel === 'apns' && body.platform !== 'ios') {
      ctx.addIssue({ code: 'custom', path: ['channel'], message: 'apns is for platform ios' });
    }
    if (body.apns_environment && body.channel !== 'apns') {
      ctx.addIssue({ code: 'custom', path: ['apns_environment'], message: 'only applies to channel apns' });
    }
  });
export type RegisterInput = z.infer<typeof registerSchema>;

/** `PUT /sdk/v1/devices/{rid}`: every field optional; `null` clears a descriptive field. */
export const updateSchema = z
  .object({
    token: pushToken.optional(),
    apns_environment: z.enum(['sandbox', 'production']).optional(),
    language: shortText(64).nullable().optional(),
    timezone: shortText(64).nullable().optional(),
    country: shortText(8).nullable().optional(),
    province: shortText(64).nullable().optional(),
    city: shortText(128).nullable().optional(),
    app_version: shortText(64).nullable().optional(),
    os_version: shortText(64).nullable().optional(),
    device_model: shortText(128).nullable().optional(),
  })
  .strict();
export type UpdateInput = z.infer<typeof updateSchema>;

export const sdkTagsSchema = z.union([
  z.object({ set: z.array(z.string()).max(1000) }).strict(),
  z
    .object({
      add: z.array(z.string()).max(1000).optional(),
      remove: z.array(z.string()).max(1000).optional(),
    })
    .strict()
    .refine((b) => b.add !== undefined || b.remove !== undefined, {
      message: 'add, remove or set is required',
    }),
]);

export const sdkAliasSchema = z.object({ alias: z.string().nullable() }).strict();

export const receiptSchema = z
  .object({
    msg_id: z.union([
      z.string().regex(/^\d{1,16}$/),
      z.number().int().positive().max(Number.MAX_SAFE_INTEGER),
    ]),
    event: z.enum(['delivered', 'opened', 'dismissed']),
    at: z.iso.datetime({ offset: true }).optional(),
  })
  .strict();

/** `POST /v3/devices/{rid}` exactly as JPush documents it. */
export const jpushDeviceUpdateSchema = z
  .object({
    tags: z
      .union([
        z.literal(''),
        z.object({ add: z.array(z.string()).optional(), remove: z.array(z.string()).optional() }).strict(),
      ])
      .optional(),
    alias: z.string().optional(),
    mobile: z.string().optional(),
  })
  .strict();

export const jpushTagDevicesSchema = z
  .object({
    registration_ids: z
      .object({
        add: z.array(z.string()).max(1000).optional(),
        remove: z.array(z.string()).max(1000).optional(),
      })
      .strict(),
  })
  .strict();

export const jpushStatusSchema = z
  .object({ registration_ids: z.array(z.string()).min(1).max(1000) })
  .strict();
