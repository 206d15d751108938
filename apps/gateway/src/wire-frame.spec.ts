import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import { WebSocket, WebSocketServer } from 'ws';
import { canWriteDirect, WireFrame, writeFrame } from './gateway.server';

/**
 * The gateway writes pre-encoded frames straight to the socket through `ws` internals. A real `ws`
 * server and client prove that those internals are still where the gateway looks for them, and that
 * the bytes it writes are frames a standard client reads back exactly.
 */
describe('pre-encoded frames written directly to the socket', () => {
  let server: WebSocketServer;
  let serverSide: WebSocket;
  let client: WebSocket;

  beforeAll(async () => {
    server = new WebSocketServer({ port: 0, host: '127.0.0.1', perMessageDeflate: false });
    await once(server, 'listening');
    const connected = once(server, 'connection');
    client = new WebSocket(`ws://127.0.0.1:${(server.address() as AddressInfo).port}`);
    [serverSide] = (await connected) as [WebSocket];
    await once(client, 'open');
  });
  afterAll(async () => {
    client.terminate();
    await new Promise((resolve) => server.close(resolve));
  });

  it('finds the ws internals it relies on (a ws upgrade that moves them fails here)', () => {
    expect(canWriteDirect(serverSide)).toBe(true);
  });

  it('frames of every length class arrive intact and in order', async () => {
    // Payload lengths with 7-bit, 16-bit and 64-bit length fields, and multi-byte UTF-8.
    const texts = [
      '{"t":"msg"}',
      `{"t":"msg","b":"${'深'.repeat(100)}"}`,
      'x'.repeat(125),
      'y'.repeat(126),
      'z'.repeat(70_000),
    ];
    const received: string[] = [];
    const all = new Promise<void>((resolve) =>
      client.on('message', (data: Buffer, isBinary: boolean) => {
        expect(isBinary).toBe(false);
        received.push(data.toString('utf8'));
        if (received.length === texts.length) resolve();
      }),
    );
    for (const t of texts) writeFrame(serverSide, new WireFrame(t));
    await all;
    expect(received).toEqual(texts);
  });

  it('goes through ws.send once the socket is closing', () => {
    serverSide.close(1001);
    expect(canWriteDirect(serverSide)).toBe(false);
  });
});
