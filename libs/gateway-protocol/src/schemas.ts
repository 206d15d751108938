/**
 * zod schemas of the protocol's frames and the gateway's parser of client frames. Server-side: the
 * reference SDK reads server frames with `parseServerFrame` (frames.ts) and never loads zod.
 */
import { z } from 'zod';
import type { ParseResult } from './frames';

const msgId = z.string().min(1).max(64);

export const helloFrame = z.object({
  t: z.literal('hello'),
  rid: z.string().min(1).max(128),
  secret: z.string().min(1).max(256),
  // Any number: the server clamps it to the contract's bounds (a non-positive one is ignored), as it
  // does the `hb=` query parameter.
  hb: z.number().optional(),
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
