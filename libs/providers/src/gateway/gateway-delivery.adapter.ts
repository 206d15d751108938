import type { ChainableCommander, Redis } from 'ioredis';
import { execPerNode } from '@herald/queue';
import type { DeliveryOutcome } from '../outcome';
import { encodeLive, encodeRing, GatewayKeys, parsePresence } from './gateway.keys';
import { InboxStore, PresenceStore, type RecallStatus } from './inbox.store';

export interface GatewayMessage {
  /** The JPush `msg_id` (decimal string). */
  id: string;
  kind: 'notification' | 'message';
  /** Android notification fields or the custom message, as the `msg` frame's `body`. */
  body: Record<string, unknown>;
  /** Unix ms; the inbox order. */
  sentAt: number;
  /** Seconds; 0 = offered only to devices connected now, never stored. */
  timeToLive: number;
  overrideMsgId?: string;
}

/** An inbox entry removed without delivery, for the caller's ledger and failure counters. */
export interface DroppedEntry {
  registrationId: string;
  messageId: string;
  reason: 'inbox_full' | 'expired';
}

export interface GatewaySendResult {
  /** One per registration id, in input order. */
  outcomes: DeliveryOutcome[];
  dropped: DroppedEntry[];
}

export interface GatewayDeliveryOptions {
  /** `HERALD_QUEUE_PREFIX`: the gateway keys live under `<prefix>:gw:`. */
  prefix: string;
  /** `HERALD_GATEWAY_INBOX_MAX`. */
  inboxMax: number;
  /** Devices per Redis pipeline. */
  batchSize?: number;
}

const errorReason = (err: unknown) =>
  `redis: ${err instanceof Error ? err.message : String(err)}`.slice(0, 200);

/**
 * Worker-side delivery to the long-connection gateway: writes the devices' inboxes with one Redis
 * script call per page of devices (idempotent per message id, so a retried shard never duplicates),
 * which also rings the nodes holding them, one publish per node per page carrying the frame. Knows
 * nothing of tenants or the database.
 */
export class GatewayDeliveryAdapter {
  private readonly inbox: InboxStore;
  private readonly presence: PresenceStore;
  private readonly keys: GatewayKeys;
  private readonly batchSize: number;

  constructor(
    private readonly redis: Redis,
    private readonly options: GatewayDeliveryOptions,
  ) {
    this.inbox = new InboxStore(redis, options.prefix);
    this.presence = new PresenceStore(redis, options.prefix);
    this.keys = new GatewayKeys(options.prefix);
    this.batchSize = options.batchSize ?? 1000;
  }

  /** One {@link DeliveryOutcome} per registration id, in input order. */
  async deliver(message: GatewayMessage, registrationIds: string[]): Promise<DeliveryOutcome[]> {
    return (await this.send(message, registrationIds)).outcomes;
  }

  async send(message: GatewayMessage, registrationIds: string[]): Promise<GatewaySendResult> {
    const result: GatewaySendResult = { outcomes: [], dropped: [] };
    for (let i = 0; i < registrationIds.length; i += this.batchSize) {
      const batch = registrationIds.slice(i, i + this.batchSize);
      try {
        if (message.timeToLive <= 0) await this.sendLive(message, batch, result);
        else await this.sendStored(message, batch, result);
      } catch (err) {
        // The whole round trip failed (connection lost): every device of the batch may retry.
        for (let j = result.outcomes.length; j < i + batch.length; j++) {
          result.outcomes.push({ kind: 'retryable', reason: errorReason(err) });
        }
      }
    }
    return result;
  }

  /**
   * Recall: removes undelivered copies and queues a `recall` frame for devices that may have the
   * message, ringing their nodes. Returns the per-device status in input order.
   */
  async recall(messageId: string, registrationIds: string[]): Promise<RecallStatus[]> {
    const out: RecallStatus[] = [];
    for (let i = 0; i < registrationIds.length; i += this.batchSize) {
      const batch = registrationIds.slice(i, i + this.batchSize);
      const now = Date.now();
      const replies = await this.perDevice(batch, (p, rid) => {
        this.inbox.queueRecall(p, rid, messageId, now);
        p.get(this.keys.device(rid).presence);
      });
      const ring = new Map<string, string[]>();
      batch.forEach((rid, j) => {
        const [err, status] = replies[j][0];
        if (err) throw err;
        out.push(status as RecallStatus);
        const at = parsePresence(replies[j][1][1] as string | null);
        if (status === 'had' && at) pushTo(ring, at.nodeId, rid);
      });
      await this.ring('c', ring);
    }
    return out;
  }

  /**
   * Each device's commands in pipelines: one pipeline on a single Redis, one per node on a Redis
   * Cluster (a device's keys share its `{rid}` hash tag, so they are always on one node).
   */
  private perDevice(batch: string[], queue: (p: ChainableCommander, rid: string) => void) {
    return execPerNode(this.redis, batch, (rid) => this.keys.device(rid).inbox, queue);
  }

  private frame(message: GatewayMessage): string {
    return JSON.stringify({
      t: 'msg',
      id: message.id,
      kind: message.kind,
      body: message.body,
      sent_at: message.sentAt,
      expires_at: message.sentAt + message.timeToLive * 1000,
    });
  }

  private async sendStored(message: GatewayMessage, batch: string[], result: GatewaySendResult) {
    const now = Date.now();
    const expiresAt = message.sentAt + message.timeToLive * 1000;
    if (expiresAt <= now) {
      // Already expired (a retry long after the send): never stored, never delivered.
      for (const _ of batch) result.outcomes.push({ kind: 'permanent', reason: 'expired' });
      return;
    }
    const entry = {
      id: message.id,
      sentAt: message.sentAt,
      expiresAt,
      frame: this.frame(message),
      overrideId: message.overrideMsgId,
    };
    // One script call per page of devices writes the inboxes and rings their nodes.
    const replies = await this.inbox.insertMany(batch, entry, this.options.inboxMax, now, true);
    batch.forEach((rid, j) => {
      const reply = replies[j];
      if (reply instanceof Error) {
        result.outcomes.push({ kind: 'retryable', reason: errorReason(reply) });
        return;
      }
      const [, , dropped, expired] = reply;
      result.outcomes.push({ kind: 'sent' });
      for (const id of dropped)
        result.dropped.push({ registrationId: rid, messageId: id, reason: 'inbox_full' });
      for (const id of expired)
        result.dropped.push({ registrationId: rid, messageId: id, reason: 'expired' });
    });
  }

  private async sendLive(message: GatewayMessage, batch: string[], result: GatewaySendResult) {
    const holders = await this.presence.lookup(batch);
    const byNode = new Map<string, string[]>();
    batch.forEach((rid, j) => {
      const at = parsePresence(holders[j]);
      if (at) {
        pushTo(byNode, at.nodeId, rid);
        result.outcomes.push({ kind: 'sent' });
      } else {
        result.outcomes.push({ kind: 'permanent', reason: 'offline' });
      }
    });
    if (byNode.size === 0) return;
    const frame = this.frame(message);
    const p = this.redis.pipeline();
    for (const [node, rids] of byNode) p.publish(this.keys.node(node), encodeLive(rids, frame));
    await p.exec();
  }

  private async ring(op: 'r' | 'c', byNode: Map<string, string[]>) {
    if (byNode.size === 0) return;
    const p = this.redis.pipeline();
    for (const [node, rids] of byNode) p.publish(this.keys.node(node), encodeRing(op, rids));
    await p.exec();
  }
}

function pushTo(map: Map<string, string[]>, key: string, value: string) {
  const list = map.get(key);
  if (list) list.push(value);
  else map.set(key, [value]);
}
