/**
 * bench:unicast's device side: connects the given devices to the gateway with the reference SDK and
 * reports, over IPC, the time from each push's POST (`extras.t0`, set by the orchestrator on the same
 * machine clock) to its receipt here.
 */
import { WebSocket } from 'ws';
import { HeraldGatewayClient, type WebSocketConstructor } from '@herald/gateway-client';

interface Setup {
  devices: [string, string][];
  url: string;
}

type Command = { cmd: 'stats'; reset?: boolean } | { cmd: 'stop' };

const setup = JSON.parse(process.argv[2]) as Setup;
const clients: HeraldGatewayClient[] = [];
let connected = 0;
let latencies: number[] = [];
const send = (m: unknown) => process.send!(m);

async function connectAll(): Promise<void> {
  await Promise.all(
    setup.devices.map(
      ([rid, secret]) =>
        new Promise<void>((resolve) => {
          const client = new HeraldGatewayClient({
            url: setup.url,
            registrationId: rid,
            secret,
            WebSocket: WebSocket as unknown as WebSocketConstructor,
            auth: 'header',
            reconnect: { enabled: false },
            dedupeSize: 16,
            onMessage: (msg) => {
              const extras = (msg.body as { extras?: { t0?: unknown } }).extras;
              if (typeof extras?.t0 === 'number') latencies.push(Date.now() - extras.t0);
            },
            onState: (state) => {
              if (state === 'open') {
                connected++;
                resolve();
              } else if (state === 'closed') resolve();
            },
          });
          clients.push(client);
          client.start();
        }),
    ),
  );
}

process.on('message', (m: Command) => {
  if (m.cmd === 'stats') {
    send({ ev: 'stats', connected, latencies });
    if (m.reset) latencies = [];
  } else if (m.cmd === 'stop') {
    for (const c of clients) c.stop();
    setTimeout(() => process.exit(0), 300);
  }
});
process.on('disconnect', () => process.exit(0));
void connectAll().then(() => send({ ev: 'connected', connected }));
