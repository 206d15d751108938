/**
 * A benchmark client process: holds a slice of the devices' connections with the reference SDK and
 * reports to the orchestrator over IPC. Started by gateway.bench.ts with `ulimit -n` raised.
 */
import { readFileSync } from 'node:fs';
import { WebSocket } from 'ws';
import { HeraldGatewayClient, type WebSocketConstructor } from '@herald/gateway-client';

interface Setup {
  file: string;
  start: number;
  count: number;
  url: string;
  concurrency: number;
  /** Bare `ws` clients that authenticate by header and ack each `msg` at once, instead of the SDK. */
  minimal?: boolean;
}

type Command =
  { cmd: 'connect' } | { cmd: 'stats'; reset?: boolean } | { cmd: 'arm'; expect: number } | { cmd: 'stop' };

const setup = JSON.parse(process.argv[2]) as Setup;
const devices = (JSON.parse(readFileSync(setup.file, 'utf8')) as [string, string][]).slice(
  setup.start,
  setup.start + setup.count,
);
const clients: { stop(): void }[] = [];
let connected = 0;
let closed = 0;
let received = 0;
/** Armed by the orchestrator: the count at which to report the moment the last frame arrived. */
let expectReceived = -1;
let latencies: number[] = [];
const closeCodes: Record<string, number> = {};

const send = (m: unknown) => process.send!(m);

function onMessage(msg: { body: Record<string, unknown> }): void {
  if (++received === expectReceived) {
    expectReceived = -1;
    send({ ev: 'received', at: Date.now() });
  }
  const t0 = msg.body.t0;
  if (typeof t0 === 'number') latencies.push(Date.now() - t0);
}

function closedWith(code: number): void {
  closed++;
  closeCodes[String(code)] = (closeCodes[String(code)] ?? 0) + 1;
}

/** The least a device can do: header auth, and an ack per message as it arrives (no SDK). */
function connectMinimal(rid: string, secret: string): Promise<void> {
  return new Promise<void>((resolve) => {
    const ws = new WebSocket(`${setup.url}?hb=300`, {
      perMessageDeflate: false,
      headers: { Authorization: `Bearer ${rid}:${secret}` },
    });
    let open = false;
    ws.on('message', (data: Buffer) => {
      const frame = JSON.parse(data.toString('utf8')) as {
        t: string;
        id: string;
        body: Record<string, unknown>;
      };
      if (frame.t === 'welcome') {
        open = true;
        connected++;
        resolve();
      } else if (frame.t === 'msg') {
        ws.send(`{"t":"ack","ids":[${JSON.stringify(frame.id)}]}`);
        onMessage(frame);
      }
    });
    ws.on('error', () => undefined);
    ws.on('close', (code: number) => {
      if (open) connected--;
      closedWith(code);
      resolve();
    });
    clients.push({ stop: () => ws.close(1000) });
  });
}

async function connectAll(): Promise<void> {
  let next = 0;
  const one = async () => {
    while (next < devices.length) {
      const [rid, secret] = devices[next++];
      if (setup.minimal) {
        await connectMinimal(rid, secret);
        continue;
      }
      await new Promise<void>((resolve) => {
        let settled = false;
        const settle = () => {
          if (settled) return false;
          settled = true;
          resolve();
          return true;
        };
        const client = new HeraldGatewayClient({
          url: setup.url,
          registrationId: rid,
          secret,
          WebSocket: WebSocket as unknown as WebSocketConstructor,
          auth: 'header',
          reconnect: { enabled: false },
          dedupeSize: 16,
          onMessage,
          onState: (state, detail) => {
            if (state === 'open') {
              connected++;
              settle();
            } else if (state === 'closed') {
              if (!settle()) connected--;
              closedWith(detail?.code ?? 0);
            }
          },
        });
        clients.push(client);
        client.start();
      });
    }
  };
  await Promise.all(Array.from({ length: setup.concurrency }, one));
}

process.on('message', (m: Command) => {
  if (m.cmd === 'connect') {
    void connectAll().then(() => send({ ev: 'connected', connected, closed, closeCodes }));
  } else if (m.cmd === 'arm') {
    received = 0;
    expectReceived = m.expect;
    send({ ev: 'armed' });
  } else if (m.cmd === 'stats') {
    send({ ev: 'stats', connected, closed, received, latencies, closeCodes, rss: process.memoryUsage().rss });
    if (m.reset) {
      received = 0;
      latencies = [];
    }
  } else if (m.cmd === 'stop') {
    for (const c of clients) c.stop();
    setTimeout(() => process.exit(0), 500);
  }
});
process.on('disconnect', () => process.exit(0));
send({ ev: 'ready', devices: devices.length });
