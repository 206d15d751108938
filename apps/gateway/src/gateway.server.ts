import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import {
  Inject,
  Injectable,
  Logger,
  type OnApplicationBootstrap,
  type OnModuleDestroy,
} from '@nestjs/common';
import { HttpAdapterHost } from '@nestjs/core';
import type { Redis } from 'ioredis';
import { WebSocket, WebSocketServer, type RawData } from 'ws';
import { HERALD_CONFIG, type HeraldConfig } from '@herald/config';
import {
  CLOSE_CODE_OF,
  CONNECT_PATH,
  HEARTBEAT,
  MAX_IN_FLIGHT,
  negotiateHeartbeat,
  parseBearer,
  parseClientFrame,
  type ByeReason,
  type ClientFrame,
} from '@herald/gateway-protocol';
import { REDIS } from '@herald/platform';
import {
  encodeKick,
  GatewayKeys,
  InboxStore,
  parsePresence,
  PresenceStore,
  SharedFrames,
} from '@herald/providers';
import { heraldMetrics } from '@herald/metrics';
import { closeRedis, createRedis, execPerNode } from '@herald/queue';
import { DeviceAuthService, type AuthedDevice } from './device-auth.service';
import { ReceiptWriter, type ReceiptDevice } from './receipt.writer';

// Label children bound once: counting a frame is then one addition, no label hashing.
const framesIn = new Map(
  (['hello', 'ack', 'event', 'ping'] as const).map((t) => [t, heraldMetrics.gatewayFrames.labels('in', t)]),
);
const framesOut = {
  msg: heraldMetrics.gatewayFrames.labels('out', 'msg'),
  recall: heraldMetrics.gatewayFrames.labels('out', 'recall'),
  welcome: heraldMetrics.gatewayFrames.labels('out', 'welcome'),
  pong: heraldMetrics.gatewayFrames.labels('out', 'pong'),
  bye: heraldMetrics.gatewayFrames.labels('out', 'bye'),
};

/** Frames a client may send while its authentication runs (they wait for it); more is a protocol error. */
const MAX_EARLY_FRAMES = 64;
/**
 * An idle gap of this share of the heartbeat interval, survived, counts as the interval holding (a
 * client pings a little early, as timers and the radio allow).
 */
const HELD_FRACTION = 0.9;

const enum State {
  Pending,
  Open,
  Closed,
}

/**
 * One WebSocket. Kept small on purpose (a node holds hundreds of thousands): no per-connection timers
 * or closures; one sweep per second enforces hello timeouts, heartbeats and slow consumers.
 */
class Connection {
  state = State.Pending;
  device: AuthedDevice | undefined;
  hb = 0;
  proposedHb: number | undefined;
  lastSeen: number;
  readonly openedAt: number;
  /** Message ids sent and not yet acknowledged; null while empty. */
  inflight: Set<string> | null = null;
  /** TTL 0 message ids sent (outside the window) and not yet acknowledged, the newest 64; null while empty. */
  live: Set<string> | null = null;
  pumping = false;
  repump = false;
  /** The in-flight window is full: more may be waiting in the inbox (cleared by a fetch that was not). */
  saturated = false;
  /** A refill is queued behind the ack write that frees the window. */
  refilling = false;
  /** A fetch has completed: everything older in the inbox is in flight, so a rung frame can go as is. */
  primed = false;
  slowSince = 0;
  hbRecorded = false;
  /** Frames that arrived while authentication was running: handled once it succeeds. */
  early: ClientFrame[] | null = null;
  /** The last fetch failed (Redis): the next sweep fetches again, rather than the next ring or ack. */
  retry = false;
  /** When the sweep next extends this device's presence claim (ms since the epoch). */
  presenceDue = 0;
  /**
   * Bumped when something may have been stored without ringing this node (a lapsed claim): a fetch
   * that started before then cannot prime the connection.
   */
  epoch = 0;

  constructor(
    readonly id: string,
    readonly ws: WebSocket,
    now: number,
  ) {
    this.lastSeen = now;
    this.openedAt = now;
  }
}

/**
 * One server → client text frame, encoded once with its WebSocket header (RFC 6455 §5.2: FIN, text
 * opcode, unmasked as a server's frames are) and written to every socket it goes to.
 */
export class WireFrame {
  readonly text: string;
  readonly wire: Buffer;

  constructor(text: string) {
    this.text = text;
    const payload = Buffer.from(text, 'utf8');
    const n = payload.length;
    const header = n < 126 ? Buffer.alloc(2) : n < 65_536 ? Buffer.alloc(4) : Buffer.alloc(10);
    header[0] = 0x81;
    if (n < 126) header[1] = n;
    else if (n < 65_536) {
      header[1] = 126;
      header.writeUInt16BE(n, 2);
    } else {
      header[1] = 127;
      header.writeBigUInt64BE(BigInt(n), 2);
    }
    this.wire = Buffer.concat([header, payload]);
  }
}

interface WsInternals {
  _socket?: { write(chunk: Buffer): boolean };
  _sender?: { _queue?: unknown[]; _state?: number };
}

/**
 * One write of the pre-encoded frame: no per-socket framing, one `write` instead of a `writev`. Goes
 * through `ws` when it holds anything back (it queues only for compression, which is off here), so a
 * frame never overtakes an earlier one.
 */
export function writeFrame(ws: WebSocket, frame: WireFrame): void {
  if (canWriteDirect(ws)) (ws as unknown as Required<WsInternals>)._socket.write(frame.wire);
  else ws.send(frame.text);
}

/**
 * Whether `ws` lets a frame be written straight to its socket now: open, and nothing queued in its
 * sender. Relies on `ws` internals (`_socket`, `_sender._state`, `_sender._queue`); `wire-frame.spec.ts` fails if a
 * `ws` upgrade changes them, rather than the gateway quietly taking the slower path.
 */
export function canWriteDirect(ws: WebSocket): boolean {
  const internals = ws as unknown as WsInternals;
  return (
    ws.readyState === WebSocket.OPEN &&
    typeof internals._socket?.write === 'function' &&
    // ws's sender is idle (its DEFAULT state: nothing being compressed or read) and holds nothing back.
    internals._sender?._state === 0 &&
    internals._sender._queue?.length === 0
  );
}

/** TTL 0 ids a connection remembers as sent, for their acks (a device acks in well under 64 frames). */
const MAX_LIVE = 64;

/**
 * Takes acknowledged ids out of the connection's window and its TTL 0 ids; answers those it held
 * (sent to the device on this connection).
 */
function takeSent(conn: Connection, ids: readonly string[]): string[] {
  const sent: string[] = [];
  if (!conn.inflight && !conn.live) return sent;
  for (const id of ids) if (conn.inflight?.delete(id) || conn.live?.delete(id)) sent.push(id);
  if (conn.inflight?.size === 0) conn.inflight = null;
  if (conn.live?.size === 0) conn.live = null;
  return sent;
}

/** Whether this connection was sent `id` and has not seen it acknowledged. */
const wasSent = (conn: Connection, id: string): boolean => !!(conn.inflight?.has(id) || conn.live?.has(id));

/** The device as the receipt writer records it. */
const receiptDevice = (device: AuthedDevice): ReceiptDevice => ({
  rid: device.registrationId,
  deviceId: device.id,
  appId: device.appId,
});

const CONN = Symbol('herald.connection');
const SERVER = Symbol('herald.gateway');
type Tagged = WebSocket & { [CONN]?: Connection };

/**
 * The `/v1/connect` endpoint of docs/gateway-protocol.md on the gateway app's HTTP server. Inboxes
 * and routing live in Redis; this node holds sockets, the in-flight window and nothing else.
 */
@Injectable()
export class GatewayServer implements OnApplicationBootstrap, OnModuleDestroy {
  private readonly logger = new Logger('gateway');
  private readonly wss: WebSocketServer;
  private readonly inbox: InboxStore;
  private readonly presence: PresenceStore;
  private readonly keys: GatewayKeys;
  private readonly byRid = new Map<string, Connection>();
  /** Shared frames read for fetches (a broadcast's, for every device that comes back for it). */
  private readonly sharedFrames = new SharedFrames();
  private readonly all = new Set<Connection>();
  private readonly nodeId: string;
  private subscriber: Redis | undefined;
  private sweepTimer: NodeJS.Timeout | undefined;
  /**
   * A claim is extended every third of its TTL (the sweep takes it up to half a second early), so one
   * refresh can fail, or the thread stall for most of an interval, before it lapses; one that lapses
   * anyway is put back by the next refresh.
   */
  private readonly presenceEveryMs: number;
  private nextConnId = 0;
  private closing = false;
  private readonly hello: number;
  private readonly grace: number;

  constructor(
    @Inject(HERALD_CONFIG) private readonly config: HeraldConfig,
    @Inject(REDIS) private readonly redis: Redis,
    private readonly adapterHost: HttpAdapterHost,
    private readonly auth: DeviceAuthService,
    private readonly receipts: ReceiptWriter,
  ) {
    const prefix = config.redis.queuePrefix;
    this.inbox = new InboxStore(redis, prefix);
    this.presence = new PresenceStore(redis, prefix);
    this.keys = new GatewayKeys(prefix);
    this.nodeId = config.gateway.nodeId;
    this.hello = config.gateway.helloTimeoutMs;
    this.grace = config.gateway.idleGraceSeconds * 1000;
    this.presenceEveryMs = (config.gateway.presenceTtlSeconds * 1000) / 3;
    // ws closes oversized frames itself with 1009 and no `bye`; its cap sits above the contract's so
    // frames up to the hard cap get the contract's 4004 from us instead.
    this.wss = new WebSocketServer({
      noServer: true,
      maxPayload: Math.max(config.gateway.maxFrameBytes * 4, 262_144),
      perMessageDeflate: false,
      clientTracking: false,
    });
  }

  get connectionCount(): number {
    return this.all.size;
  }

  async onApplicationBootstrap(): Promise<void> {
    this.subscriber = createRedis(this.config.redis, 'worker', `herald-gateway-${this.nodeId}`);
    this.subscriber.on('messageBuffer', (_channel: Buffer, message: Buffer) =>
      this.onRing(message.toString('utf8')),
    );
    await this.subscriber.subscribe(this.keys.node(this.nodeId));
    const server = this.adapterHost.httpAdapter.getHttpServer() as import('node:http').Server;
    server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) =>
      this.onUpgrade(req, socket, head),
    );
    this.sweepTimer = setInterval(() => this.sweep(), 1_000);
    this.sweepTimer.unref();
  }

  /** Graceful shutdown: `bye shutdown` + 1001 to every client, presence cleared, receipts written. */
  async onModuleDestroy(): Promise<void> {
    this.closing = true;
    clearInterval(this.sweepTimer);
    const conns = [...this.all];
    const closed = conns.map(
      (c) =>
        new Promise<void>((resolve) =>
          c.ws.readyState === WebSocket.CLOSED ? resolve() : c.ws.once('close', () => resolve()),
        ),
    );
    for (const c of conns) this.bye(c, 'shutdown');
    await Promise.race([Promise.all(closed), new Promise((r) => setTimeout(r, 2_000).unref())]);
    for (const c of conns) if (c.ws.readyState !== WebSocket.CLOSED) c.ws.terminate();
    await this.releaseAll(conns);
    await this.receipts.flush();
    if (this.subscriber) await closeRedis(this.subscriber);
    this.wss.close();
  }

  private onUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer): void {
    const url = new URL(req.url ?? '/', 'http://gateway');
    if (url.pathname !== CONNECT_PATH || this.closing) {
      socket.end(
        `HTTP/1.1 ${this.closing ? '503 Service Unavailable' : '404 Not Found'}\r\nConnection: close\r\n\r\n`,
      );
      return;
    }
    this.wss.handleUpgrade(req, socket, head, (ws) => this.onConnection(ws, req, url));
  }

  private onConnection(ws: Tagged, req: IncomingMessage, url: URL): void {
    const conn = new Connection((this.nextConnId++).toString(36), ws, Date.now());
    ws[CONN] = conn;
    this.all.add(conn);
    ws.on('message', onMessage);
    ws.on('ping', onActivity);
    ws.on('pong', onActivity);
    ws.on('close', onClose);
    ws.on('error', onError);
    (ws as unknown as { [SERVER]: GatewayServer })[SERVER] = this;
    const hb = Number(url.searchParams.get('hb'));
    if (Number.isFinite(hb) && hb > 0) conn.proposedHb = hb;
    const bearer = parseBearer(req.headers.authorization);
    if (bearer) void this.authenticate(conn, bearer.rid, bearer.secret);
  }

  handleMessage(conn: Connection, data: RawData, isBinary: boolean): void {
    this.seen(conn);
    const size = Array.isArray(data) ? data.reduce((n, b) => n + b.length, 0) : data.byteLength;
    if (isBinary || size > this.config.gateway.maxFrameBytes) return this.bye(conn, 'protocol_error');
    const text = Array.isArray(data)
      ? Buffer.concat(data).toString('utf8')
      : Buffer.isBuffer(data)
        ? data.toString('utf8')
        : Buffer.from(data).toString('utf8');
    const parsed = parseClientFrame(text);
    // A bad frame is a protocol error whenever it comes (contract: 4004), not an authentication failure.
    if (!parsed.ok) return this.bye(conn, 'protocol_error');
    const frame: ClientFrame = parsed.frame;
    framesIn.get(frame.t)?.inc();
    if (conn.state === State.Pending) {
      if (frame.t === 'hello') {
        // The header's credentials (or an earlier hello's) are being checked: this hello may still
        // propose the heartbeat, as the contract lets it.
        if (typeof frame.hb === 'number' && frame.hb > 0) conn.proposedHb = frame.hb;
        if (!conn.device) void this.authenticate(conn, frame.rid, frame.secret);
        return;
      }
      // Without credentials the first frame must be hello.
      if (!conn.device) return this.bye(conn, 'auth_failed');
      // Authentication is running (a slow lookup): what the client sends meanwhile waits for it.
      if ((conn.early ??= []).length >= MAX_EARLY_FRAMES) return this.bye(conn, 'protocol_error');
      conn.early.push(frame);
      return;
    }
    if (conn.state !== State.Open) return;
    this.handleFrame(conn, frame);
  }

  /**
   * The client's activity: a frame or a WebSocket ping. A frame after an idle gap of about the
   * heartbeat interval is the interval holding (the connection survived it): the node records it once
   * per connection as the interval to propose next time.
   */
  seen(conn: Connection): void {
    const now = Date.now();
    if (
      conn.state === State.Open &&
      !conn.hbRecorded &&
      now - conn.lastSeen >= conn.hb * 1000 * HELD_FRACTION
    ) {
      this.recordHeartbeat(conn);
    }
    conn.lastSeen = now;
  }

  private handleFrame(conn: Connection, frame: ClientFrame): void {
    const device = conn.device!;
    switch (frame.t) {
      case 'ack': {
        // What this connection was sent counts even if the inbox no longer holds it (dropped meanwhile).
        const written = this.receipts.ack(receiptDevice(device), frame.ids, takeSent(conn, frame.ids));
        // Only a full window can hide waiting messages (anything new rings us); refill it once the acks
        // are out of the inbox, or the fetch would return them again.
        if (conn.saturated && !conn.refilling) {
          conn.refilling = true;
          void written.then(() => {
            conn.refilling = false;
            return this.pump(conn);
          });
        }
        return;
      }
      case 'event':
        this.receipts
          .event(receiptDevice(device), frame.id, frame.ev, wasSent(conn, frame.id))
          .catch((err: unknown) => this.logger.error({ err }, 'event write failed'));
        return;
      case 'ping':
        conn.ws.send('{"t":"pong"}');
        framesOut.pong.inc();
        return;
      case 'hello':
        // Already authenticated by header; a redundant hello changes nothing.
        return;
    }
  }

  private async authenticate(conn: Connection, rid: string, secret: string): Promise<void> {
    // Marks "in progress" so a second hello is ignored; replaced with the real device below.
    conn.device = { id: '', appId: '', registrationId: rid, stableHeartbeat: null };
    let device: AuthedDevice | null;
    try {
      device = await this.auth.verify(rid, secret);
    } catch (err) {
      this.logger.error({ err }, 'device lookup failed');
      // Not the client's fault: 1013 "try again later" (the SDK reconnects with backoff), never 4001,
      // after which a client gives up for good.
      if (conn.state === State.Pending) this.closeRetryLater(conn);
      return;
    }
    if (conn.state !== State.Pending) return;
    if (!device) {
      conn.device = undefined;
      conn.early = null;
      return this.bye(conn, 'auth_failed');
    }
    conn.device = device;
    conn.hb = negotiateHeartbeat(
      conn.proposedHb,
      device.stableHeartbeat,
      this.config.gateway.minHeartbeatSeconds,
    );
    const local = this.byRid.get(rid);
    if (local && local !== conn) this.bye(local, 'replaced');
    this.byRid.set(rid, conn);
    conn.state = State.Open;
    conn.lastSeen = Date.now();
    // The first refresh falls anywhere in the second half of the interval, so connections opened
    // together (a node's restart) do not refresh together ever after.
    conn.presenceDue = conn.lastSeen + this.presenceEveryMs * (0.5 + Math.random() / 2);
    conn.ws.send(JSON.stringify({ t: 'welcome', hb: conn.hb, server_time: Date.now() }));
    framesOut.welcome.inc();
    const early = conn.early;
    conn.early = null;
    if (early) for (const frame of early) this.handleFrame(conn, frame);
    heraldMetrics.gatewayConnections.inc();
    heraldMetrics.gatewayConnectionsOpened.inc();
    this.receipts.touch(device.id);
    try {
      const previous = parsePresence(
        await this.presence.claim(
          rid,
          this.presenceValue(conn),
          this.config.gateway.presenceTtlSeconds * 1000,
        ),
      );
      if (previous && !(previous.nodeId === this.nodeId && previous.connId === conn.id)) {
        if (previous.nodeId !== this.nodeId) {
          await this.redis.publish(this.keys.node(previous.nodeId), encodeKick(rid, previous.connId));
        }
      }
      await this.deliverRecalls(conn);
      await this.pump(conn);
    } catch (err) {
      this.logger.error({ err }, 'connection setup failed');
      // Nothing fetched yet: the sweep tries again (the claim itself is put back by the refresh).
      if (conn.state === State.Open) this.fetchFailed(conn);
    }
  }

  private presenceValue(conn: Connection): string {
    return `${this.nodeId}|${conn.id}`;
  }

  private pump(conn: Connection): Promise<void> {
    return this.pumpMany([conn]);
  }

  /**
   * Sends inbox entries in `sent_at` order while fewer than 32 are unacknowledged. A ring names many
   * devices at once, so their fetches go to Redis in one pipeline (one write, one read) rather than
   * one round trip each.
   */
  private async pumpMany(candidates: Iterable<Connection>): Promise<void> {
    const batch: Connection[] = [];
    for (const conn of candidates) {
      if (conn.pumping) conn.repump = true;
      else if (conn.state === State.Open && (conn.inflight?.size ?? 0) < MAX_IN_FLIGHT) batch.push(conn);
    }
    if (batch.length === 0) return;
    for (const conn of batch) {
      conn.pumping = true;
      conn.repump = false;
    }
    const again: Connection[] = [];
    // What each connection had in flight when its fetch was queued: those entries went out before, so
    // the fetch needs none of their frames, and one acknowledged while the fetch ran is not "lost".
    const sent = batch.map((conn) => (conn.inflight ? new Set(conn.inflight) : null));
    const epochs = batch.map((conn) => conn.epoch);
    try {
      const now = Date.now();
      // One pipeline per Redis Cluster node (one in all on a single Redis): keys of many devices.
      const replies = await execPerNode(
        this.redis,
        batch,
        (conn) => this.keys.device(conn.device!.registrationId).inbox,
        (p, conn) =>
          this.inbox.queueFetch(
            p,
            conn.device!.registrationId,
            MAX_IN_FLIGHT + (conn.inflight?.size ?? 0),
            now,
          ),
      );
      const fetched = await this.inbox.resolveFrames(
        batch.map((conn, i) => {
          const [err, reply] = replies[i]?.[0] ?? [new Error('no reply')];
          if (err) return [];
          const entries = InboxStore.decodeFetch(reply);
          const before = sent[i];
          return before ? entries.filter((e) => !before.has(e.id)) : entries;
        }),
        this.sharedFrames,
      );
      const discards: Promise<void>[] = [];
      batch.forEach((conn, i) => {
        const [err] = replies[i]?.[0] ?? [new Error('no reply')];
        const { entries, lost, failed } = fetched[i];
        if (lost.length > 0) discards.push(this.discardLost(conn, lost));
        // A failed read sends nothing of this device now (a later one would overtake it); the next
        // sweep fetches again, as after a failed fetch.
        if (conn.state !== State.Open) return;
        if (err || failed) return this.fetchFailed(conn);
        conn.retry = false;
        for (const e of entries) {
          const set = (conn.inflight ??= new Set());
          if (set.size >= MAX_IN_FLIGHT) break;
          if (set.has(e.id)) continue;
          set.add(e.id);
          this.sendRaw(conn, e.frame);
          framesOut.msg.inc();
        }
        // A fetch asks for a full window beyond what is in flight: if it did not fill it, nothing older
        // is waiting.
        conn.saturated = (conn.inflight?.size ?? 0) >= MAX_IN_FLIGHT;
        // Stale if a lapsed claim was found while it ran: fetch again rather than prime.
        if (conn.epoch === epochs[i]) conn.primed = true;
        else conn.repump = true;
      });
      await Promise.all(discards);
    } catch (err) {
      this.logger.error({ err }, 'inbox fetch failed');
      for (const conn of batch) if (conn.state === State.Open) this.fetchFailed(conn);
    } finally {
      for (const conn of batch) {
        conn.pumping = false;
        if (conn.repump) again.push(conn);
      }
    }
    if (again.length > 0) await this.pumpMany(again);
  }

  /**
   * Nothing of the fetch was sent. Until a fetch succeeds, new entries go through the inbox too (not
   * primed: a rung frame would overtake the unsent ones), a full window refills on its next ack
   * (saturated), and the sweep fetches again every second (retry).
   */
  private fetchFailed(conn: Connection): void {
    conn.primed = false;
    conn.saturated = true;
    conn.retry = true;
  }

  /**
   * Entries whose shared frame is gone can never be sent: they leave the inbox (not acknowledged), the
   * ledger records them failed (`frame_lost`), and the device fetches again, since they took places in
   * its window.
   */
  private async discardLost(conn: Connection, ids: string[]): Promise<void> {
    const device = conn.device!;
    const rid = device.registrationId;
    this.logger.warn({ rid, ids }, 'inbox entries dropped: their shared frame is gone');
    try {
      await this.inbox.discard(rid, ids);
    } catch (err) {
      this.logger.error({ err, rid }, 'inbox discard failed');
      conn.retry = true;
      return;
    }
    conn.repump = true;
    this.receipts.frameLost(receiptDevice(device), ids);
  }

  private async deliverRecalls(conn: Connection): Promise<void> {
    const ids = await this.inbox.takeRecalls(conn.device!.registrationId);
    if (conn.state !== State.Open) return;
    for (const id of ids) {
      conn.inflight?.delete(id);
      this.sendRaw(conn, JSON.stringify({ t: 'recall', id }));
      framesOut.recall.inc();
    }
  }

  /** A text frame; a {@link WireFrame} (one message to many devices) is written to the socket as is. */
  private sendRaw(conn: Connection, frame: string | WireFrame): void {
    if (typeof frame === 'string') conn.ws.send(frame);
    else writeFrame(conn.ws, frame);
    if (conn.ws.bufferedAmount > this.config.gateway.slowBytes && conn.slowSince === 0)
      conn.slowSince = Date.now();
  }

  private onRing(message: string): void {
    const nl = message.indexOf('\n');
    const op = message.slice(0, nl);
    const rest = message.slice(nl + 1);
    if (op === 'l') {
      const { rids, frame } = JSON.parse(rest) as { rids: string[]; frame: string };
      const { id } = JSON.parse(frame) as { id: string };
      for (const rid of rids) {
        const conn = this.byRid.get(rid);
        if (conn?.state === State.Open) {
          this.sendRaw(conn, frame);
          framesOut.msg.inc();
          // Not in the inbox: the node remembers it was sent, so the device's ack counts.
          const live = (conn.live ??= new Set());
          live.add(id);
          if (live.size > MAX_LIVE) live.delete(live.values().next().value as string);
        }
      }
      return;
    }
    if (op === 'k') {
      const [rid, connId] = rest.split('\n');
      const conn = this.byRid.get(rid);
      if (conn && conn.id === connId) this.bye(conn, 'replaced');
      return;
    }
    if (op === 'm') return this.onPush(rest);
    const rung: Connection[] = [];
    for (const rid of rest.split('\n')) {
      const conn = this.byRid.get(rid);
      if (conn?.state !== State.Open) continue;
      if (op === 'c') {
        this.deliverRecalls(conn)
          .then(() => this.pump(conn))
          .catch((err: unknown) => this.logger.error({ err }, 'recall failed'));
      } else {
        rung.push(conn);
      }
    }
    if (rung.length > 0) void this.pumpMany(rung);
  }

  /**
   * `m\n<id>\n<frame>\n<rid>…`: a new inbox entry, the same frame for every listed device. A
   * connection whose older entries are all in flight takes it as is: encoded once, no Redis read. One
   * that is still on its first fetch, or fetching, reads the inbox instead (order by `sent_at`); one
   * with a full window leaves it there for the refill that its next ack brings.
   */
  private onPush(rest: string): void {
    const a = rest.indexOf('\n');
    const b = rest.indexOf('\n', a + 1);
    const id = rest.slice(0, a);
    let data: WireFrame | undefined;
    let sent = 0;
    const rung: Connection[] = [];
    let from = b + 1;
    while (from < rest.length) {
      let to = rest.indexOf('\n', from);
      if (to < 0) to = rest.length;
      const conn = this.byRid.get(rest.slice(from, to));
      from = to + 1;
      if (conn?.state !== State.Open) continue;
      if (!conn.primed || conn.pumping) {
        rung.push(conn);
        continue;
      }
      if (conn.saturated) continue;
      const set = (conn.inflight ??= new Set());
      if (set.has(id)) continue;
      if (set.size >= MAX_IN_FLIGHT) {
        conn.saturated = true;
        continue;
      }
      set.add(id);
      this.sendRaw(conn, (data ??= new WireFrame(rest.slice(a + 1, b))));
      sent++;
    }
    if (sent > 0) framesOut.msg.inc(sent);
    if (rung.length > 0) void this.pumpMany(rung);
  }

  /** `bye` then the matching close code; at most once per connection. */
  bye(conn: Connection, reason: ByeReason): void {
    if (conn.state === State.Closed) return;
    const wasOpen = conn.state === State.Open;
    conn.state = State.Closed;
    if (wasOpen || conn.device) this.detach(conn, reason === 'shutdown' ? 1001 : CLOSE_CODE_OF[reason]);
    if (conn.ws.readyState === WebSocket.OPEN) {
      conn.ws.send(`{"t":"bye","reason":"${reason}"}`);
      framesOut.bye.inc();
      conn.ws.close(CLOSE_CODE_OF[reason]);
    }
    if (reason === 'too_slow') {
      // The close frame waits behind the unread data; do not hold the socket forever.
      setTimeout(() => conn.ws.terminate(), 10_000).unref();
    }
  }

  /**
   * Closes a connection whose authentication could not be checked (the database failed): 1013 "try
   * again later", without a `bye` (its reasons are the contract's, and this is none of them).
   */
  private closeRetryLater(conn: Connection): void {
    conn.state = State.Closed;
    conn.early = null;
    if (conn.ws.readyState === WebSocket.OPEN) conn.ws.close(1013, 'try again later');
  }

  handleClose(conn: Connection, code: number): void {
    this.all.delete(conn);
    if (conn.state !== State.Closed) {
      conn.state = State.Closed;
      this.detach(conn, code);
    }
  }

  /** Forgets a connection locally and in Redis; records the heartbeat that held. */
  private detach(conn: Connection, code: number): void {
    const device = conn.device;
    if (!device || !device.id) return;
    heraldMetrics.gatewayConnections.dec();
    heraldMetrics.gatewayConnectionsClosed.inc({ code: String(code) });
    if (this.byRid.get(device.registrationId) === conn) this.byRid.delete(device.registrationId);
    this.receipts.touch(device.id);
    if (!this.closing) {
      this.presence
        .release(device.registrationId, this.presenceValue(conn))
        .catch((err: unknown) => this.logger.error({ err }, 'presence release failed'));
    }
  }

  private recordHeartbeat(conn: Connection): void {
    const device = conn.device!;
    conn.hbRecorded = true;
    // Stored within the contract's bounds (the column enforces them) even when a test lowers the floor.
    const hb = Math.min(HEARTBEAT.max, Math.max(HEARTBEAT.min, conn.hb));
    if (conn.proposedHb === undefined || device.stableHeartbeat === hb) return;
    device.stableHeartbeat = hb;
    this.auth.rememberHeartbeat(device.registrationId, hb);
    this.receipts.stableHeartbeat(device.id, hb);
  }

  private sweep(): void {
    const now = Date.now();
    const { slowBytes, slowGraceMs } = this.config.gateway;
    const retry: Connection[] = [];
    const refresh: { rid: string; conn: Connection }[] = [];
    for (const conn of this.all) {
      // Cleared only by a fetch that succeeds (a full window is skipped, and asked again next time).
      if (conn.retry && conn.state === State.Open) retry.push(conn);
      if (conn.state === State.Pending) {
        // No credentials in time; a lookup still running (conn.device set) is not the client's delay.
        if (!conn.device && now - conn.openedAt > this.hello) this.bye(conn, 'auth_failed');
        continue;
      }
      if (conn.state !== State.Open) continue;
      if (now - conn.lastSeen > 2 * conn.hb * 1000 + this.grace) {
        this.bye(conn, 'idle');
        continue;
      }
      if (conn.ws.bufferedAmount > slowBytes) {
        if (conn.slowSince === 0) conn.slowSince = now;
        else if (now - conn.slowSince > slowGraceMs) {
          this.bye(conn, 'too_slow');
          continue;
        }
      } else {
        conn.slowSince = 0;
      }
      // Half a second early rather than a whole sweep late; each connection keeps its own phase, so
      // the refreshes stay spread however late a sweep runs.
      if (conn.presenceDue <= now + 500) {
        do conn.presenceDue += this.presenceEveryMs;
        while (conn.presenceDue <= now + 500);
        refresh.push({ rid: conn.device!.registrationId, conn });
      }
    }
    if (retry.length > 0) void this.pumpMany(retry);
    // The claims due this second: each device's once per interval, spread over it, so a node never
    // stops for all of its devices at once.
    if (refresh.length > 0) void this.refreshPresence(refresh);
  }

  /**
   * Extends the claims; one that lapsed (refreshes missed, or the claim at connect failed) is put back
   * if its connection is still open here, and the connection fetches what was stored meanwhile (those
   * messages rang no node). A connection that closed meanwhile released its own claim and gets none
   * back.
   */
  private async refreshPresence(claims: { rid: string; conn: Connection }[]): Promise<void> {
    const ttl = this.config.gateway.presenceTtlSeconds * 1000;
    try {
      const gone = await this.presence.refresh(claims, ttl);
      const open = gone.map((c) => c.conn).filter((conn) => conn.state === State.Open);
      if (open.length === 0) return;
      // Messages stored while the claim was gone rang nobody: until a fetch that starts after this has
      // sent them, newer ones go through the inbox too (not primed; a fetch already running cannot
      // prime it), and that fetch starts once the claim is back.
      for (const conn of open) {
        conn.primed = false;
        conn.epoch++;
      }
      const restored = await this.presence.restore(
        open.map((conn) => ({ rid: conn.device!.registrationId, value: this.presenceValue(conn) })),
        ttl,
      );
      this.logger.warn({ lapsed: open.length, restored }, 'lapsed presence claims put back');
      await this.pumpMany(open);
    } catch (err) {
      this.logger.error({ err, devices: claims.length }, 'presence refresh failed');
    }
  }

  private async releaseAll(conns: Connection[]): Promise<void> {
    const now = Date.now();
    const held = conns.filter((c) => c.device?.id);
    for (let i = 0; i < held.length; i += 5000) {
      await execPerNode(
        this.redis,
        held.slice(i, i + 5000),
        (c) => this.keys.device(c.device!.registrationId).presence,
        (p, c) => this.presence.queueRelease(p, c.device!.registrationId, this.presenceValue(c), now),
      ).catch((err: unknown) => this.logger.error({ err }, 'presence release failed'));
    }
  }
}

type Bound = Tagged & { [SERVER]: GatewayServer };

// Shared listeners (`this` is the socket) instead of per-connection closures: memory per idle socket.
function onMessage(this: WebSocket, data: RawData, isBinary: boolean) {
  const ws = this as Bound;
  const conn = ws[CONN];
  if (conn) ws[SERVER].handleMessage(conn, data, isBinary);
}
function onActivity(this: WebSocket) {
  const ws = this as Bound;
  const conn = ws[CONN];
  if (conn) ws[SERVER].seen(conn);
}
function onClose(this: WebSocket, code: number) {
  const ws = this as Bound;
  const conn = ws[CONN];
  if (conn) ws[SERVER].handleClose(conn, code);
}
function onError() {
  // A socket error is followed by `close`; nothing to add.
}
