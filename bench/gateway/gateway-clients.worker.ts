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
}

type Command =
  { cmd: 'connect' } | { cmd: 'stats'; reset?: boolean } | { cmd: 'arm'; expect: number } | { cmd: 'stop' };

const setup = JSON.parse(process.argv[2]) as Setup;
const devices = (JSON.parse(readFileSync(setup.file, 'utf8')) as [string, string][]).slice(
  setup.start,
  setup.start + setup.count,
);
const clients: HeraldGatewayClient[] = [];
let connected = 0;
let closed = 0;
let received = 0;
/** Armed by the orchestrator: the count at which to report the moment the last frame arrived. */
let expectReceived = -1;
let latencies: number[] = [];
const closeCodes: Record<string, number> = {};

const send = (m: unknown) => process.send!(m);

async function connectAll(): Promise<void> {
  let next = 0;
  const one = async () => {
    while (next < devices.length) {
      const [rid, secret] = devices[next++];
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
          onMessage: (msg) => {
            if (++received === expectReceived) {
              expectReceived = -1;
              send({ ev: 'received', at: Date.now() });
            }
            const t0 = msg.body.t0;
            if (typeof t0 === 'number') latencies.push(Date.now() - t0);
          },
          onState: (state, detail) => {
            if (state === 'open') {
              connected++;
              settle();
            } else if (state === 'closed') {
              if (!settle()) connected--;
              closed++;
              const code = String(detail?.code ?? 0);
              closeCodes[code] = (closeCodes[code] ?? 0) + 1;
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
