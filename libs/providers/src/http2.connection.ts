import { connect as netConnect, isIP, type Socket } from 'node:net';
import { connect as tlsConnect, type ConnectionOptions } from 'node:tls';
import { encodeInteger, encodeLiteral, HPACK_INDEX, HpackDecoder, HpackError } from './hpack';

/**
 * One request/response on an `Http2Connection`. The caller owns the object (it can carry its own
 * fields); the connection fills in the response and calls `onDone` once.
 */
export interface Http2Exchange {
  /**
   * HPACK block of every header but `:path`, pseudo-headers first (see `Http2Connection.postPrefix`,
   * `encodeLiteral`); the connection puts `:path` before it.
   */
  headerPrefix: Buffer;
  path: string;
  body: Buffer;
  /** Set by the connection. 0 until the stream opens. */
  streamId: number;
  /** `:status` of the response; 0 when none came. */
  status: number;
  /** The value of the connection's `captureHeader` in the response. */
  captured?: string;
  /** Response body chunks (kept for a status other than 200, and for 200 with `keepOkBodies`). */
  data?: Buffer[];
  /** RST_STREAM error code when the server reset the stream. */
  rstCode?: number;
  /** Why the exchange failed without a full response (connection error, GOAWAY, …). */
  error?: string;
  sendWindow: number;
  bodySent: number;
  cancelled: boolean;
}

export interface Http2ConnectionHandler {
  /** Once per exchange `request()` accepted, unless it was cancelled first. */
  onDone(exchange: Http2Exchange): void;
  /** The connection takes no more requests (GOAWAY, error, closed); later requests need a new one. */
  onRetire(connection: Http2Connection): void;
}

export interface Http2ConnectionOptions {
  /** `https://host:port` (TLS, ALPN h2) or `http://host:port` (h2c: HTTP/2 with prior knowledge). */
  origin: string;
  /** For an `https:` origin; unused for `http:`. */
  tls?: ConnectionOptions;
  /** A response header to keep (e.g. `apns-id`). */
  captureHeader: string;
  /**
   * Keep the bodies of 200 responses too (FCM's carries the message name). Off by default: APNs's 200
   * bodies are empty, and not collecting them keeps that path free of per-response arrays.
   */
  keepOkBodies?: boolean;
}

const FRAME = {
  data: 0,
  headers: 1,
  priority: 2,
  rst: 3,
  settings: 4,
  push: 5,
  ping: 6,
  goaway: 7,
  window: 8,
  cont: 9,
};
const FLAG = { endStream: 0x1, ack: 0x1, endHeaders: 0x4, padded: 0x8, priority: 0x20 };
const ERROR = { none: 0, protocol: 1, compression: 9, cancel: 8 };
const PREFACE = Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n', 'latin1');
const DEFAULT_WINDOW = 65_535;
const MAX_STREAM_ID = 0x7fffffff;
/** Our receive windows: large, so responses (APNs bodies are tiny) rarely need a WINDOW_UPDATE. */
const LOCAL_STREAM_WINDOW = 1 << 20;
const LOCAL_CONNECTION_WINDOW = 16 << 20;
const LOCAL_MAX_FRAME = 16_384;
const WRITE_CHUNK = 64 * 1024;

/**
 * A minimal HTTP/2 client connection (RFC 9113) over TLS (ALPN h2) or, for an `http:` origin, plain
 * TCP with prior knowledge (h2c, for local fakes), for request bursts to one origin: many small
 * POSTs, each answered by headers and at most a small body. It writes every frame produced in one
 * tick with one socket write, keeps no per-stream objects but the caller's exchange, and honours the
 * server's settings (concurrent streams, windows, frame size), flow control, PING, RST_STREAM and
 * GOAWAY. Left out because no APNs or FCM exchange needs them: server push (disabled in our
 * SETTINGS), priorities, trailers' content, and re-opening a stream's receive window (a response body
 * is limited to its initial 1 MB; APNs and FCM bodies are a few hundred bytes at most). Request
 * bodies larger than the peer's windows go out as WINDOW_UPDATEs open them.
 */
export class Http2Connection {
  private readonly socket: Socket;
  private readonly keepOkBodies: boolean;
  private readonly decoder = new HpackDecoder();
  private readonly streams = new Map<number, Http2Exchange>();
  private readonly waiting: Http2Exchange[] = [];
  private waitingHead = 0;
  private blocked: Http2Exchange[] = [];
  private nextStreamId = 1;
  private ready = false;
  private retired = false;
  private destroyed = false;
  private peerMaxStreams = Infinity;
  private peerInitialWindow = DEFAULT_WINDOW;
  private peerMaxFrame = 16_384;
  private sendWindow = DEFAULT_WINDOW;
  private recvConsumed = 0;
  private readonly reader = new FrameReader((type, flags, id, buf, start, end) => {
    this.frame(type, flags, id, buf, start, end);
    return !this.destroyed;
  });
  private continuation?: { id: number; chunks: Buffer[]; endStream: boolean };
  private out = Buffer.allocUnsafe(WRITE_CHUNK);
  private outStart = 0;
  private outEnd = 0;
  private segments: Buffer[] = [];
  private flushQueued = false;
  private decoding?: Http2Exchange;
  private readonly closeWaiters: (() => void)[] = [];
  private readonly flushNow = (): void => this.flush();
  private readonly onHeader = (name: string, value: string): void => {
    const x = this.decoding;
    if (!x) return;
    if (name === ':status') x.status = Number(value);
    else if (name === this.options.captureHeader) x.captured = value;
  };

  constructor(
    private readonly options: Http2ConnectionOptions,
    private readonly handler: Http2ConnectionHandler,
  ) {
    this.keepOkBodies = options.keepOkBodies === true;
    const url = new URL(options.origin);
    const host = url.hostname.replace(/^\[|\]$/g, '');
    if (url.protocol === 'http:') {
      const socket = netConnect({ host, port: Number(url.port || 80) });
      // As Node's http2 does: frames go out when written, not held back by Nagle's algorithm.
      socket.on('connect', () => socket.setNoDelay(true));
      this.socket = socket;
    } else {
      const socket = tlsConnect({
        ...options.tls,
        host,
        port: Number(url.port || 443),
        ...(isIP(host) === 0 && { servername: host }),
        ALPNProtocols: ['h2'],
      });
      socket.on('secureConnect', () => {
        if (socket.alpnProtocol !== 'h2') this.destroy('the server did not negotiate h2');
        else socket.setNoDelay(true);
      });
      this.socket = socket;
    }
    this.socket.on('data', (chunk: Buffer) => this.receive(chunk));
    this.socket.on('error', (err: Error) => this.destroy(err.message));
    this.socket.on('close', () => this.destroy('connection closed'));
    // Preface, our settings (no push, large stream window) and a larger connection window.
    this.reserve(PREFACE.length);
    PREFACE.copy(this.out, this.outEnd);
    this.outEnd += PREFACE.length;
    this.frameHeader(12, FRAME.settings, 0, 0);
    this.setting(2, 0);
    this.setting(4, LOCAL_STREAM_WINDOW);
    this.windowUpdate(0, LOCAL_CONNECTION_WINDOW - DEFAULT_WINDOW);
    this.flush();
  }

  /** The fixed start of a POST header block: `:method`, `:scheme` (https unless h2c) and `:authority`. */
  static postPrefix(authority: string, scheme: 'https' | 'http' = 'https'): Buffer {
    const schemeIndex = scheme === 'http' ? HPACK_INDEX.schemeHttp : HPACK_INDEX.schemeHttps;
    return Buffer.concat([
      Buffer.from([0x80 | HPACK_INDEX.methodPost, 0x80 | schemeIndex]),
      encodeLiteral(HPACK_INDEX.authority, authority),
    ]);
  }

  /** The socket is up and the server's first SETTINGS arrived: requests go on the wire. */
  get connected(): boolean {
    return this.ready && !this.destroyed;
  }

  /** The server's SETTINGS_MAX_CONCURRENT_STREAMS; Infinity until it says (streams beyond it queue here). */
  get peerMaxConcurrentStreams(): number {
    return this.peerMaxStreams;
  }

  get idle(): boolean {
    return this.streams.size === 0 && this.waitingHead === this.waiting.length;
  }

  /** Queues or sends `x`. Returns false (and takes nothing) when the connection is retired. */
  request(x: Http2Exchange): boolean {
    if (this.retired) return false;
    const queued = this.waiting.length - this.waitingHead;
    if (this.nextStreamId + 2 * queued > MAX_STREAM_ID) {
      this.retire();
      this.endIfDone();
      return false;
    }
    if (!this.ready || queued > 0 || this.streams.size >= this.peerMaxStreams) this.waiting.push(x);
    else this.open(x);
    return true;
  }

  /** Abandons `x` (a timeout): resets its stream; `onDone` is not called for it. */
  cancel(x: Http2Exchange): void {
    x.cancelled = true;
    if (x.streamId !== 0 && this.streams.get(x.streamId) === x) {
      this.streams.delete(x.streamId);
      if (!this.destroyed) {
        this.frameHeader(4, FRAME.rst, 0, x.streamId);
        this.u32(ERROR.cancel);
        this.scheduleFlush();
      }
      this.openWaiting();
      this.endIfDone();
    }
  }

  ping(): void {
    if (this.destroyed || !this.ready) return;
    this.frameHeader(8, FRAME.ping, 0, 0);
    this.u32(0);
    this.u32(0);
    this.scheduleFlush();
  }

  /** Lets open streams finish, then says GOAWAY and closes. Queued requests fail. */
  close(): Promise<void> {
    if (this.destroyed) return Promise.resolve();
    const done = new Promise<void>((resolve) => this.closeWaiters.push(resolve));
    this.retire();
    this.failWaiting('connection closing');
    this.endIfDone();
    return done;
  }

  destroy(reason: string): void {
    if (this.destroyed) return;
    this.destroyed = true;
    this.retire();
    const open = [...this.streams.values()];
    this.streams.clear();
    for (const x of open) this.fail(x, reason);
    this.failWaiting(reason);
    this.socket.destroy();
    for (const resolve of this.closeWaiters.splice(0)) resolve();
  }

  // ------------------------------------------------------------------ sending

  private open(x: Http2Exchange): void {
    const id = this.nextStreamId;
    this.nextStreamId += 2;
    x.streamId = id;
    x.sendWindow = this.peerInitialWindow;
    x.bodySent = 0;
    this.streams.set(id, x);
    const prefix = x.headerPrefix;
    const pathBytes = Buffer.byteLength(x.path);
    const pathLenBytes = integerSize(pathBytes, 7);
    const blockLength = prefix.length + 1 + pathLenBytes + pathBytes;
    const empty = x.body.length === 0;
    if (blockLength <= this.peerMaxFrame) {
      this.frameHeader(blockLength, FRAME.headers, FLAG.endHeaders | (empty ? FLAG.endStream : 0), id);
      this.reserve(blockLength);
      this.writeBlock(prefix, x.path, pathBytes);
    } else {
      // Rare: a block larger than a frame goes out as HEADERS + CONTINUATION.
      const block = Buffer.allocUnsafe(blockLength);
      const saved = [this.out, this.outStart, this.outEnd] as const;
      this.out = block;
      this.outEnd = 0;
      this.writeBlock(prefix, x.path, pathBytes);
      [this.out, this.outStart, this.outEnd] = saved;
      for (let at = 0; at < blockLength; at += this.peerMaxFrame) {
        const n = Math.min(this.peerMaxFrame, blockLength - at);
        const last = at + n === blockLength;
        const type = at === 0 ? FRAME.headers : FRAME.cont;
        const flags = (last ? FLAG.endHeaders : 0) | (at === 0 && empty ? FLAG.endStream : 0);
        this.frameHeader(n, type, flags, id);
        this.reserve(n);
        block.copy(this.out, this.outEnd, at, at + n);
        this.outEnd += n;
      }
    }
    if (!empty) this.sendData(x);
    this.scheduleFlush();
  }

  private writeBlock(prefix: Buffer, path: string, pathBytes: number): void {
    const out = this.out;
    let at = this.outEnd;
    // `:path` first: pseudo-headers must precede the prefix's regular fields.
    out[at++] = HPACK_INDEX.path; // literal without indexing, name :path
    if (pathBytes < 0x7f) out[at++] = pathBytes;
    else {
      const bytes: number[] = [];
      encodeInteger(bytes, pathBytes, 7, 0);
      for (const b of bytes) out[at++] = b;
    }
    at += out.write(path, at, 'utf8');
    at += prefix.copy(out, at);
    this.outEnd = at;
  }

  /** Sends what the windows allow of `x`'s body; the rest waits for WINDOW_UPDATE. */
  private sendData(x: Http2Exchange): boolean {
    const body = x.body;
    while (x.bodySent < body.length) {
      const n = Math.min(body.length - x.bodySent, this.peerMaxFrame, this.sendWindow, x.sendWindow);
      if (n <= 0) {
        this.blocked.push(x);
        return false;
      }
      const last = x.bodySent + n === body.length;
      this.frameHeader(n, FRAME.data, last ? FLAG.endStream : 0, x.streamId);
      this.reserve(n);
      body.copy(this.out, this.outEnd, x.bodySent, x.bodySent + n);
      this.outEnd += n;
      x.bodySent += n;
      x.sendWindow -= n;
      this.sendWindow -= n;
    }
    return true;
  }

  private unblock(): void {
    if (this.blocked.length === 0) return;
    const list = this.blocked;
    this.blocked = [];
    for (let i = 0; i < list.length; i++) {
      const x = list[i];
      if (this.streams.get(x.streamId) !== x) continue;
      if (this.sendWindow <= 0) {
        this.blocked.push(...list.slice(i));
        break;
      }
      this.sendData(x);
    }
    this.scheduleFlush();
  }

  private openWaiting(): void {
    if (!this.ready || this.destroyed) return;
    while (this.waitingHead < this.waiting.length && this.streams.size < this.peerMaxStreams) {
      const x = this.waiting[this.waitingHead++];
      if (!x.cancelled) this.open(x);
    }
    if (this.waitingHead === this.waiting.length && this.waitingHead > 0) {
      this.waiting.length = 0;
      this.waitingHead = 0;
    }
  }

  private reserve(n: number): void {
    if (this.outEnd + n <= this.out.length) return;
    if (this.outEnd > this.outStart) this.segments.push(this.out.subarray(this.outStart, this.outEnd));
    this.out = Buffer.allocUnsafe(Math.max(WRITE_CHUNK, n));
    this.outStart = 0;
    this.outEnd = 0;
  }

  private frameHeader(length: number, type: number, flags: number, id: number): void {
    this.reserve(9);
    const out = this.out;
    let at = this.outEnd;
    out[at++] = length >>> 16;
    out[at++] = (length >>> 8) & 0xff;
    out[at++] = length & 0xff;
    out[at++] = type;
    out[at++] = flags;
    out.writeUInt32BE(id, at);
    this.outEnd = at + 4;
  }

  private u32(value: number): void {
    this.reserve(4);
    this.out.writeUInt32BE(value >>> 0, this.outEnd);
    this.outEnd += 4;
  }

  private setting(id: number, value: number): void {
    this.reserve(6);
    this.out.writeUInt16BE(id, this.outEnd);
    this.out.writeUInt32BE(value, this.outEnd + 2);
    this.outEnd += 6;
  }

  private windowUpdate(id: number, increment: number): void {
    this.frameHeader(4, FRAME.window, 0, id);
    this.u32(increment);
  }

  private scheduleFlush(): void {
    if (this.flushQueued) return;
    this.flushQueued = true;
    process.nextTick(this.flushNow);
  }

  /** Everything written since the last flush, in one socket write (or a few, past a chunk). */
  private flush(): void {
    this.flushQueued = false;
    if (this.outEnd > this.outStart) {
      this.segments.push(this.out.subarray(this.outStart, this.outEnd));
      this.outStart = this.outEnd;
    }
    if (this.segments.length === 0) return;
    const segments = this.segments;
    this.segments = [];
    if (this.destroyed) return;
    if (segments.length === 1) this.socket.write(segments[0]);
    else this.socket.write(Buffer.concat(segments));
    // Keep the chunk's tail for the next tick's frames only when it is worth it.
    if (this.out.length - this.outEnd < 1024) {
      this.out = Buffer.allocUnsafe(WRITE_CHUNK);
      this.outStart = 0;
      this.outEnd = 0;
    }
  }

  // ------------------------------------------------------------------ receiving

  private receive(chunk: Buffer): void {
    try {
      if (!this.reader.push(chunk)) this.connectionError(ERROR.protocol, 'frame too large');
    } catch (err) {
      if (err instanceof HpackError) return this.connectionError(ERROR.compression, err.message);
      throw err;
    }
  }

  private frame(type: number, flags: number, id: number, buf: Buffer, start: number, end: number): void {
    if (this.continuation && type !== FRAME.cont) {
      return this.connectionError(ERROR.protocol, 'expected CONTINUATION');
    }
    switch (type) {
      case FRAME.data:
        return this.onDataFrame(flags, id, buf, start, end);
      case FRAME.headers: {
        let at = start;
        let pad = 0;
        if (flags & FLAG.padded) pad = buf[at++];
        if (flags & FLAG.priority) at += 5;
        const block = buf.subarray(at, end - pad);
        const endStream = (flags & FLAG.endStream) !== 0;
        if (flags & FLAG.endHeaders) return this.onHeaderBlock(id, block, endStream);
        this.continuation = { id, chunks: [block], endStream };
        return;
      }
      case FRAME.cont: {
        const c = this.continuation;
        if (!c || c.id !== id) return this.connectionError(ERROR.protocol, 'unexpected CONTINUATION');
        c.chunks.push(buf.subarray(start, end));
        if (flags & FLAG.endHeaders) {
          this.continuation = undefined;
          this.onHeaderBlock(id, Buffer.concat(c.chunks), c.endStream);
        }
        return;
      }
      case FRAME.rst: {
        const x = this.streams.get(id);
        if (x) {
          x.rstCode = buf.readUInt32BE(start);
          this.finish(x);
        }
        return;
      }
      case FRAME.settings:
        if (flags & FLAG.ack) return;
        return this.onSettings(buf, start, end);
      case FRAME.ping:
        if (flags & FLAG.ack) return;
        this.frameHeader(8, FRAME.ping, FLAG.ack, 0);
        this.reserve(8);
        buf.copy(this.out, this.outEnd, start, start + 8);
        this.outEnd += 8;
        this.scheduleFlush();
        return;
      case FRAME.goaway:
        return this.onGoaway(buf.readUInt32BE(start) & MAX_STREAM_ID, buf.readUInt32BE(start + 4));
      case FRAME.window: {
        const increment = buf.readUInt32BE(start) & MAX_STREAM_ID;
        if (id === 0) this.sendWindow += increment;
        else {
          const x = this.streams.get(id);
          if (x) x.sendWindow += increment;
        }
        return this.unblock();
      }
      case FRAME.push:
        return this.connectionError(ERROR.protocol, 'server push is disabled');
      default:
        // PRIORITY and unknown frame types are ignored.
        return;
    }
  }

  private onDataFrame(flags: number, id: number, buf: Buffer, start: number, end: number): void {
    const length = end - start;
    this.recvConsumed += length;
    if (this.recvConsumed >= LOCAL_CONNECTION_WINDOW / 2) {
      this.windowUpdate(0, this.recvConsumed);
      this.recvConsumed = 0;
      this.scheduleFlush();
    }
    const x = this.streams.get(id);
    if (!x) return;
    const pad = flags & FLAG.padded ? buf[start] + 1 : 0;
    if ((x.status !== 200 || this.keepOkBodies) && length > pad) {
      (x.data ??= []).push(buf.subarray(start + (pad > 0 ? 1 : 0), end - (pad > 0 ? pad - 1 : 0)));
    }
    if (flags & FLAG.endStream) this.finish(x);
  }

  private onHeaderBlock(id: number, block: Buffer, endStream: boolean): void {
    const x = this.streams.get(id);
    this.decoding = x;
    this.decoder.decode(block, this.onHeader);
    this.decoding = undefined;
    if (x && endStream) this.finish(x);
  }

  private onSettings(buf: Buffer, start: number, end: number): void {
    for (let at = start; at + 6 <= end; at += 6) {
      const key = buf.readUInt16BE(at);
      const value = buf.readUInt32BE(at + 2);
      if (key === 3) this.peerMaxStreams = value;
      else if (key === 4) {
        const delta = value - this.peerInitialWindow;
        this.peerInitialWindow = value;
        for (const x of this.streams.values()) x.sendWindow += delta;
      } else if (key === 5) this.peerMaxFrame = value;
      // HEADER_TABLE_SIZE: our encoder never indexes. ENABLE_PUSH, MAX_HEADER_LIST_SIZE: nothing to do.
    }
    this.frameHeader(0, FRAME.settings, FLAG.ack, 0);
    this.scheduleFlush();
    this.ready = true;
    this.openWaiting();
    this.unblock();
  }

  private onGoaway(lastStreamId: number, code: number): void {
    this.retire();
    if (code !== ERROR.none) return this.destroy(`GOAWAY with error code ${code}`);
    // Streams above the last one the server will process were never processed: fail them now.
    for (const [id, x] of this.streams) {
      if (id > lastStreamId) {
        this.streams.delete(id);
        this.fail(x, 'stream refused by GOAWAY');
      }
    }
    this.failWaiting('stream refused by GOAWAY');
    this.endIfDone();
  }

  private finish(x: Http2Exchange): void {
    this.streams.delete(x.streamId);
    this.handler.onDone(x);
    this.openWaiting();
    this.endIfDone();
  }

  private fail(x: Http2Exchange, reason: string): void {
    x.error ??= reason;
    this.handler.onDone(x);
  }

  private failWaiting(reason: string): void {
    const queued = this.waiting.splice(this.waitingHead);
    this.waiting.length = 0;
    this.waitingHead = 0;
    for (const x of queued) if (!x.cancelled) this.fail(x, reason);
  }

  private connectionError(code: number, reason: string): void {
    if (this.destroyed) return;
    this.frameHeader(8, FRAME.goaway, 0, 0);
    this.u32(0);
    this.u32(code);
    this.flush();
    this.destroy(`protocol error: ${reason}`);
  }

  private retire(): void {
    if (this.retired) return;
    this.retired = true;
    this.handler.onRetire(this);
  }

  /** A retired connection closes once its last stream is done. */
  private endIfDone(): void {
    if (!this.retired || this.destroyed || !this.idle) return;
    this.frameHeader(8, FRAME.goaway, 0, 0);
    this.u32(0);
    this.u32(ERROR.none);
    this.flush();
    this.socket.end();
    this.destroyed = true;
    this.socket.once('close', () => {
      for (const resolve of this.closeWaiters.splice(0)) resolve();
    });
    if (this.socket.destroyed) for (const resolve of this.closeWaiters.splice(0)) resolve();
  }
}

/**
 * Cuts a byte stream into HTTP/2 frames. Each frame is handed over as `(buf, start, end)` for its
 * payload; `onFrame` returns false to stop reading. A frame split across reads is joined on its own,
 * so the rest of the read is never copied.
 */
export class FrameReader {
  private rest?: Buffer;

  constructor(
    private readonly onFrame: (
      type: number,
      flags: number,
      id: number,
      buf: Buffer,
      start: number,
      end: number,
    ) => boolean,
    private readonly maxFrame = LOCAL_MAX_FRAME,
  ) {}

  /** Returns false, and reads no further, at a frame larger than `maxFrame`. */
  push(chunk: Buffer): boolean {
    let at = 0;
    const rest = this.rest;
    if (rest) {
      this.rest = undefined;
      const head = rest.length >= 9 ? rest : Buffer.concat([rest, chunk.subarray(0, 9 - rest.length)]);
      if (head.length < 9) {
        this.rest = head;
        return true;
      }
      const length = (head[0] << 16) | (head[1] << 8) | head[2];
      if (length > this.maxFrame) return false;
      const need = 9 + length - rest.length;
      if (chunk.length < need) {
        this.rest = Buffer.concat([rest, chunk]);
        return true;
      }
      const frame = Buffer.concat([rest, chunk.subarray(0, need)]);
      if (!this.onFrame(frame[3], frame[4], frame.readUInt32BE(5) & MAX_STREAM_ID, frame, 9, frame.length)) {
        return true;
      }
      at = need;
    }
    while (chunk.length - at >= 9) {
      const length = (chunk[at] << 16) | (chunk[at + 1] << 8) | chunk[at + 2];
      if (length > this.maxFrame) return false;
      if (chunk.length - at - 9 < length) break;
      const start = at + 9;
      at = start + length;
      if (
        !this.onFrame(
          chunk[start - 6],
          chunk[start - 5],
          chunk.readUInt32BE(start - 4) & MAX_STREAM_ID,
          chunk,
          start,
          at,
        )
      ) {
        return true;
      }
    }
    if (at < chunk.length) this.rest = chunk.subarray(at);
    return true;
  }
}

function integerSize(value: number, prefix: number): number {
  const max = (1 << prefix) - 1;
  if (value < max) return 1;
  let n = 2;
  for (let rest = value - max; rest >= 0x80; rest = Math.floor(rest / 0x80)) n += 1;
  return n;
}
