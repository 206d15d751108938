import { createHash } from 'node:crypto';
import type { ChainableCommander, Redis } from 'ioredis';
import { execPerNode, isCluster, keySlot } from '@herald/queue';
import { GatewayKeys } from './gateway.keys';
import {
  ACK_MANY_LUA,
  CLAIM_LUA,
  EXPIRY_OFFSET,
  FETCH_LUA,
  INSERT_MANY_LUA,
  RECALL_LUA,
  REFRESH_MANY_LUA,
  RELEASE_LUA,
  TAKE_RECALLS_LUA,
} from './inbox.scripts';

type ScriptFn = (...args: (string | number)[]) => Promise<unknown>;
type Scripted = Record<string, ScriptFn>;

const SCRIPTS: Record<string, { keys: number; lua: string }> = {
  heraldGwFetch: { keys: 2, lua: FETCH_LUA },
  heraldGwRecall: { keys: 4, lua: RECALL_LUA },
  heraldGwTakeRecalls: { keys: 1, lua: TAKE_RECALLS_LUA },
  heraldGwClaim: { keys: 1, lua: CLAIM_LUA },
  heraldGwRelease: { keys: 2, lua: RELEASE_LUA },
};

/**
 * ioredis' defineCommand sends EVALSHA and falls back to EVAL on NOSCRIPT, in pipelines too, so a
 * Redis restart or failover never breaks the scripts.
 */
export function defineGatewayScripts(redis: Redis): void {
  for (const [name, { keys, lua }] of Object.entries(SCRIPTS)) {
    if (typeof (redis as unknown as Scripted)[name] !== 'function') {
      redis.defineCommand(name, { numberOfKeys: keys, lua });
    }
  }
  // Scripts over many devices: the key count comes with each call (the first argument).
  for (const [name, lua] of [
    ['heraldGwInsertMany', INSERT_MANY_LUA],
    ['heraldGwAckMany', ACK_MANY_LUA],
    ['heraldGwRefreshMany', REFRESH_MANY_LUA],
  ] as const) {
    if (typeof (redis as unknown as Scripted)[name] !== 'function') redis.defineCommand(name, { lua });
  }
}

/** Devices per multi-device script call: bounds how long one call holds Redis. */
const DEVICES_PER_CALL = 250;

/** Claims per presence refresh call (one `PEXPIRE` each: ~1.6 ms of Redis for 1,000 here, bench:gateway-parts). */
const REFRESH_PAGE = 1_000;

/**
 * Pages of at most `DEVICES_PER_CALL` (or `pageSize`) items whose keys share a Redis Cluster slot, so a script over many
 * devices stays legal on a cluster and bounded in time: pages of all items on a single Redis, pages of
 * each slot's on a cluster. Indexes into `items`.
 */
function slotPages<T>(
  redis: Redis,
  items: readonly T[],
  slotKey: (item: T) => string,
  pageSize = DEVICES_PER_CALL,
): number[][] {
  let groups: number[][];
  if (!isCluster(redis)) groups = [items.map((_, i) => i)];
  else {
    const bySlot = new Map<number, number[]>();
    items.forEach((item, i) => {
      const slot = keySlot(slotKey(item));
      const list = bySlot.get(slot);
      if (list) list.push(i);
      else bySlot.set(slot, [i]);
    });
    groups = [...bySlot.values()];
  }
  const pages: number[][] = [];
  for (const group of groups) {
    for (let i = 0; i < group.length; i += pageSize) pages.push(group.slice(i, i + pageSize));
  }
  return pages;
}

/**
 * From this many devices in one insert, the frame is stored once instead of once per inbox: one more
 * command, against a copy of the frame per device.
 */
const SHARED_FROM = 2;

/** A frames-hash value naming a shared frame starts with this (a stored frame is a JSON object). */
const REF = '@';
const REF_CODE = REF.charCodeAt(0);

/**
 * The name of a shared frame: its digest. One message id can have several frames (one per language
 * of an i18n push, sent as separate inserts), so the id alone would not do.
 */
function frameDigest(frame: string): string {
  return createHash('sha1').update(frame).digest('base64url').slice(0, 16);
}

/**
 * The ids of an ack not in `sent` (once each). Usually all of them are in `sent` (a device acks what
 * its connection has in flight): then nothing is allocated.
 */
function otherIds(ids: readonly string[], sent: readonly string[]): readonly string[] {
  if (sent.length === 0) return ids;
  if (sent.length === ids.length && sent.every((id, i) => id === ids[i])) return [];
  const given = new Set(sent);
  return ids.filter((id) => !given.has(id));
}

/** An entry as fetched: `frame` is the frame, or `@<digest>` naming a shared one. */
export interface FetchedEntry {
  id: string;
  frame: string;
}

/** One device's fetched entries with their frames filled in. */
export interface ResolvedFetch {
  entries: FetchedEntry[];
  /** Entries whose shared frame is gone (it cannot be sent): remove them with {@link InboxStore.discard}. */
  lost: string[];
  /** A shared frame could not be read (Redis error): send none of this device's entries now. */
  failed: boolean;
}

/** Key deadlines are rounded up to the hour, so most inserts find them far enough already. */
const KEYS_ROUND_MS = 3_600_000;

const call = (target: Redis, name: string, args: (string | number)[]) =>
  (target as unknown as Scripted)[name](...args);
/** Queues a script call in a pipeline; its reply comes with the pipeline's `exec()`. */
const queue = (pipeline: ChainableCommander, name: string, args: (string | number)[]): void => {
  (pipeline as unknown as Record<string, (...a: (string | number)[]) => unknown>)[name](...args);
};

/** How long the acknowledged-ids set of a device is kept: longer than the longest time to live (10 days). */
export const ACKED_TTL_MS = 11 * 24 * 3600 * 1000;
const RECALL_TTL_MS = ACKED_TTL_MS;

export interface InboxEntry {
  id: string;
  sentAt: number;
  expiresAt: number;
  /** The serialized `msg` frame, without `replaces`. */
  frame: string;
  overrideId?: string;
}

export type InsertReply = [status: 'ok' | 'dup', replaces: number, dropped: string[], expired: string[]];
export type RecallStatus = 'removed' | 'had' | 'none';

/**
 * One device's inbox in Redis: ordered by `sent_at`, idempotent per message id, capped, with expiry.
 * Worker-side writes go through the delivery adapter; gateway nodes fetch and acknowledge.
 */
export class InboxStore {
  readonly keys: GatewayKeys;

  constructor(
    readonly redis: Redis,
    prefix: string,
  ) {
    this.keys = new GatewayKeys(prefix);
    defineGatewayScripts(redis);
  }

  private args(rid: string, n: number): string[] {
    const k = this.keys.device(rid);
    return [k.inbox, k.frames, k.acked, k.recalls].slice(0, n);
  }

  /**
   * One entry into many devices' inboxes: one script call per page of devices (per slot page on a
   * cluster), answering an {@link InsertReply} per device in input order, or the error of its call.
   * With `ring`, nodes holding a device are rung from the same script: one publish per node carrying
   * the frame for the devices that can take it as is, so the node sends it without reading Redis.
   * An insert into several inboxes stores the frame once under its digest (before any inbox refers to
   * it) and the inboxes `@<digest>`; {@link InboxStore.resolveFrames} reads it back.
   */
  async insertMany(
    rids: readonly string[],
    entry: InboxEntry,
    max: number,
    now: number,
    ring: boolean,
  ): Promise<(InsertReply | Error)[]> {
    const out = new Array<InsertReply | Error>(rids.length);
    const groups = slotPages(this.redis, rids, (rid) => this.keys.device(rid).inbox);
    const keysAt = Math.ceil((entry.expiresAt + 60_000) / KEYS_ROUND_MS) * KEYS_ROUND_MS;
    const channel = this.keys.node('');
    const digest = rids.length >= SHARED_FROM ? frameDigest(entry.frame) : '';
    // Written (and awaited) first: an inbox never names a shared frame that is not there yet. It
    // lives as long as the inboxes that hold the entry (every insert of this id has the same expiry).
    if (digest) await this.redis.set(this.keys.frame(entry.id, digest), entry.frame, 'PXAT', keysAt);
    const replies = await execPerNode(
      this.redis,
      groups,
      (group) => this.keys.device(rids[group[0]]).inbox,
      (p, group) => {
        const keys: string[] = [];
        const args: (string | number)[] = [
          now,
          entry.id,
          entry.sentAt,
          EXPIRY_OFFSET + entry.expiresAt,
          entry.frame,
          max,
          entry.overrideId ?? '',
          channel,
          ring ? '1' : '0',
          keysAt,
          digest ? REF + digest : '',
        ];
        for (const i of group) {
          const k = this.keys.device(rids[i]);
          keys.push(k.inbox, k.frames, k.acked, k.presence);
          args.push(rids[i]);
        }
        queue(p, 'heraldGwInsertMany', [keys.length, ...keys, ...args]);
      },
    );
    groups.forEach((group, g) => {
      const [err, reply] = replies[g]?.[0] ?? [new Error('no reply')];
      if (err) {
        for (const i of group) out[i] = err;
        return;
      }
      const [codes, extras] = reply as [number[], (string | number)[]];
      group.forEach((i, j) => {
        const code = codes[j];
        out[i] = [code === 0 ? 'dup' : 'ok', code === 0 ? 0 : code - 1, [], []];
      });
      for (let e = 0; e < extras.length; e += 3) {
        const r = out[group[Number(extras[e]) - 1]] as InsertReply;
        (extras[e + 1] === 'f' ? r[2] : r[3]).push(String(extras[e + 2]));
      }
    });
    return out;
  }

  /** An idempotent insert into one device's inbox (no ring). */
  async insert(rid: string, entry: InboxEntry, max: number, now = Date.now()): Promise<InsertReply> {
    const [reply] = await this.insertMany([rid], entry, max, now, false);
    if (reply instanceof Error) throw reply;
    return reply;
  }

  /**
   * The oldest `count` live entries with their frames, marked as offered. Entries whose shared frame
   * is gone are removed (they could never be sent).
   */
  async fetch(rid: string, count: number, now = Date.now()): Promise<FetchedEntry[]> {
    const [resolved] = await this.resolveFrames([
      InboxStore.decodeFetch(await call(this.redis, 'heraldGwFetch', [...this.args(rid, 2), now, count])),
    ]);
    if (resolved.failed) throw new Error('shared frame read failed');
    await this.discard(rid, resolved.lost);
    return resolved.entries;
  }

  /**
   * Fills in the shared frames of fetched entries (`@<digest>` in a fetch reply): one read per frame
   * not in `cache`, all in one pipeline per Redis node. Per device: its entries in order, the ids
   * whose frame is gone (evicted, or lost with a Redis node) and whether a read failed.
   */
  async resolveFrames(lists: FetchedEntry[][], cache?: SharedFrames): Promise<ResolvedFetch[]> {
    // By reference (`@<digest>`; the frame it names carries the message id): everything this call
    // needs, taken from the cache before any await, since a frame read below may push a cached one out.
    const known = new Map<string, string | null | Error>();
    const missing: FetchedEntry[] = [];
    for (const list of lists) {
      for (const e of list) {
        if (e.frame.charCodeAt(0) !== REF_CODE || known.has(e.frame)) continue;
        const cached = cache?.get(e.frame);
        known.set(e.frame, cached ?? null);
        if (cached === undefined) missing.push(e);
      }
    }
    if (missing.length > 0) {
      const keyOf = (e: FetchedEntry) => this.keys.frame(e.id, e.frame.slice(1));
      const replies = await execPerNode(this.redis, missing, keyOf, (p, e) => p.get(keyOf(e)));
      missing.forEach((e, i) => {
        const [err, frame] = replies[i]?.[0] ?? [new Error('no reply')];
        if (err) known.set(e.frame, err);
        else if (typeof frame === 'string') {
          known.set(e.frame, frame);
          cache?.set(e.frame, frame);
        }
      });
    }
    return lists.map((list) => {
      const out: ResolvedFetch = { entries: [], lost: [], failed: false };
      for (const e of list) {
        if (e.frame.charCodeAt(0) !== REF_CODE) {
          out.entries.push(e);
          continue;
        }
        const frame = known.get(e.frame);
        if (typeof frame === 'string') out.entries.push({ id: e.id, frame });
        else if (frame instanceof Error) out.failed = true;
        else out.lost.push(e.id);
      }
      return out;
    });
  }

  /** Removes entries from a device's inbox without acknowledging them (their frame is gone). */
  async discard(rid: string, ids: readonly string[]): Promise<void> {
    if (ids.length === 0) return;
    const k = this.keys.device(rid);
    await this.redis
      .multi()
      .zrem(k.inbox, ...ids.flatMap((id) => [id, `e:${id}`]))
      .hdel(k.frames, ...ids.flatMap((id) => [id, `o:${id}`]))
      .exec();
  }

  /**
   * Queues a fetch in a pipeline; decode its reply with {@link InboxStore.decodeFetch}, then fill in
   * shared frames with {@link InboxStore.resolveFrames}.
   */
  queueFetch(pipeline: ChainableCommander, rid: string, count: number, now: number): void {
    queue(pipeline, 'heraldGwFetch', [...this.args(rid, 2), now, count]);
  }

  static decodeFetch(reply: unknown): FetchedEntry[] {
    const [flat] = reply as [string[], string[]];
    const out: FetchedEntry[] = [];
    for (let i = 0; i < flat.length; i += 2) out.push({ id: flat[i], frame: flat[i + 1] });
    return out;
  }

  /**
   * Acknowledgements of many devices: one script call per page of devices (per slot page on a
   * cluster). `sent` (optional) are ids the caller knows it sent to the device (in flight on its
   * connection): they count as the device's even when the inbox no longer holds them (pushed out or
   * expired while in flight). Answers per item the acknowledged ids that are the device's — in
   * `sent`, in its inbox, or acknowledged before — or the error of its call; any other id (never sent
   * to this device) stays out of Redis and out of the answer.
   */
  async ackMany(
    items: readonly { rid: string; ids: readonly string[]; sent?: readonly string[] }[],
    now = Date.now(),
  ): Promise<(string[] | Error)[]> {
    const out = new Array<string[] | Error>(items.length);
    const groups = slotPages(this.redis, items, (it) => this.keys.device(it.rid).inbox);
    const replies = await execPerNode(
      this.redis,
      groups,
      (group) => this.keys.device(items[group[0]].rid).inbox,
      (p, group) => {
        const keys: string[] = [];
        const args: (string | number)[] = [now, ACKED_TTL_MS];
        for (const i of group) {
          const { rid, ids, sent = [] } = items[i];
          const k = this.keys.device(rid);
          keys.push(k.inbox, k.frames, k.acked);
          const others = otherIds(ids, sent);
          args.push(sent.length + others.length, sent.length, ...sent, ...others);
        }
        queue(p, 'heraldGwAckMany', [keys.length, ...keys, ...args]);
      },
    );
    groups.forEach((group, g) => {
      const [err, reply] = replies[g]?.[0] ?? [new Error('no reply')];
      group.forEach((i, j) => {
        const sent = items[i].sent ?? [];
        const known = (reply as string[][] | undefined)?.[j] ?? [];
        out[i] = err ?? (known.length === 0 ? [...sent] : [...sent, ...known]);
      });
    });
    return out;
  }

  /** One device's acknowledgements: the ids that are the device's (see {@link InboxStore.ackMany}). */
  async ack(
    rid: string,
    ids: readonly string[],
    now = Date.now(),
    sent?: readonly string[],
  ): Promise<string[]> {
    const [known] = await this.ackMany([{ rid, ids, sent }], now);
    if (known instanceof Error) throw known;
    return known;
  }

  /**
   * Whether `id` was sent to the device as far as Redis remembers: in its inbox, or acknowledged (the
   * newest 256, 11 days). One round trip (both keys carry the device's hash tag).
   */
  async holds(rid: string, id: string): Promise<boolean> {
    const k = this.keys.device(rid);
    const replies = (await this.redis.pipeline().zscore(k.inbox, id).zscore(k.acked, id).exec()) ?? [];
    for (const [err] of replies) if (err) throw err;
    return replies.some(([, score]) => score !== null);
  }

  queueRecall(pipeline: ChainableCommander, rid: string, id: string, now: number): void {
    queue(pipeline, 'heraldGwRecall', [...this.args(rid, 4), now, id, RECALL_TTL_MS]);
  }

  async takeRecalls(rid: string): Promise<string[]> {
    return (await call(this.redis, 'heraldGwTakeRecalls', [this.keys.device(rid).recalls])) as string[];
  }

  /** Entries waiting (for tests and operations): the inbox holds an id and an expiry mark per entry. */
  async size(rid: string): Promise<number> {
    return (await this.redis.zcard(this.keys.device(rid).inbox)) / 2;
  }
}

/**
 * A node's copy of recently read shared frames, by their reference (`@<digest>`: a reconnect storm
 * after a broadcast reads the same frame for every device). Bounded; the oldest read goes first. A
 * reference names its frame's digest, so what is cached never goes stale.
 */
export class SharedFrames {
  private readonly frames = new Map<string, string>();

  constructor(private readonly max = 1_000) {}

  get(ref: string): string | undefined {
    return this.frames.get(ref);
  }

  set(ref: string, frame: string): void {
    if (this.frames.size >= this.max && !this.frames.has(ref)) {
      this.frames.delete(this.frames.keys().next().value as string);
    }
    this.frames.set(ref, frame);
  }

  get size(): number {
    return this.frames.size;
  }
}

export interface PresenceStatus {
  online: boolean;
  /** Now when online; else the end of the last gateway connection, if Redis still remembers it. */
  lastOnlineTime: Date | null;
}

/** How long Redis remembers when a device was last online (the database keeps `last_seen_at` too). */
const SEEN_TTL_MS = 90 * 24 * 3600 * 1000;

/**
 * Device → node routing. A connection claims its device with `<nodeId>|<connId>` and a TTL that the
 * node refreshes while the connection lives, so a crashed node's devices go offline by themselves.
 */
export class PresenceStore {
  readonly keys: GatewayKeys;

  constructor(
    readonly redis: Redis,
    prefix: string,
  ) {
    this.keys = new GatewayKeys(prefix);
    defineGatewayScripts(redis);
  }

  async claim(rid: string, value: string, ttlMs: number): Promise<string | null> {
    return (await call(this.redis, 'heraldGwClaim', [this.keys.device(rid).presence, value, ttlMs])) as
      string | null;
  }

  queueRelease(pipeline: ChainableCommander, rid: string, value: string, now: number): void {
    queue(pipeline, 'heraldGwRelease', this.releaseArgs(rid, value, now));
  }

  async release(rid: string, value: string, now = Date.now()): Promise<void> {
    await call(this.redis, 'heraldGwRelease', this.releaseArgs(rid, value, now));
  }

  private releaseArgs(rid: string, value: string, now: number): (string | number)[] {
    const k = this.keys.device(rid);
    return [k.presence, k.seen, value, now, SEEN_TTL_MS];
  }

  /**
   * Extends many claims in one round trip: one script call per page of devices on a single Redis, one
   * `PEXPIRE` each on a Redis Cluster (where a page would hold about one device). Answers the claims
   * that are gone, for {@link PresenceStore.restore}.
   */
  async refresh<C extends { rid: string }>(claims: readonly C[], ttlMs: number): Promise<C[]> {
    const keys = claims.map((c) => this.keys.device(c.rid).presence);
    if (isCluster(this.redis)) {
      // A script call per slot would carry about one key: plain `PEXPIRE`s, pipelined per master.
      const replies = await execPerNode(
        this.redis,
        keys,
        (key) => key,
        (p, key) => p.pexpire(key, ttlMs),
      );
      // A master that failed its part fails its own keys only (they are tried again next time); all
      // of them failing is an error for the caller to log.
      const failed = replies.filter((r) => r?.[0]?.[0]);
      if (failed.length > 0 && failed.length === replies.length) throw failed[0][0][0] as Error;
      return claims.filter((_, i) => replies[i]?.[0]?.[1] === 0);
    }
    const pages = slotPages(this.redis, keys, (key) => key, REFRESH_PAGE);
    const replies = await execPerNode(
      this.redis,
      pages,
      (page) => keys[page[0]],
      (p, page) => queue(p, 'heraldGwRefreshMany', [page.length, ...page.map((i) => keys[i]), ttlMs]),
    );
    const gone: C[] = [];
    pages.forEach((page, g) => {
      const [err, positions] = replies[g]?.[0] ?? [new Error('no reply')];
      if (err) throw err;
      for (const at of positions as number[]) gone.push(claims[page[at - 1]]);
    });
    return gone;
  }

  /** Puts claims back where nobody holds the device (`SET NX`). Answers how many were put back. */
  async restore(claims: readonly { rid: string; value: string }[], ttlMs: number): Promise<number> {
    if (claims.length === 0) return 0;
    const replies = await execPerNode(
      this.redis,
      claims,
      (c) => this.keys.device(c.rid).presence,
      (p, c) => p.set(this.keys.device(c.rid).presence, c.value, 'PX', ttlMs, 'NX'),
    );
    let restored = 0;
    for (const [[err, ok]] of replies) {
      if (err) throw err;
      if (ok === 'OK') restored++;
    }
    return restored;
  }

  /** The presence value (`<nodeId>|<connId>`) of each device, null when offline. */
  async lookup(rids: string[]): Promise<(string | null)[]> {
    if (rids.length === 0) return [];
    const replies = await execPerNode(
      this.redis,
      rids,
      (rid) => this.keys.device(rid).presence,
      (p, rid) => p.get(this.keys.device(rid).presence),
    );
    return replies.map(([[err, v]]) => {
      if (err) throw err;
      return (v as string | null) ?? null;
    });
  }
}

/**
 * What `/v3/devices/status` needs from the gateway: whether each device holds a connection now, and
 * when it last did. Callers fall back to `devices.last_seen_at` when `lastOnlineTime` is null.
 */
export class PresenceReader {
  private readonly keys: GatewayKeys;

  constructor(
    private readonly redis: Redis,
    prefix: string,
  ) {
    this.keys = new GatewayKeys(prefix);
  }

  async status(rids: string[], now = Date.now()): Promise<Map<string, PresenceStatus>> {
    const out = new Map<string, PresenceStatus>();
    if (rids.length === 0) return out;
    const replies = await execPerNode(
      this.redis,
      rids,
      (rid) => this.keys.device(rid).presence,
      (p, rid) => {
        const k = this.keys.device(rid);
        p.exists(k.presence);
        p.get(k.seen);
      },
    );
    rids.forEach((rid, i) => {
      const [[e1, online], [e2, seen]] = replies[i];
      if (e1) throw e1;
      if (e2) throw e2;
      const isOnline = online === 1;
      const seenMs = Number(seen);
      out.set(rid, {
        online: isOnline,
        lastOnlineTime: isOnline ? new Date(now) : seen && Number.isFinite(seenMs) ? new Date(seenMs) : null,
      });
    });
    return out;
  }
}
