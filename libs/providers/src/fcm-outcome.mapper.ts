import { TOKEN_ENDPOINT_UNAVAILABLE } from './google-token.exchange';
import type { DeliveryOutcome } from './outcome';

/** FCM asks senders over quota to back off for at least a minute. */
export const FCM_QUOTA_BACKOFF_MS = 60_000;

/** The token exchange could not be done now (endpoint unreachable or unwell): retried later. */
export const TOKEN_EXCHANGE_FAILED = 'transport: token exchange failed';
/** FCM refused the access token: the client fetches a new one once. */
export const TOKEN_REFUSED = 'credential: UNAUTHENTICATED';

const TRANSPORT = /ECONNREFUSED|ECONNRESET|ETIMEDOUT|EAI_AGAIN|ENOTFOUND|socket hang up|network|timeout/i;

/**
 * An error for one message in firebase-admin's terms (`FirebaseMessagingError` / `FirebaseAppError` codes):
 * the vocabulary of the outcome table, which `mapFcmResponse` translates FCM's answers into.
 */
export interface FcmError {
  code?: string;
  message?: string;
}

export function mapFcmError(error: FcmError | undefined): DeliveryOutcome {
  const code = error?.code ?? 'unknown';
  const message = error?.message ?? '';
  switch (code) {
    case 'messaging/registration-token-not-registered':
      return { kind: 'invalid_token', reason: 'UNREGISTERED', status: 404 };
    case 'messaging/invalid-registration-token':
      return { kind: 'invalid_token', reason: 'INVALID_ARGUMENT', status: 400 };
    case 'messaging/invalid-argument':
      // FCM answers a malformed token and a malformed message with the same code; only the text differs.
      if (/registration token|message\.token/i.test(message)) {
        return { kind: 'invalid_token', reason: 'INVALID_ARGUMENT', status: 400 };
      }
      return { kind: 'permanent', reason: `INVALID_ARGUMENT: ${clip(message)}`, status: 400 };
    case 'messaging/mismatched-credential':
      // SENDER_ID_MISMATCH (the token belongs to another project) and PERMISSION_DENIED share this code.
      if (/sender ?id/i.test(message))
        return { kind: 'invalid_token', reason: 'SENDER_ID_MISMATCH', status: 403 };
      return { kind: 'permanent', reason: 'credential: PERMISSION_DENIED', status: 403 };
    case 'messaging/message-rate-exceeded':
    case 'messaging/device-message-rate-exceeded':
    case 'messaging/topics-message-rate-exceeded':
      return {
        kind: 'rate_limited',
        reason: 'QUOTA_EXCEEDED',
        status: 429,
        retryAfterMs: FCM_QUOTA_BACKOFF_MS,
      };
    case 'messaging/server-unavailable':
      return { kind: 'retryable', reason: 'UNAVAILABLE', status: 503 };
    case 'messaging/internal-error':
      return { kind: 'retryable', reason: 'INTERNAL', status: 500 };
    case 'messaging/third-party-auth-error':
      return { kind: 'permanent', reason: 'THIRD_PARTY_AUTH_ERROR', status: 401 };
    case 'messaging/authentication-error':
      return { kind: 'permanent', reason: TOKEN_REFUSED, status: 401 };
    case 'messaging/payload-size-limit-exceeded':
      return { kind: 'permanent', reason: 'payload_too_large', status: 400 };
    case 'app/network-error':
    case 'app/network-timeout':
      return { kind: 'retryable', reason: `transport: ${code}` };
    case 'app/invalid-credential':
      // The token exchange failed: unreachable is transient, a refused assertion is the key's fault.
      if (TRANSPORT.test(message) || message.startsWith(TOKEN_ENDPOINT_UNAVAILABLE)) {
        return { kind: 'retryable', reason: TOKEN_EXCHANGE_FAILED };
      }
      return { kind: 'permanent', reason: 'credential: token exchange refused' };
    default:
      return { kind: 'retryable', reason: `unknown: ${code}` };
  }
}

/** FCM HTTP v1 `errorCode` / `google.rpc` status → firebase-admin's code (its `MESSAGING_SERVER_TO_CLIENT_CODE`). */
const SERVER_CODES: Record<string, string> = {
  UNREGISTERED: 'messaging/registration-token-not-registered',
  NOT_FOUND: 'messaging/registration-token-not-registered',
  INVALID_ARGUMENT: 'messaging/invalid-argument',
  SENDER_ID_MISMATCH: 'messaging/mismatched-credential',
  PERMISSION_DENIED: 'messaging/mismatched-credential',
  QUOTA_EXCEEDED: 'messaging/message-rate-exceeded',
  RESOURCE_EXHAUSTED: 'messaging/message-rate-exceeded',
  UNAVAILABLE: 'messaging/server-unavailable',
  INTERNAL: 'messaging/internal-error',
  THIRD_PARTY_AUTH_ERROR: 'messaging/third-party-auth-error',
  APNS_AUTH_ERROR: 'messaging/third-party-auth-error',
  UNSPECIFIED_ERROR: 'messaging/unknown-error',
};
/**
 * A status without an FCM error body (an HTML page from a proxy or Google's front end, an empty body).
 * No 404 here: only FCM's body (`errorCode` UNREGISTERED, or the `NOT_FOUND` status it sends with it)
 * says a token is dead; any other 404 is `unknown`, retried, as firebase-admin treats it, so a wrong
 * endpoint path or a proxy's page never invalidates the devices of a push.
 */
const BY_STATUS: Record<number, string> = {
  400: 'messaging/invalid-argument',
  401: 'messaging/authentication-error',
  403: 'messaging/authentication-error',
  429: 'messaging/message-rate-exceeded',
  500: 'messaging/internal-error',
  503: 'messaging/server-unavailable',
};

interface RpcError {
  error?: {
    code?: number;
    message?: string;
    status?: string;
    details?: { '@type'?: string; errorCode?: string; fieldViolations?: { field?: string }[] }[];
  };
}

/**
 * FCM's answer to one `messages:send` (a non-2xx status, its body and its Retry-After header) → the
 * outcome. The `FcmError` detail's `errorCode` decides, else the `google.rpc` status, else the HTTP
 * status (a bare 404 is `unknown` and retryable, never a dead token). Two refinements over firebase-admin: a 401 without an `FcmError` detail is Herald's access
 * token being refused (firebase-admin reports THIRD_PARTY_AUTH_ERROR, which is about APNs/Web Push
 * credentials), and a Retry-After on a retryable answer is passed on as `retryAfterMs`.
 */
export function mapFcmResponse(status: number, body: string, retryAfter?: string): DeliveryOutcome {
  let parsed: RpcError | undefined;
  try {
    parsed = JSON.parse(body) as RpcError;
  } catch {
    parsed = undefined;
  }
  const error = typeof parsed === 'object' && parsed !== null ? parsed.error : undefined;
  let serverCode: string | undefined;
  let tokenViolation = false;
  for (const d of Array.isArray(error?.details) ? error.details : []) {
    if (d?.['@type'] === 'type.googleapis.com/google.firebase.fcm.v1.FcmError' && d.errorCode) {
      serverCode ??= d.errorCode;
    }
    if (d?.fieldViolations?.some((v) => v.field === 'message.token')) tokenViolation = true;
  }
  let code: string;
  if (serverCode !== undefined) code = SERVER_CODES[serverCode] ?? 'messaging/unknown-error';
  else if (status === 401) code = 'messaging/authentication-error';
  else if (error?.status !== undefined) code = SERVER_CODES[error.status] ?? 'messaging/unknown-error';
  else code = BY_STATUS[status] ?? `http/${status}`;
  const message = error?.message ?? (parsed === undefined ? clip(body) : '');
  const outcome =
    tokenViolation && code === 'messaging/invalid-argument'
      ? { kind: 'invalid_token' as const, reason: 'INVALID_ARGUMENT', status: 400 }
      : mapFcmError({ code, message });
  const delayMs = retryAfterMs(retryAfter);
  if (delayMs === undefined) return outcome;
  if (outcome.kind === 'retryable') return { ...outcome, retryAfterMs: delayMs };
  if (outcome.kind === 'rate_limited')
    return { ...outcome, retryAfterMs: Math.max(outcome.retryAfterMs, delayMs) };
  return outcome;
}

/** Retry-After as seconds or an HTTP date → milliseconds from now; undefined when absent or past. */
export function retryAfterMs(header: string | undefined): number | undefined {
  if (header === undefined || header === '') return undefined;
  const s = Number(header);
  if (Number.isFinite(s)) return s >= 0 ? s * 1000 : undefined;
  const at = Date.parse(header);
  if (Number.isNaN(at)) return undefined;
  const ms = at - Date.now();
  return ms > 0 ? ms : undefined;
}

function clip(text: string): string {
  return text.length > 160 ? `${text.slice(0, 157)}...` : text;
}
