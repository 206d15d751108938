import { APNS_RATE_LIMIT_BACKOFF_MS, mapApnsFailure } from './apns-outcome.mapper';
import { FCM_QUOTA_BACKOFF_MS, mapFcmError, mapFcmResponse, retryAfterMs } from './fcm-outcome.mapper';

describe('mapApnsFailure', () => {
  it.each([
    [
      { status: 410, response: { reason: 'Unregistered', timestamp: 1_700_000_000_000 } },
      { kind: 'invalid_token', reason: 'Unregistered', providerTimestamp: new Date(1_700_000_000_000) },
    ],
    [
      { status: 400, response: { reason: 'BadDeviceToken' } },
      { kind: 'invalid_token', reason: 'BadDeviceToken' },
    ],
    [
      { status: 400, response: { reason: 'DeviceTokenNotForTopic' } },
      { kind: 'invalid_token', reason: 'DeviceTokenNotForTopic' },
    ],
    [
      { status: 400, response: { reason: 'BadCollapseId' } },
      { kind: 'permanent', reason: 'BadCollapseId' },
    ],
    [
      { status: 429, response: { reason: 'TooManyRequests' } },
      { kind: 'rate_limited', retryAfterMs: APNS_RATE_LIMIT_BACKOFF_MS },
    ],
    [
      { status: 500, error: { message: 'Error 500, stream ended unexpectedly' } },
      { kind: 'retryable', reason: 'InternalServerError' },
    ],
    [
      { status: 503, response: { reason: 'ServiceUnavailable' } },
      { kind: 'retryable', reason: 'ServiceUnavailable' },
    ],
    [
      { status: 403, error: { message: 'ExpiredProviderToken' } },
      { kind: 'permanent', reason: 'ExpiredProviderToken' },
    ],
    [
      { status: 403, response: { reason: 'InvalidProviderToken' } },
      { kind: 'permanent', reason: 'InvalidProviderToken' },
    ],
    [{ status: 413, response: { reason: 'PayloadTooLarge' } }, { kind: 'permanent' }],
    [
      { error: { message: 'apn write timeout' } },
      { kind: 'retryable', reason: 'transport: apn write timeout' },
    ],
  ])('%j', (failure, expected) => {
    expect(mapApnsFailure(failure)).toMatchObject(expected);
  });
});

describe('mapFcmError', () => {
  it.each([
    ['messaging/registration-token-not-registered', '', { kind: 'invalid_token', reason: 'UNREGISTERED' }],
    [
      'messaging/invalid-argument',
      'The registration token is not a valid FCM registration token',
      { kind: 'invalid_token', reason: 'INVALID_ARGUMENT' },
    ],
    ['messaging/invalid-argument', 'Invalid value at message.android.ttl', { kind: 'permanent' }],
    [
      'messaging/mismatched-credential',
      'SenderId mismatch',
      { kind: 'invalid_token', reason: 'SENDER_ID_MISMATCH' },
    ],
    [
      'messaging/mismatched-credential',
      "Permission 'cloudmessaging.messages.create' denied",
      { kind: 'permanent', reason: 'credential: PERMISSION_DENIED' },
    ],
    ['messaging/message-rate-exceeded', '', { kind: 'rate_limited', retryAfterMs: FCM_QUOTA_BACKOFF_MS }],
    ['messaging/server-unavailable', '', { kind: 'retryable', reason: 'UNAVAILABLE' }],
    ['messaging/internal-error', '', { kind: 'retryable', reason: 'INTERNAL' }],
    ['messaging/third-party-auth-error', '', { kind: 'permanent', reason: 'THIRD_PARTY_AUTH_ERROR' }],
    [
      'app/invalid-credential',
      'invalid_grant: Invalid JWT Signature.',
      { kind: 'permanent', reason: 'credential: token exchange refused' },
    ],
    ['app/invalid-credential', 'connect ECONNREFUSED 127.0.0.1:1', { kind: 'retryable' }],
  ])('%s %s', (code, message, expected) => {
    expect(mapFcmError({ code, message })).toMatchObject(expected);
  });

  it('keeps FCM quota back-off at a minute or more', () => {
    expect(FCM_QUOTA_BACKOFF_MS).toBeGreaterThanOrEqual(60_000);
  });
});

describe('mapFcmResponse', () => {
  const fcmError = (code: number, status: string, errorCode?: string, message = 'm') =>
    JSON.stringify({
      error: {
        code,
        message,
        status,
        ...(errorCode && {
          details: [{ '@type': 'type.googleapis.com/google.firebase.fcm.v1.FcmError', errorCode }],
        }),
      },
    });

  it.each([
    [
      404,
      fcmError(404, 'NOT_FOUND', 'UNREGISTERED'),
      undefined,
      { kind: 'invalid_token', reason: 'UNREGISTERED' },
    ],
    [
      403,
      fcmError(403, 'PERMISSION_DENIED', 'SENDER_ID_MISMATCH', 'SenderId mismatch'),
      undefined,
      { kind: 'invalid_token', reason: 'SENDER_ID_MISMATCH' },
    ],
    [
      403,
      fcmError(403, 'PERMISSION_DENIED', undefined, "Permission 'cloudmessaging.messages.create' denied"),
      undefined,
      { kind: 'permanent', reason: 'credential: PERMISSION_DENIED' },
    ],
    [
      400,
      fcmError(400, 'INVALID_ARGUMENT', 'INVALID_ARGUMENT', 'Invalid value at message.android.ttl'),
      undefined,
      { kind: 'permanent', reason: 'INVALID_ARGUMENT: Invalid value at message.android.ttl' },
    ],
    [
      400,
      JSON.stringify({
        error: {
          code: 400,
          status: 'INVALID_ARGUMENT',
          message: 'Request contains an invalid argument.',
          details: [
            {
              '@type': 'type.googleapis.com/google.rpc.BadRequest',
              fieldViolations: [{ field: 'message.token' }],
            },
          ],
        },
      }),
      undefined,
      { kind: 'invalid_token', reason: 'INVALID_ARGUMENT' },
    ],
    [
      429,
      fcmError(429, 'RESOURCE_EXHAUSTED', 'QUOTA_EXCEEDED'),
      '30',
      { kind: 'rate_limited', retryAfterMs: FCM_QUOTA_BACKOFF_MS },
    ],
    [
      429,
      fcmError(429, 'RESOURCE_EXHAUSTED', 'QUOTA_EXCEEDED'),
      '120',
      { kind: 'rate_limited', retryAfterMs: 120_000 },
    ],
    [
      503,
      fcmError(503, 'UNAVAILABLE', 'UNAVAILABLE'),
      '7',
      { kind: 'retryable', status: 503, retryAfterMs: 7000 },
    ],
    [503, '<html>busy</html>', undefined, { kind: 'retryable', reason: 'UNAVAILABLE', status: 503 }],
    [500, fcmError(500, 'INTERNAL', 'INTERNAL'), undefined, { kind: 'retryable', reason: 'INTERNAL' }],
    [
      401,
      fcmError(401, 'UNAUTHENTICATED', 'THIRD_PARTY_AUTH_ERROR'),
      undefined,
      { kind: 'permanent', reason: 'THIRD_PARTY_AUTH_ERROR' },
    ],
    [
      401,
      fcmError(401, 'UNAUTHENTICATED'),
      undefined,
      { kind: 'permanent', reason: 'credential: UNAUTHENTICATED' },
    ],
  ])('%i %s (Retry-After %s)', (status, body, retryAfter, expected) => {
    expect(mapFcmResponse(status, body, retryAfter)).toMatchObject(expected);
  });

  it('counts a 404 as a dead token only when FCM’s error body says so; any other 404 is retried', () => {
    // What FCM v1 (and the fake) send for an unregistered token, and the bare google.rpc NOT_FOUND.
    expect(mapFcmResponse(404, fcmError(404, 'NOT_FOUND', 'UNREGISTERED'))).toEqual({
      kind: 'invalid_token',
      reason: 'UNREGISTERED',
      status: 404,
    });
    expect(mapFcmResponse(404, fcmError(404, 'NOT_FOUND'))).toMatchObject({
      kind: 'invalid_token',
      reason: 'UNREGISTERED',
    });
    // A proxy's or Google front end's page, an empty body, JSON that is not FCM's error: not about the token.
    for (const body of [
      '<html>Not Found</html>',
      '',
      '{"error":{"code":404,"message":"Not Found"}}',
      '{"message":"no route"}',
    ]) {
      expect(mapFcmResponse(404, body)).toEqual({ kind: 'retryable', reason: 'unknown: http/404' });
    }
    expect(mapFcmResponse(404, '<html>Not Found</html>', '5')).toEqual({
      kind: 'retryable',
      reason: 'unknown: http/404',
      retryAfterMs: 5000,
    });
  });

  it('reads Retry-After as seconds or as an HTTP date, and ignores one that is past or unreadable', () => {
    const inOneMinute = new Date(Date.now() + 60_000).toUTCString(); // "Mon, 07 Dec 2026 10:00:00 GMT"
    const ms = retryAfterMs(inOneMinute) as number;
    // Whole seconds in the date: between 59 and 60 s from now.
    expect(ms).toBeGreaterThan(58_000);
    expect(ms).toBeLessThanOrEqual(60_000);
    const outcome = mapFcmResponse(503, fcmError(503, 'UNAVAILABLE', 'UNAVAILABLE'), inOneMinute);
    expect(outcome.kind).toBe('retryable');
    expect((outcome as { retryAfterMs: number }).retryAfterMs).toBeGreaterThan(58_000);
    expect(retryAfterMs('0')).toBe(0);
    expect(retryAfterMs('2.5')).toBe(2500);
    expect(retryAfterMs(new Date(Date.now() - 60_000).toUTCString())).toBeUndefined();
    expect(retryAfterMs('-3')).toBeUndefined();
    expect(retryAfterMs('soon')).toBeUndefined();
    expect(retryAfterMs('')).toBeUndefined();
  });

  it('leaves out retryAfterMs when FCM sends no Retry-After', () => {
    expect(mapFcmResponse(503, fcmError(503, 'UNAVAILABLE', 'UNAVAILABLE'))).not.toHaveProperty(
      'retryAfterMs',
    );
  });
});
