/** Close codes of docs/gateway-protocol.md; each is preceded by a `bye` frame with the matching reason. */
export const CloseCode = {
  authFailed: 4001,
  replaced: 4002,
  idle: 4003,
  protocolError: 4004,
  tooSlow: 4005,
  shutdown: 1001,
} as const;

export type ByeReason = 'replaced' | 'auth_failed' | 'idle' | 'protocol_error' | 'too_slow' | 'shutdown';

export const CLOSE_CODE_OF: Record<ByeReason, number> = {
  auth_failed: CloseCode.authFailed,
  replaced: CloseCode.replaced,
  idle: CloseCode.idle,
  protocol_error: CloseCode.protocolError,
  too_slow: CloseCode.tooSlow,
  shutdown: CloseCode.shutdown,
};
