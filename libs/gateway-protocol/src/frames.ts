import { z } from 'zod';
import type { ByeReason } from './close-codes';

export const PROTOCOL_VERSION = 1;
export const CONNECT_PATH = '/v1/connect';
/** The contract's heartbeat bounds and default, in seconds. */
export const HEARTBEAT = { min: 30, max: 600, default: 240, start: 60, step: 30 } as const;
/** Unacknowledged messages one connection may hold. */
export const MAX_IN_FLIGHT = 32;
export const MAX_FRAME_BYTES = 65_536;

const msgId = z.string().min(1).max(64);

export const helloFrame = z.object({
  t: z.literal('hello'),
  rid: z.string().min(1).max(128),
  secret: z.string().min(1).max(256),
  hb: z.number().int().positive().optional(),
  sdk: z.string().max(64).optional(),
});
export const ackFrame = z.object({ t: z.literal('ack'), ids: z.array(msgId).min(1).max(256) });
export const eventFrame = z.object({ t: z.literal('event'), id: msgId, ev: z.enum(['opened', 'dismissed']) });
export const pingFrame = z.object({ t: z.literal('ping') });

/** Everything a client may send. Unknown `t` or a malformed frame is a protocol error (4004). */
export const clientFrame = z.discriminatedUnion('t', [helloFrame, ackFrame, eventFrame, pingFrame]);

export type HelloFrame = z.infer<typeof helloFrame>;
export type AckFrame = z.infer<typeof ackFrame>;
export type EventFrame = z.infer<typeof eventFrame>;
export type ClientFrame = z.infer<typeof clientFrame>;

export type MessageKind = 'notification' | 'message';

export interface MsgFrame {
  t: 'msg';
  id: string;
  kind: MessageKind;
  body: Record<string, unknown>;
  sent_at: number;
  expires_at: number;
  replaces?: string;
}
export interface WelcomeFrame {
  t: 'welcome';
  hb: number;
  server_time: number;
}
export interface RecallFrame {
  t: 'recall';
  id: string;
}
export interface ByeFrame {
  t: 'bye';
  reason: ByeReason;
}
export interface PongFrame {
  t: 'pong';
}
export type ServerFrame = MsgFrame | WelcomeFrame | RecallFrame | ByeFrame | PongFrame;

export const serverFrame = z.discriminatedUnion('t', [
  z.object({
    t: z.literal('msg'),
    id: msgId,
    kind: z.enum(['notification', 'message']),
    body: z.record(z.string(), z.unknown()),
    sent_at: z.number(),
    expires_at: z.number(),
    replaces: msgId.optional(),
  }),
  z.object({ t: z.literal('welcome'), hb: z.number().int(), server_time: z.number() }),
  z.object({ t: z.literal('recall'), id: msgId }),
  z.object({
    t: z.literal('bye'),
    reason: z.enum(['replaced', 'auth_failed', 'idle', 'protocol_error', 'too_slow', 'shutdown']),
  }),
  z.object({ t: z.literal('pong') }),
]);

export type ParseResult<T> = { ok: true; frame: T } | { ok: false; error: string };

/**
 * A client frame, checked against {@link clientFrame}. `ack`, the frame a broadcast brings one of per
 * device, is checked by hand to the same rules (zod costs several µs a frame); everything else, and
 * any ack that fails the hand check, goes through the schema, so the answers are the schema's.
 */
export function parseClientFrame(text: string): ParseResult<ClientFrame> {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch {
    return { ok: false, error: 'not JSON' };
  }
  const ack = fastAck(raw);
  if (ack) return { ok: true, frame: ack };
  const parsed = clientFrame.safeParse(raw);
  return parsed.success
    ? { ok: true, frame: parsed.data }
    : { ok: false, error: parsed.error.issues[0]?.message ?? 'invalid' };
}

/** `{"t":"ack","ids":[1..256 strings of 1..64 characters]}` as the schema outputs it (unknown keys stripped). */
function fastAck(raw: unknown): AckFrame | undefined {
  if (typeof raw !== 'object' || raw === null) return undefined;
  const f = raw as Record<string, unknown>;
  if (f.t !== 'ack' || !Array.isArray(f.ids)) return undefined;
  const ids = f.ids as unknown[];
  if (ids.length < 1 || ids.length > 256) return undefined;
  for (const id of ids) if (typeof id !== 'string' || id.length < 1 || id.length > 64) return undefined;
  return { t: 'ack', ids: ids as string[] };
}
/**
 * Server frames as a client reads them. Hand-checked rather than through the zod schema: a phone or
 * a benchmark process parses every push, and the fields it relies on are few.
 */
export function parseServerFrame(text: string): ParseResult<ServerFrame> {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch {
    return { ok: false, error: 'not JSON' };
  }
  const f = raw as Record<string, unknown> | null;
  if (typeof f !== 'object' || f === null || Array.isArray(f)) return { ok: false, error: 'not an object' };
  const ok = { ok: true, frame: f as unknown as ServerFrame } as const;
  switch (f.t) {
    case 'msg':
      return typeof f.id === 'string' &&
        (f.kind === 'notification' || f.kind === 'message') &&
        typeof f.body === 'object' &&
        f.body !== null &&
        typeof f.sent_at === 'number' &&
        typeof f.expires_at === 'number' &&
        (f.replaces === undefined || typeof f.replaces === 'string')
        ? ok
        : { ok: false, error: 'bad msg' };
    case 'welcome':
      return typeof f.hb === 'number' && typeof f.server_time === 'number'
        ? ok
        : { ok: false, error: 'bad welcome' };
    case 'recall':
      return typeof f.id === 'string' ? ok : { ok: false, error: 'bad recall' };
    case 'bye':
      return serverFrame.safeParse(f).success ? ok : { ok: false, error: 'bad bye' };
    case 'pong':
      return ok;
    default:
      return { ok: false, error: 'unknown t' };
  }
}

/** The heartbeat the server holds a client to: proposal, else remembered, else default; clamped. */
export function negotiateHeartbeat(
  proposed: number | undefined,
  remembered: number | null | undefined,
  floor: number = HEARTBEAT.min,
): number {
  const hb = proposed ?? remembered ?? HEARTBEAT.default;
  return Math.min(HEARTBEAT.max, Math.max(floor, Math.round(hb)));
}

/** `Authorization: Bearer <rid>:<secret>`; the secret may itself contain `:`, the rid never does. */
export function parseBearer(header: string | undefined): { rid: string; secret: string } | undefined {
  const m = /^Bearer\s+([^:\s]+):(\S+)$/i.exec(header?.trim() ?? '');
  return m ? { rid: m[1], secret: m[2] } : undefined;
}
