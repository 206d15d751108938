/**
 * Redis key layout of the gateway, shared by the worker-side adapter and the gateway nodes. Every
 * per-device key carries the registration id as a hash tag, so one device's keys share a Redis
 * Cluster slot and the Lua scripts that touch several of them stay legal on a cluster. All keys live
 * under `<queuePrefix>:gw:`, so a deployment's (or a test's) namespace owns them.
 */
export class GatewayKeys {
  constructor(readonly prefix: string) {}

  /**
   * Per device: inbox (zset: id → sent_at and `e:<id>` → offset + expires_at), frames (hash), acked
   * ids, recalls, presence, last seen.
   */
  device(rid: string) {
    const base = `${this.prefix}:gw:{${rid}}`;
    return {
      inbox: `${base}:in`,
      frames: `${base}:m`,
      acked: `${base}:ack`,
      recalls: `${base}:rc`,
      presence: `${base}:at`,
      seen: `${base}:seen`,
    };
  }

  /**
   * A `msg` frame stored once for the many inboxes it was written to in one insert (string, expiring
   * with them); their frames hash holds `@<digest>` for it. Named by message id and the frame's digest
   * (an i18n push has one frame per language under one id); tagged by the message id, so frames spread
   * over a Redis Cluster.
   */
  frame(messageId: string, digest: string): string {
    return `${this.prefix}:gw:f:{${messageId}}:${digest}`;
  }

  /** Pub/sub channel a node listens on for rings, kicks and live (TTL 0) messages. */
  node(nodeId: string): string {
    return `${this.prefix}:gw:node:${nodeId}`;
  }
}

/** Presence values are `<nodeId>|<connectionId>`; node ids never contain `|`. */
export function parsePresence(value: string | null): { nodeId: string; connId: string } | undefined {
  if (!value) return undefined;
  const i = value.lastIndexOf('|');
  return i <= 0 ? undefined : { nodeId: value.slice(0, i), connId: value.slice(i + 1) };
}

/**
 * Node channel payloads: one text line of op, then arguments separated by newlines. Registration ids
 * and connection ids never contain a newline.
 */
export const RingOp = { deliver: 'r', recall: 'c', kick: 'k', live: 'l' } as const;

export function encodeRing(op: 'r' | 'c', rids: string[]): string {
  return `${op}\n${rids.join('\n')}`;
}
export function encodeKick(rid: string, connId: string): string {
  return `k\n${rid}\n${connId}`;
}
export function encodeLive(rids: string[], frame: string): string {
  return `l\n${JSON.stringify({ rids, frame })}`;
}
