import {
  CloseCode,
  CONNECT_PATH,
  parseServerFrame,
  type MsgFrame,
  type ServerFrame,
} from '@herald/gateway-protocol';
import { HeartbeatPolicy } from './heartbeat.policy';

/** The slice of the WebSocket API this client uses: the browser's, and `ws`'s in Node. */
export interface WebSocketLike {
  readonly readyState: number;
  send(data: string): void;
  close(code?: number, reason?: string): void;
  onopen: ((ev: unknown) => void) | null;
  onmessage: ((ev: { data: unknown }) => void) | null;
  onclose: ((ev: { code: number; reason?: string }) => void) | null;
  onerror: ((ev: unknown) => void) | null;
}
export type WebSocketConstructor = new (url: string, options?: unknown) => WebSocketLike;

export interface HeraldGatewayClientOptions {
  /** The `gateway_url` from registration (`wss://…/v1/connect`); a function is asked on every (re)connect. */
  url: string | (() => string);
  registrationId: string;
  secret: string;
  /** Defaults to the global `WebSocket`; pass `ws` in Node versions without one. */
  WebSocket?: WebSocketConstructor;
  /** `header` sends `Authorization` (Node `ws` only); `hello` (default) works everywhere. */
  auth?: 'hello' | 'header';
  /** Called once per message id; the client acknowledges after it returns (or its promise resolves). */
  onMessage?: (msg: MsgFrame) => void | Promise<void>;
  onRecall?: (id: string) => void;
  /** Connection lifecycle, for logs and UIs. */
  onState?: (state: 'connecting' | 'open' | 'closed', detail?: { code?: number; hb?: number }) => void;
  heartbeat?: {
    /** A previously learned interval (persist `client.heartbeatSeconds` across app restarts). */
    initialSeconds?: number;
    /** false: take the server's `welcome.hb` as is. */
    adaptive?: boolean;
    /** Milliseconds per heartbeat "second"; tests shrink time with it. */
    unitMs?: number;
    /** How long to wait for `pong` before declaring the connection dead. */
    pongTimeoutMs?: number;
  };
  reconnect?: { enabled?: boolean; baseMs?: number; maxMs?: number };
  /** Message ids remembered for de-duplication. */
  dedupeSize?: number;
  sdk?: string;
  /** For tests: the jitter source. */
  random?: () => number;
}

const OPEN = 1;

type Soon = ReturnType<typeof setImmediate> | ReturnType<typeof setTimeout>;
const hasImmediate = typeof (globalThis as { setImmediate?: unknown }).setImmediate === 'function';
/** Runs `fn` after the current turn of the event loop, I/O included. */
const soon = (fn: () => void): Soon => (hasImmediate ? setImmediate(fn) : setTimeout(fn, 0));
const cancelSoon = (h: Soon): void =>
  hasImmediate
    ? clearImmediate(h as ReturnType<typeof setImmediate>)
    : clearTimeout(h as ReturnType<typeof setTimeout>);

/**
 * Reference client of docs/gateway-protocol.md: connects, authenticates, runs the adaptive heartbeat,
 * delivers each message id once to the app and acknowledges it, reports opened/dismissed events and
 * reconnects with exponential backoff and full jitter.
 */
export class HeraldGatewayClient {
  private ws: WebSocketLike | undefined;
  private readonly policy: HeartbeatPolicy;
  private readonly seen = new Set<string>();
  private readonly seenOrder: string[] = [];
  private pendingAcks: string[] = [];
  private ackTimer: Soon | undefined;
  private hbTimer: ReturnType<typeof setTimeout> | undefined;
  private pongTimer: ReturnType<typeof setTimeout> | undefined;
  private reconnectTimer: ReturnType<typeof setTimeout> | undefined;
  private attempt = 0;
  private stopped = true;
  private welcomed = false;
  private serverHb = 0;
  /** The interval the pending ping tests (what a pong proves). */
  private pingSeconds = 0;
  /** Events asked for before `welcome`: sent once the server has authenticated the connection. */
  private early: string[] = [];
  private closingOurselves = false;
  /** Close code of the last connection, for callers and tests. */
  lastCloseCode: number | undefined;

  constructor(private readonly options: HeraldGatewayClientOptions) {
    this.policy = new HeartbeatPolicy(options.heartbeat?.initialSeconds);
  }

  /** The interval this client proposes next; persist it to start there after a restart. */
  get heartbeatSeconds(): number {
    return this.policy.seconds;
  }

  get connected(): boolean {
    return this.welcomed && this.ws?.readyState === OPEN;
  }

  start(): void {
    if (!this.stopped) return;
    this.stopped = false;
    this.connect();
  }

  /** Closes for good (no reconnect). */
  stop(): void {
    this.stopped = true;
    clearTimeout(this.reconnectTimer);
    this.flushAcks();
    this.closeSocket(1000);
  }

  opened(id: string): void {
    this.send({ t: 'event', id, ev: 'opened' });
  }

  dismissed(id: string): void {
    this.send({ t: 'event', id, ev: 'dismissed' });
  }

  private get unit(): number {
    return this.options.heartbeat?.unitMs ?? 1000;
  }

  private connect(): void {
    const Ctor =
      this.options.WebSocket ?? (globalThis as unknown as { WebSocket?: WebSocketConstructor }).WebSocket;
    if (!Ctor) throw new Error('no WebSocket implementation: pass options.WebSocket');
    const url = new URL(typeof this.options.url === 'function' ? this.options.url() : this.options.url);
    if (!url.pathname || url.pathname === '/') url.pathname = CONNECT_PATH;
    const adaptive = this.options.heartbeat?.adaptive !== false;
    if (adaptive) url.searchParams.set('hb', String(this.policy.seconds));
    url.searchParams.set('sdk', this.options.sdk ?? 'herald-js/1');
    const header = this.options.auth === 'header';
    this.welcomed = false;
    this.closingOurselves = false;
    this.options.onState?.('connecting');
    const ws = header
      ? new Ctor(url.toString(), {
          headers: { Authorization: `Bearer ${this.options.registrationId}:${this.options.secret}` },
        })
      : new Ctor(url.toString());
    this.ws = ws;
    ws.onopen = () => {
      if (!header) {
        ws.send(
          JSON.stringify({
            t: 'hello',
            rid: this.options.registrationId,
            secret: this.options.secret,
            ...(adaptive ? { hb: this.policy.seconds } : {}),
            sdk: this.options.sdk ?? 'herald-js/1',
          }),
        );
      }
    };
    ws.onmessage = (ev) => this.onFrame(ev.data);
    ws.onerror = () => undefined;
    ws.onclose = (ev) => this.onClose(ws, ev.code);
  }

  private onFrame(data: unknown): void {
    const text = typeof data === 'string' ? data : String(data);
    const parsed = parseServerFrame(text);
    if (!parsed.ok) return;
    const frame: ServerFrame = parsed.frame;
    switch (frame.t) {
      case 'welcome':
        this.welcomed = true;
        this.attempt = 0;
        this.serverHb = frame.hb;
        this.options.onState?.('open', { hb: frame.hb });
        this.scheduleHeartbeat();
        // What waited for the connection to be authenticated (the server reads nothing else before).
        for (const text of this.early.splice(0)) this.ws?.send(text);
        this.flushAcks();
        return;
      case 'msg':
        this.deliver(frame);
        return;
      case 'recall':
        this.options.onRecall?.(frame.id);
        return;
      case 'pong':
        clearTimeout(this.pongTimer);
        this.pongTimer = undefined;
        this.policy.intervalSurvived(this.pingSeconds);
        return;
      case 'bye':
        return;
    }
  }

  private deliver(frame: MsgFrame): void {
    if (this.seen.has(frame.id)) {
      // A redelivery after a lost ack: acknowledge again so the server stops sending it.
      this.queueAck(frame.id);
      return;
    }
    this.remember(frame.id);
    let handled: void | Promise<void> = undefined;
    try {
      handled = this.options.onMessage?.(frame);
    } catch {
      // The app failed on it; it is still delivered to the device, and acking avoids a redelivery loop.
    }
    // A synchronous handler is acknowledged at once; an async one when its promise settles.
    if (typeof (handled as Promise<void> | undefined)?.then === 'function') {
      (handled as Promise<void>).then(
        () => this.queueAck(frame.id),
        () => this.queueAck(frame.id),
      );
    } else {
      this.queueAck(frame.id);
    }
  }

  private remember(id: string): void {
    const max = this.options.dedupeSize ?? 1000;
    this.seen.add(id);
    this.seenOrder.push(id);
    while (this.seenOrder.length > max) this.seen.delete(this.seenOrder.shift()!);
  }

  /**
   * Acks wait for the rest of what the socket delivered in this turn of the event loop (a burst of
   * frames becomes one `ack`): `setImmediate` where there is one (Node), else a zero timeout.
   */
  private queueAck(id: string): void {
    this.pendingAcks.push(id);
    if (this.pendingAcks.length >= 256) this.flushAcks();
    else this.ackTimer ??= soon(this.flushAcksBound);
  }

  private readonly flushAcksBound = () => this.flushAcks();

  private flushAcks(): void {
    if (this.ackTimer !== undefined) cancelSoon(this.ackTimer);
    this.ackTimer = undefined;
    // Before `welcome` they wait (the welcome flushes them), as the server reads nothing else then.
    while (this.pendingAcks.length > 0 && this.connected) {
      // Message ids are JSON strings already (the frame parsed them), so the ack is assembled as text.
      this.ws!.send(`{"t":"ack","ids":${JSON.stringify(this.pendingAcks.splice(0, 256))}}`);
    }
  }

  private scheduleHeartbeat(): void {
    clearTimeout(this.hbTimer);
    // The server holds us to welcome.hb; the adaptive interval can only be shorter or equal to it
    // within this connection (a longer one is proposed on the next).
    const seconds = Math.min(this.serverHb, this.policy.seconds);
    this.pingSeconds = seconds;
    this.hbTimer = setTimeout(() => {
      if (!this.connected) return;
      this.send({ t: 'ping' });
      const timeout = this.options.heartbeat?.pongTimeoutMs ?? 10_000;
      this.pongTimer = setTimeout(() => this.deadConnection(), timeout);
      this.scheduleHeartbeat();
    }, seconds * this.unit);
  }

  private deadConnection(): void {
    this.policy.lostInsideInterval();
    this.closeSocket(4000);
  }

  /** Sends once the connection is welcomed; before that (still authenticating) the frame waits. */
  private send(frame: object): void {
    if (this.connected) this.ws!.send(JSON.stringify(frame));
    else if (this.ws?.readyState === OPEN && this.early.length < 64) this.early.push(JSON.stringify(frame));
  }

  private closeSocket(code: number): void {
    clearTimeout(this.hbTimer);
    clearTimeout(this.pongTimer);
    const ws = this.ws;
    if (!ws) return;
    this.closingOurselves = true;
    try {
      ws.close(code);
    } catch {
      // Already closing.
    }
  }

  private onClose(ws: WebSocketLike, code: number): void {
    if (ws !== this.ws) return;
    clearTimeout(this.hbTimer);
    clearTimeout(this.pongTimer);
    this.lastCloseCode = code;
    const wasOpen = this.welcomed;
    this.welcomed = false;
    this.options.onState?.('closed', { code });
    const expected = [CloseCode.shutdown, CloseCode.replaced, CloseCode.authFailed, CloseCode.tooSlow, 1000];
    // A drop the server did not announce, on an established connection: the network cut us off.
    if (wasOpen && !this.closingOurselves && !expected.includes(code)) this.policy.lostInsideInterval();
    if (this.stopped || this.options.reconnect?.enabled === false) return;
    // Another instance of this device took over, or the credentials are wrong: retrying cannot help.
    if (code === CloseCode.replaced || code === CloseCode.authFailed) {
      this.stopped = true;
      return;
    }
    const base = this.options.reconnect?.baseMs ?? 1_000;
    const max = this.options.reconnect?.maxMs ?? 300_000;
    const ceiling = code === CloseCode.shutdown ? base : Math.min(max, base * 2 ** this.attempt);
    this.attempt++;
    const delay = Math.floor((this.options.random ?? Math.random)() * ceiling);
    this.reconnectTimer = setTimeout(() => this.connect(), delay);
  }
}
