/**
 * What happened to one token (or one gateway device) in one send. Every adapter returns exactly one
 * outcome per input, in input order; a token's failure is an outcome, never a thrown error, and
 * failures are never folded together (architecture invariant 5).
 */
export type DeliveryOutcome =
  | { kind: 'sent'; providerMessageId?: string }
  | { kind: 'invalid_token'; reason: string; status?: number; providerTimestamp?: Date }
  | { kind: 'retryable'; reason: string; status?: number; retryAfterMs?: number }
  | { kind: 'rate_limited'; reason: string; status?: number; retryAfterMs: number }
  | { kind: 'permanent'; reason: string; status?: number };

export type OutcomeKind = DeliveryOutcome['kind'];
