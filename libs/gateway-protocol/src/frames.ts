/**
 * The protocol's constants, server frames and their parser: what a client needs, with no dependency
 * (the reference SDK bundles this for browsers). The zod schemas of client frames, which the gateway
 * checks, are in `schemas.ts`.
 */
import { CLOSE_CODE_OF, type ByeReason } from './close-codes';

export const PROTOCOL_VERSION = 1;
export const CONNECT_PATH = '/v1/connect';
/** The contract's heartbeat bounds and default, in seconds. */
export const HEARTBEAT = { min: 30, max: 600, default: 240, start: 60, step: 30 } as const;
/** Unacknowledged messages one connection may hold. */
export const MAX_IN_FLIGHT = 32;
export const MAX_FRAME_BYTES = 65_536;

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

export type ParseResult<T> = { ok: true; frame: T } | { ok: false; error: string };

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
      return typeof f.reason === 'string' && Object.prototype.hasOwnProperty.call(CLOSE_CODE_OF, f.reason)
        ? ok
        : { ok: false, error: 'bad bye' };
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
