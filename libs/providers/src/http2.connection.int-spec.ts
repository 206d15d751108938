import { testCerts } from '@herald/testing';
import {
  constants,
  createSecureServer,
  createServer,
  type Http2SecureServer,
  type Http2Server,
  type SecureServerOptions,
  type ServerHttp2Session,
  type ServerHttp2Stream,
} from 'node:http2';
import { type AddressInfo, createServer as createNetServer } from 'node:net';
import { encodeLiteral } from './hpack';
import { Http2Connection, type Http2Exchange } from './http2.connection';

/**
 * `Http2Connection` against Node's own HTTP/2 server (nghttp2): the parts of the protocol the fake
 * APNs never exercises — flow control, CONTINUATION, padding, a server's stream limit, resets, pings,
 * GOAWAY with an error.
 */
describe('Http2Connection against a Node HTTP/2 server', () => {
  const certs = testCerts();
  let server: Http2SecureServer;
  let origin: string;
  let onStream: (stream: ServerHttp2Stream, headers: Record<string, string | string[] | undefined>) => void;
  const sessions = new Set<ServerHttp2Session>();
  const connections: Http2Connection[] = [];

  async function start(options: Partial<SecureServerOptions> = {}): Promise<void> {
    server = createSecureServer({ key: certs.key, cert: certs.cert, ...options });
    server.on('stream', (stream, headers) => {
      stream.on('error', () => undefined); // resets the tests provoke
      onStream(stream, headers);
    });
    server.on('session', (s) => {
      sessions.add(s);
      s.on('close', () => sessions.delete(s));
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    origin = `https://127.0.0.1:${(server.address() as AddressInfo).port}`;
  }

  afterEach(async () => {
    await Promise.all(connections.splice(0).map((c) => c.close()));
    for (const s of sessions) s.destroy();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  });

  function connect(to = origin, keepOkBodies?: boolean) {
    const done: Http2Exchange[] = [];
    const retired: Http2Connection[] = [];
    const connection = new Http2Connection(
      { origin: to, tls: { ca: [certs.ca] }, captureHeader: 'x-id', keepOkBodies },
      { onDone: (x) => done.push(x), onRetire: (c) => retired.push(c) },
    );
    connections.push(connection);
    return { connection, done, retired };
  }

  const prefix = (extra: Buffer[] = []) =>
    Buffer.concat([Http2Connection.postPrefix('127.0.0.1'), encodeLiteral('x-topic', 't'), ...extra]);

  function exchange(path: string, body: Buffer, headerPrefix = prefix()): Http2Exchange {
    return { headerPrefix, path, body, streamId: 0, status: 0, sendWindow: 0, bodySent: 0, cancelled: false };
  }

  async function until(predicate: () => boolean, ms = 5000): Promise<void> {
    const end = Date.now() + ms;
    while (!predicate()) {
      if (Date.now() > end) throw new Error('timed out waiting');
      await new Promise((resolve) => setTimeout(resolve, 5));
    }
  }

  /** Answers each request with its path in `x-id` and the body's length and first byte in the body. */
  function echo(status = 200) {
    onStream = (stream, headers) => {
      const chunks: Buffer[] = [];
      stream.on('data', (d: Buffer) => chunks.push(d));
      stream.on('end', () => {
        const body = Buffer.concat(chunks);
        stream.respond({ ':status': status, 'x-id': headers[':path'] as string });
        stream.end(JSON.stringify({ length: body.length, first: body[0], topic: headers['x-topic'] }));
      });
    };
  }

  it('sends bodies larger than the stream and connection windows, waiting for WINDOW_UPDATE', async () => {
    await start({ settings: { initialWindowSize: 1000 } });
    echo(201);
    const { connection, done } = connect();
    const n = 60; // 60 × 5,000 bytes: several times the 65,535-byte connection window
    for (let i = 0; i < n; i++) connection.request(exchange(`/r/${i}`, Buffer.alloc(5000, i)));
    await until(() => done.length === n);
    for (const x of done) {
      const i = Number(x.path.split('/')[2]);
      expect(x).toMatchObject({ status: 201, captured: `/r/${i}` });
      expect(x.error).toBeUndefined();
      expect(JSON.parse(Buffer.concat(x.data ?? []).toString())).toEqual({
        length: 5000,
        first: i,
        topic: 't',
      });
    }
  });

  it('keeps the bodies of 200 responses only when asked to', async () => {
    await start();
    echo(200);
    const plain = connect();
    const keeping = connect(origin, true);
    for (const { connection } of [plain, keeping]) {
      for (let i = 0; i < 20; i++) connection.request(exchange(`/k/${i}`, Buffer.alloc(10, i)));
    }
    await until(() => plain.done.length === 20 && keeping.done.length === 20);
    for (const x of plain.done) {
      expect(x.status).toBe(200);
      expect(x.data).toBeUndefined();
    }
    for (const x of keeping.done) {
      expect(x.status).toBe(200);
      expect(JSON.parse(Buffer.concat(x.data ?? []).toString())).toEqual({
        length: 10,
        first: Number(x.path.split('/')[2]),
        topic: 't',
      });
    }
  });

  it('reads padded frames and Huffman-coded, indexed headers across many responses', async () => {
    await start({ paddingStrategy: constants.PADDING_STRATEGY_MAX });
    onStream = (stream, headers) => {
      stream.respond({ ':status': 410, 'x-id': `id-${headers[':path'] as string}-Zz9` });
      stream.end('{"reason":"Unregistered","timestamp":1700000000000}');
    };
    const { connection, done } = connect();
    for (let i = 0; i < 300; i++) connection.request(exchange(`/p/${i}`, Buffer.from('{}')));
    await until(() => done.length === 300);
    for (const x of done) {
      expect(x.status).toBe(410);
      expect(x.captured).toBe(`id-${x.path}-Zz9`);
      expect(Buffer.concat(x.data ?? []).toString()).toBe(
        '{"reason":"Unregistered","timestamp":1700000000000}',
      );
    }
  });

  it('splits a header block larger than a frame into HEADERS + CONTINUATION', async () => {
    await start({ maxSessionMemory: 64, settings: { maxHeaderListSize: 100_000 } });
    let seen = '';
    onStream = (stream, headers) => {
      seen = headers['x-big'] as string;
      stream.respond({ ':status': 200, 'x-id': 'ok' }, { endStream: true });
    };
    const { connection, done } = connect();
    const big = 'b'.repeat(40_000);
    connection.request(exchange('/big', Buffer.alloc(0), prefix([encodeLiteral('x-big', big)])));
    await until(() => done.length === 1);
    expect(done[0]).toMatchObject({ status: 200, captured: 'ok' });
    expect(seen).toBe(big);
  });

  it('reads large responses: CONTINUATION headers, long paths, megabytes of bodies', async () => {
    await start();
    const longId = 'i'.repeat(30_000);
    const body = Buffer.alloc(700_000, 'z');
    onStream = (stream, headers) => {
      stream.resume();
      stream.respond({
        ':status': 400,
        'x-id': headers[':path'] === '/long' ? longId : headers[':path'],
      });
      stream.end(body);
    };
    const { connection, done } = connect();
    const longPath = `/${'p'.repeat(300)}`;
    connection.request(exchange('/long', Buffer.from('x')));
    connection.request(exchange(longPath, Buffer.from('x')));
    // 14 × 700 kB: past half the 16 MB connection window, so it must be replenished.
    for (let i = 0; i < 12; i++) connection.request(exchange(`/m/${i}`, Buffer.from('x')));
    await until(() => done.length === 14, 20_000);
    expect(done.find((x) => x.path === '/long')?.captured).toBe(longId);
    expect(done.find((x) => x.path === longPath)?.captured).toBe(longPath);
    for (const x of done) expect(Buffer.concat(x.data ?? []).equals(body)).toBe(true);
  });

  it('sends pings the server acknowledges', async () => {
    await start();
    onStream = (stream) => stream.respond({ ':status': 200 }, { endStream: true });
    const { connection, done } = connect();
    connection.request(exchange('/a', Buffer.from('x')));
    await until(() => done.length === 1);
    const [session] = sessions;
    const pinged = new Promise<Buffer>((resolve) => session.once('ping', resolve));
    connection.ping();
    expect((await pinged).length).toBe(8);
  });

  it("queues requests beyond the server's concurrent-stream limit", async () => {
    await start({ settings: { maxConcurrentStreams: 5 } });
    let open = 0;
    let most = 0;
    onStream = (stream) => {
      open += 1;
      most = Math.max(most, open);
      stream.resume();
      stream.on('end', () =>
        setTimeout(() => {
          open -= 1;
          stream.respond({ ':status': 200 }, { endStream: true });
        }, 2),
      );
    };
    const { connection, done } = connect();
    for (let i = 0; i < 100; i++) connection.request(exchange(`/q/${i}`, Buffer.from('x')));
    await until(() => done.length === 100);
    expect(done.every((x) => x.status === 200)).toBe(true);
    expect(most).toBeLessThanOrEqual(5);
  });

  it('reports a reset stream with its code, answers pings, and cancels a stream', async () => {
    await start();
    const held: ServerHttp2Stream[] = [];
    onStream = (stream, headers) => {
      if (headers[':path'] === '/reset') stream.close(constants.NGHTTP2_INTERNAL_ERROR);
      else held.push(stream);
    };
    const { connection, done } = connect();
    connection.request(exchange('/reset', Buffer.from('x')));
    const slow = exchange('/slow', Buffer.from('x'));
    connection.request(slow);
    await until(() => done.length === 1 && held.length === 1);
    expect(done[0]).toMatchObject({ path: '/reset', status: 0, rstCode: constants.NGHTTP2_INTERNAL_ERROR });

    const [session] = sessions;
    const pinged = await new Promise<Error | null>((resolve) => session.ping((err) => resolve(err)));
    expect(pinged).toBeNull();

    const closed = new Promise<number>((resolve) => held[0].on('close', () => resolve(held[0].rstCode)));
    connection.cancel(slow);
    expect(await closed).toBe(constants.NGHTTP2_CANCEL);
    expect(done).toHaveLength(1);
  });

  it('fails every open stream on GOAWAY with an error, and retires', async () => {
    await start();
    onStream = (stream) => {
      stream.resume();
      if (sessions.size > 0) [...sessions][0].goaway(constants.NGHTTP2_INTERNAL_ERROR);
    };
    const { connection, done, retired } = connect();
    connection.request(exchange('/a', Buffer.from('x')));
    await until(() => done.length === 1);
    expect(done[0].error).toMatch(/GOAWAY with error code 2/);
    expect(retired).toEqual([connection]);
    expect(connection.request(exchange('/b', Buffer.from('x')))).toBe(false);
  });

  it('fails queued requests when the server cannot be reached', async () => {
    await start();
    const port = Number(new URL(origin).port);
    await new Promise<void>((resolve) => server.close(() => resolve()));
    const { connection, done, retired } = connect(`https://127.0.0.1:${port}`);
    connection.request(exchange('/a', Buffer.from('x')));
    await until(() => done.length === 1);
    expect(done[0].error).toMatch(/ECONNREFUSED/);
    expect(retired).toEqual([connection]);
    await start(); // for afterEach
  });

  it('retires once stream ids run out, finishing the streams it has', async () => {
    await start();
    onStream = (stream) => {
      stream.resume();
      stream.on('end', () => stream.respond({ ':status': 200 }, { endStream: true }));
    };
    const { connection, done, retired } = connect();
    // A connection that has carried ~1 billion requests: two stream ids left (2^31 - 3 and 2^31 - 1).
    (connection as unknown as { nextStreamId: number }).nextStreamId = 0x7ffffffd;
    expect(connection.request(exchange('/a', Buffer.from('x')))).toBe(true);
    expect(connection.request(exchange('/b', Buffer.from('x')))).toBe(true);
    expect(connection.request(exchange('/c', Buffer.from('x')))).toBe(false);
    expect(retired).toEqual([connection]);
    await until(() => done.length === 2);
    expect(done.map((x) => [x.streamId, x.status])).toEqual([
      [0x7ffffffd, 200],
      [0x7fffffff, 200],
    ]);
    await until(() => sessions.size === 0);
  });

  it('close() lets open streams finish, then ends the connection', async () => {
    await start();
    onStream = (stream) => {
      stream.resume();
      setTimeout(() => stream.respond({ ':status': 200 }, { endStream: true }), 50);
    };
    const { connection, done } = connect();
    connection.request(exchange('/a', Buffer.from('x')));
    await until(() => connection.connected && sessions.size === 1);
    await connection.close();
    expect(done.map((x) => x.status)).toEqual([200]);
    await until(() => sessions.size === 0);
  });
});

/** `Http2Connection` to an `http:` origin: HTTP/2 over plain TCP with prior knowledge (h2c). */
describe('Http2Connection over plain TCP (h2c)', () => {
  let server: Http2Server;
  let origin: string;
  const sessions = new Set<ServerHttp2Session>();
  const connections: Http2Connection[] = [];

  beforeAll(async () => {
    server = createServer();
    server.on('stream', (stream, headers) => {
      stream.on('error', () => undefined);
      const chunks: Buffer[] = [];
      stream.on('data', (d: Buffer) => chunks.push(d));
      stream.on('end', () => {
        const body = Buffer.concat(chunks);
        const path = headers[':path'] as string;
        stream.respond({ ':status': path.startsWith('/missing') ? 404 : 200, 'x-id': path });
        stream.end(JSON.stringify({ scheme: headers[':scheme'], length: body.length, first: body[0] }));
      });
    });
    server.on('session', (s) => {
      sessions.add(s);
      s.on('close', () => sessions.delete(s));
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterEach(() => Promise.all(connections.splice(0).map((c) => c.close())));
  afterAll(async () => {
    for (const s of sessions) s.destroy();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  });

  function connect(to = origin) {
    const done: Http2Exchange[] = [];
    const retired: Http2Connection[] = [];
    const connection = new Http2Connection(
      { origin: to, captureHeader: 'x-id', keepOkBodies: true },
      { onDone: (x) => done.push(x), onRetire: (c) => retired.push(c) },
    );
    connections.push(connection);
    return { connection, done, retired };
  }

  const exchange = (path: string, body: Buffer): Http2Exchange => ({
    headerPrefix: Http2Connection.postPrefix('127.0.0.1', 'http'),
    path,
    body,
    streamId: 0,
    status: 0,
    sendWindow: 0,
    bodySent: 0,
    cancelled: false,
  });

  async function until(predicate: () => boolean, ms = 5000): Promise<void> {
    const end = Date.now() + ms;
    while (!predicate()) {
      if (Date.now() > end) throw new Error('timed out waiting');
      await new Promise((resolve) => setTimeout(resolve, 5));
    }
  }

  it('speaks HTTP/2 with prior knowledge, `:scheme` http, 200 and error bodies kept', async () => {
    const { connection, done } = connect();
    for (let i = 0; i < 50; i++) connection.request(exchange(`/h/${i}`, Buffer.alloc(100, i)));
    connection.request(exchange('/missing', Buffer.from('x')));
    await until(() => done.length === 51);
    expect(connection.connected).toBe(true);
    for (const x of done) {
      const missing = x.path === '/missing';
      expect(x).toMatchObject({ status: missing ? 404 : 200, captured: x.path });
      expect(x.error).toBeUndefined();
      expect(JSON.parse(Buffer.concat(x.data ?? []).toString())).toEqual({
        scheme: 'http',
        length: missing ? 1 : 100,
        first: missing ? 0x78 : Number(x.path.split('/')[2]),
      });
    }
    // Pings work over h2c too: the server sees one.
    const [session] = sessions;
    const pinged = new Promise<Buffer>((resolve) => session.once('ping', resolve));
    connection.ping();
    expect((await pinged).length).toBe(8);
  });

  it('fails queued requests and retires when nothing listens on the port', async () => {
    const probe = createNetServer();
    await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', resolve));
    const port = (probe.address() as AddressInfo).port;
    await new Promise<void>((resolve) => probe.close(() => resolve()));
    const { connection, done, retired } = connect(`http://127.0.0.1:${port}`);
    connection.request(exchange('/a', Buffer.from('x')));
    await until(() => done.length === 1);
    expect(done[0].error).toMatch(/ECONNREFUSED/);
    expect(retired).toEqual([connection]);
  });
});
