/**
 * Domain errors carry a stable code; the API's global filter alone decides the HTTP status and the
 * body shape (JPush's on `/v3`, `{code, message}` elsewhere). Services never throw HTTP exceptions.
 */
export const ERROR_CODES = {
  missing_parameter: { status: 400, jpush: 1002 },
  invalid_parameter: { status: 400, jpush: 1003 },
  unauthorized: { status: 401, jpush: 1004 },
  payload_too_large: { status: 400, jpush: 1005 },
  unknown_field: { status: 400, jpush: 1009 },
  no_target: { status: 400, jpush: 1011 },
  forbidden: { status: 403, jpush: 1004 },
  not_found: { status: 404, jpush: 1003 },
  method_not_allowed: { status: 405, jpush: 1003 },
  conflict: { status: 409, jpush: 1003 },
  // JPush answers an oversized payload with 400/1005; elsewhere 413 is the honest status.
  body_too_large: { status: 413, jpush: 1005, jpushStatus: 400 },
  unsupported_media_type: { status: 415, jpush: 1003 },
  rate_limited: { status: 429, jpush: 2002 },
  unavailable: { status: 503, jpush: 1000 },
  internal: { status: 500, jpush: 1000 },
} as const satisfies Record<string, { status: number; jpush: number; jpushStatus?: number }>;

export type ErrorCode = keyof typeof ERROR_CODES;

export interface HeraldErrorOptions {
  /** Overrides the JPush code of the `/v3` body (the device and schedule APIs use 7xxx / 8xxx). */
  jpushCode?: number;
  /** Overrides the HTTP status where a contract demands a specific one. */
  status?: number;
  headers?: Record<string, string>;
  details?: Record<string, unknown>;
  cause?: unknown;
}

export class HeraldError extends Error {
  readonly status: number;
  readonly jpushCode: number;
  readonly headers: Record<string, string>;
  readonly details?: Record<string, unknown>;

  constructor(
    readonly code: ErrorCode,
    message: string,
    options: HeraldErrorOptions = {},
  ) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'HeraldError';
    this.status = options.status ?? ERROR_CODES[code].status;
    this.jpushCode = options.jpushCode ?? ERROR_CODES[code].jpush;
    this.headers = options.headers ?? {};
    this.details = options.details;
  }
}
