import type { DeliveryOutcome } from './outcome';

/** FCM asks senders over quota to back off for at least a minute. */
export const FCM_QUOTA_BACKOFF_MS = 60_000;

const TRANSPORT = /ECONNREFUSED|ECONNRESET|ETIMEDOUT|EAI_AGAIN|ENOTFOUND|socket hang up|network|timeout/i;

/** A firebase-admin error for one message (`FirebaseMessagingError` or `FirebaseAppError`). */
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
      return { kind: 'permanent', reason: 'credential: UNAUTHENTICATED', status: 401 };
    case 'messaging/payload-size-limit-exceeded':
      return { kind: 'permanent', reason: 'payload_too_large', status: 400 };
    case 'app/network-error':
    case 'app/network-timeout':
      return { kind: 'retryable', reason: `transport: ${code}` };
    case 'app/invalid-credential':
      // The token exchange failed: unreachable is transient, a refused assertion is the key's fault.
      if (TRANSPORT.test(message)) return { kind: 'retryable', reason: 'transport: token exchange failed' };
      return { kind: 'permanent', reason: 'credential: token exchange refused' };
    default:
      return { kind: 'retryable', reason: `unknown: ${code}` };
  }
}

function clip(text: string): string {
  return text.length > 160 ? `${text.slice(0, 157)}...` : text;
}
