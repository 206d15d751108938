/**
 * The floor under `bench:gateway`'s broadcast (`npm run bench:gateway-bare`): a bare `ws` server and
 * bare `ws` clients, the same process layout on the same cores (one server process, client processes
 * of 9,500 connections each), one pre-encoded frame written to every socket. Two modes per run:
 *
 * - `frame`: the server writes the frame to every socket; done when every client has read it (the
 *   "bare ws broadcast" the gateway issue compares with);
 * - `ack`: the same, and every client answers with a small text frame that the server reads (what the
 *   protocol adds: a device acknowledges each message); done when the server has read every answer.
 *
 * Nothing else runs: no Redis, no database, no JSON. Times come from each process's own clock at the
 * moment its last frame arrived (same machine), not from polling.
 *
 * Environment (optional): BENCH_CONNECTIONS (19000), BENCH_RUNS (5).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { loadavg } from 'node:os';
import { WebSocket, WebSocketServer } from 'ws';
import { cpuUs, load, log, machine, median, sleep } from '../fanout/harness';

const CONNECTIONS = Number(process.env.BENCH_CONNECTIONS ?? 19_000);
const RUNS = Number(process.env.BENCH_RUNS ?? 5);
const PER_CLIENT_PROCESS = 9_500;
const NOFILE = 20_000;
const PORT = 21_190;
/** The size of a Herald `msg` frame for a short notification. */
const PAYLOAD = JSON.stringify({
  t: 'msg',
  id: '18100000000000001',
  kind: 'notification',
  body: { alert: 'broadcast' },
  sent_at: 1_765_000_000_000,
  expires_at: 1_765_000_600_000,
});
const ACK = '{"t":"ack","ids":["18100000000000001"]}';

/** CPU milliseconds a process has used so far. */
const cpuMs = (pid: number) => (cpuUs(pid) ?? 0) / 1000;

type Msg = Record<string, unknown>;
const send = (m: Msg) => process.send!(m);

/** The server: accepts, and on `broadcast` writes one frame to every socket as a bare broadcast does. */
function server(): void {
  const wss = new WebSocketServer({ port: PORT, host: '127.0.0.1', perMessageDeflate: false });
  const sockets: WebSocket[] = [];
  let expected = 0;
  let acks = 0;
  wss.on('connection', (ws) => {
    sockets.push(ws);
    ws.on('message', () => {
      if (++acks === expected) send({ ev: 'acked', at: Date.now() });
    });
  });
  const frame = Buffer.from(PAYLOAD);
  process.on('message', (m: Msg) => {
    if (m.cmd === 'count') send({ ev: 'count', n: sockets.length });
    else if (m.cmd === 'broadcast') {
      acks = 0;
      expected = m.ack ? sockets.length : -1;
      const at = Date.now();
      for (const ws of sockets) ws.send(frame);
      send({ ev: 'written', at, ms: Date.now() - at });
    }
  });
  wss.on('listening', () => send({ ev: 'ready' }));
}

/** A client process: `count` bare `ws` clients; counts frames and, in `ack` mode, answers each. */
function clients(count: number): void {
  const all: WebSocket[] = [];
  let ack = false;
  let expected = 0;
  let received = 0;
  const ackFrame = Buffer.from(ACK);
  const onMessage = function (this: WebSocket) {
    if (ack) this.send(ackFrame);
    if (++received === expected) send({ ev: 'received', at: Date.now() });
  };
  const connect = async () => {
    let next = 0;
    const one = async () => {
      while (next < count) {
        next++;
        await new Promise<void>((resolve, reject) => {
          const ws = new WebSocket(`ws://127.0.0.1:${PORT}/`, { perMessageDeflate: false });
          ws.once('open', () => resolve());
          ws.once('error', reject);
          ws.on('message', onMessage);
          all.push(ws);
        });
      }
    };
    await Promise.all(Array.from({ length: 100 }, one));
    send({ ev: 'connected', n: all.length });
  };
  process.on('message', (m: Msg) => {
    if (m.cmd === 'connect') void connect();
    else if (m.cmd === 'arm') {
      ack = Boolean(m.ack);
      received = 0;
      expected = all.length;
      send({ ev: 'armed' });
    }
  });
  send({ ev: 'ready' });
}

class Child {
  private waiters = new Map<string, (m: Msg) => void>();
  readonly child: ChildProcess;
  constructor(role: string, arg: string) {
    const cmd = `ulimit -n ${NOFILE} && exec '${process.execPath}' -r @swc-node/register '${__filename}' ${role} ${arg}`;
    this.child = spawn('bash', ['-c', cmd], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
    this.child.on('message', (m: Msg) => {
      const w = this.waiters.get(m.ev as string);
      this.waiters.delete(m.ev as string);
      w?.(m);
    });
  }
  wait(ev: string, timeoutMs = 120_000): Promise<Msg> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`${ev}: timed out`)), timeoutMs);
      this.waiters.set(ev, (m) => {
        clearTimeout(timer);
        resolve(m);
      });
    });
  }
  async ask(cmd: Msg, ev: string): Promise<Msg> {
    const reply = this.wait(ev);
    this.child.send(cmd);
    return reply;
  }
}

async function orchestrate(): Promise<void> {
  log(`machine: ${machine()}; load ${load()}`);
  const srv = new Child('server', '0');
  await srv.wait('ready');
  const procs: Child[] = [];
  for (let s = 0; s < CONNECTIONS; s += PER_CLIENT_PROCESS) {
    const c = new Child('clients', String(Math.min(PER_CLIENT_PROCESS, CONNECTIONS - s)));
    await c.wait('ready');
    procs.push(c);
  }
  const t0 = Date.now();
  await Promise.all(procs.map((p) => p.ask({ cmd: 'connect' }, 'connected')));
  const n = (await srv.ask({ cmd: 'count' }, 'count')).n as number;
  log(`connected ${n} in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
  await sleep(2_000);
  const pids = [srv.child.pid!, ...procs.map((p) => p.child.pid!)];
  const results: Record<'frame' | 'ack', { perSecond: number; serverUs: number; clientsUs: number }[]> = {
    frame: [],
    ack: [],
  };
  for (let run = 0; run < RUNS; run++) {
    for (const mode of ['frame', 'ack'] as const) {
      const ack = mode === 'ack';
      await Promise.all(procs.map((p) => p.ask({ cmd: 'arm', ack }, 'armed')));
      const cpu0 = pids.map(cpuMs);
      const received = procs.map((p) => p.wait('received'));
      const acked = ack ? srv.wait('acked') : undefined;
      const written = await srv.ask({ cmd: 'broadcast', ack }, 'written');
      const last = Math.max(...(await Promise.all(received)).map((m) => m.at as number));
      const end = acked ? ((await acked).at as number) : last;
      await sleep(200);
      const cpu = pids.map((p, i) => cpuMs(p) - cpu0[i]);
      const ms = end - (written.at as number);
      const r = {
        perSecond: Math.round(n / (ms / 1000)),
        serverUs: +((cpu[0] * 1000) / n).toFixed(1),
        clientsUs: +((cpu.slice(1).reduce((a, b) => a + b, 0) * 1000) / n).toFixed(1),
      };
      results[mode].push(r);
      log(
        `run ${run + 1} ${mode}: ${n} in ${ms} ms (${r.perSecond}/s; written in ${String(written.ms)} ms); CPU µs per frame: server ${r.serverUs}, clients ${r.clientsUs}; load ${loadavg()[0].toFixed(2)}`,
      );
      await sleep(1_000);
    }
  }
  const summary = Object.fromEntries(
    (['frame', 'ack'] as const).map((mode) => [
      mode,
      {
        perSecond: median(results[mode].map((r) => r.perSecond)),
        serverUs: median(results[mode].map((r) => r.serverUs)),
        clientsUs: median(results[mode].map((r) => r.clientsUs)),
        runs: results[mode].map((r) => r.perSecond),
      },
    ]),
  );
  log('summary', JSON.stringify({ date: new Date().toISOString().slice(0, 10), connections: n, ...summary }));
  for (const c of [srv, ...procs]) c.child.kill('SIGKILL');
}

const [role, arg] = process.argv.slice(2);
if (role === 'server' || role === 'clients') {
  // The orchestrator gone (finished, failed or killed) takes its children with it.
  process.on('disconnect', () => process.exit(0));
  if (role === 'server') server();
  else clients(Number(arg));
} else {
  orchestrate().then(
    () => process.exit(0),
    (err: unknown) => {
      console.error(err);
      process.exit(1);
    },
  );
}
