import type { z } from 'zod';
import { HeraldError } from '@herald/common';

/**
 * Validates a request body against its schema. The first problem is reported with its path, as a
 * missing or an invalid parameter (`jpushCodes` give the family's codes on `/v3`).
 */
export function parseBody<S extends z.ZodType>(
  schema: S,
  body: unknown,
  jpushCodes: { missing: number; invalid: number } = { missing: 1002, invalid: 1003 },
): z.infer<S> {
  if (body === undefined || body === null) {
    throw new HeraldError('missing_parameter', 'request body is required (JSON)', {
      jpushCode: jpushCodes.missing,
    });
  }
  // reportInput: zod 4 leaves `input` out of issues otherwise, and every wrong type would read as missing.
  const parsed = schema.safeParse(body, { reportInput: true });
  if (parsed.success) return parsed.data;
  const issue = parsed.error.issues[0];
  const path = issue.path.map(String).join('.') || 'body';
  const missing =
    (issue.code === 'invalid_type' && issue.input === undefined) ||
    (issue.code === 'custom' && (issue.params as { missing?: boolean } | undefined)?.missing === true);
  const unknown = issue.code === 'unrecognized_keys';
  const message = unknown ? `unknown field(s): ${issue.keys.join(', ')}` : `${path}: ${issue.message}`;
  throw new HeraldError(missing ? 'missing_parameter' : 'invalid_parameter', message, {
    jpushCode: missing ? jpushCodes.missing : jpushCodes.invalid,
  });
}
