/**
 * What bench:fanout and bench:unicast share: the fakes, a private Redis and the built Herald processes
 * as child processes, and CPU / peak-RSS accounting per process read from /proc (so the figures of
 * each process are its own, whoever else is using the machine).
 */
import { type ChildProcess, fork, spawn } from 'node:child_process';
import { once } from 'node:events';
import { readdirSync, readFileSync } from 'node:fs';
import { cpus, loadavg, totalmem } from 'node:os';
import { join } from 'node:path';
import { freePort, TEST_MASTER_KEY } from '@herald/testing';

export const ROOT = join(__dirname, '../..');
export const CA_FILE = join(ROOT, 'libs/testing/src/fakes/certs/ca.pem');
export const INVALID_PREFIX = { apns: 'ffff', fcm: 'bad-' } as const;
const TICK_US = 1e6 / 100; // CLK_TCK is 100 on Linux

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));
/** A progress line stamped with the time of day. */
export const log = (...a: unknown[]) => console.log(new Date().toISOString().slice(11, 19), ...a);
export const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
export const load = () =>
  loadavg()
    .map((x) => x.toFixed(2))
    .join(' ');
/**
 * Waits (up to BENCH_MAX_WAIT_S, default 300) for the 1-minute load average to fall below BENCH_MAX_LOAD
 * (default 1.5): the machine is shared, and a run measured under other work reads slower. Returns the
 * load it started with, recorded beside the figures.
 */
export async function quietMachine(): Promise<string> {
  const max = Number(process.env.BENCH_MAX_LOAD ?? 1.5);
  const deadline = Date.now() + Number(process.env.BENCH_MAX_WAIT_S ?? 300) * 1000;
  while (loadavg()[0] > max && Date.now() < deadline) await sleep(5000);
  return load();
}
export const machine = () =>
  `${cpus().length} × ${cpus()[0]?.model ?? '?'}, ${Math.round(totalmem() / 2 ** 30)} GiB, Node ${process.version}`;

/**
 * Node flags of the api process, as `npm run start:api` and docker/compose.yaml run it (64 MB
 * young-generation semi-spaces, docs/operations.md). BENCH_API_NODE_ARGS (space-separated) replaces them.
 */
export const API_NODE_ARGS = (process.env.BENCH_API_NODE_ARGS ?? '--max-semi-space-size=64')
  .split(' ')
  .filter(Boolean);

export const baseDbUrl = process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/herald';
export function dbUrl(db: string): string {
  const url = new URL(baseDbUrl);
  url.pathname = `/${db}`;
  return url.toString();
}

// ------------------------------------------------------------------ /proc accounting

/** CPU time (µs) of a process so far, or undefined once it is gone. */
export function cpuUs(pid: number): number | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // Fields after the parenthesised command name; utime and stime are fields 14 and 15.
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(f[11]) + Number(f[12])) * TICK_US;
  } catch {
    return undefined;
  }
}

/** Peak resident set (MB) of a living process: the kernel's high-water mark. */
export function peakRssMb(pid: number): number {
  const m = /VmHWM:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) / 1024 : NaN;
}

function cmdline(pid: number): string {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').replace(/\0/g, ' ');
  } catch {
    return '';
  }
}

/**
 * CPU of a changing set of processes (PostgreSQL backends come and go): sampled every second,
 * keeping each pid's last value, so a backend that exits mid-run loses at most its last second.
 */
export class CpuGroup {
  private first = new Map<number, number>();
  private last = new Map<number, number>();
  private timer?: NodeJS.Timeout;

  constructor(private readonly pids: () => number[]) {}

  start(): void {
    this.first.clear();
    this.last.clear();
    for (const pid of this.pids()) {
      const us = cpuUs(pid);
      if (us !== undefined) this.first.set(pid, us);
    }
    this.timer = setInterval(() => this.sample(), 1000);
  }

  private sample(): void {
    for (const pid of this.pids()) {
      const us = cpuUs(pid);
      if (us !== undefined) this.last.set(pid, us);
    }
  }

  /** µs of CPU used by the group since start(). */
  stop(): number {
    clearInterval(this.timer);
    this.sample();
    let total = 0;
    for (const [pid, us] of this.last) total += us - (this.first.get(pid) ?? 0);
    return total;
  }
}

/** The PostgreSQL server's processes that work for `database`: its backends plus the shared ones. */
export function postgresPids(database: string): () => number[] {
  return () => {
    const out: number[] = [];
    for (const name of readdirSync('/proc')) {
      if (!/^\d+$/.test(name)) continue;
      const cmd = cmdline(Number(name));
      if (!cmd.startsWith('postgres') && !cmd.includes('/bin/postgres')) continue;
      if (
        cmd.includes(` ${database} `) ||
        /checkpointer|background writer|walwriter|autovacuum|bin\/postgres -D/.test(cmd)
      ) {
        out.push(Number(name));
      }
    }
    return out;
  };
}

// ------------------------------------------------------------------ processes

/** Children to kill if the benchmark exits early (a failed run must not leave servers behind). */
const children = new Set<ChildProcess>();
process.once('exit', () => children.forEach((c) => c.kill()));
function reapOnExit(child: ChildProcess): void {
  children.add(child);
  child.once('exit', () => children.delete(child));
}

export interface FakeReady {
  url: string;
  ca: string;
  credentials: Record<string, string>;
}

export interface Fake {
  child: ChildProcess;
  ready: FakeReady;
}

export function startFake(provider: 'apns' | 'fcm', latencyMs = 0): Promise<Fake> {
  const main = join(ROOT, 'libs/testing/src/fakes', `fake-${provider}.main.ts`);
  const child = fork(
    main,
    ['--port', '0', '--invalid-prefix', INVALID_PREFIX[provider], '--latency-ms', String(latencyMs)],
    { execArgv: ['-r', '@swc-node/register'], silent: true },
  );
  child.stderr?.pipe(process.stderr);
  return new Promise((resolve, reject) => {
    let buf = '';
    child.stdout?.on('data', (d: Buffer) => {
      buf += d.toString();
      const nl = buf.indexOf('\n');
      if (nl >= 0) resolve({ child, ready: JSON.parse(buf.slice(0, nl)) as FakeReady });
    });
    child.once('exit', (code) => reject(new Error(`fake ${provider} exited ${code}`)));
  });
}

/** A Redis of the benchmark's own, so its CPU is Herald's alone and a FLUSHALL resets it. */
export async function startRedis(): Promise<{ child: ChildProcess; url: string }> {
  const port = await freePort();
  const child = spawn(
    'redis-server',
    ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'],
    { stdio: 'ignore' },
  );
  reapOnExit(child);
  const url = `redis://127.0.0.1:${port}`;
  const { Redis } = await import('ioredis');
  for (let i = 0; i < 100; i++) {
    const r = new Redis(url, { lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null });
    r.on('error', () => undefined); // refused until the server listens: retried below
    const ok = await r.connect().then(
      () => r.ping(),
      () => undefined,
    );
    r.disconnect();
    if (ok === 'PONG') return { child, url };
    await sleep(100);
  }
  throw new Error('redis-server did not start');
}

export interface HeraldProcess {
  name: string;
  child: ChildProcess;
  pid: number;
  port?: number;
}

export async function startHerald(
  app: 'api' | 'worker' | 'gateway',
  name: string,
  env: Record<string, string>,
  nodeArgs: string[] = [],
): Promise<HeraldProcess> {
  const port = app === 'worker' ? undefined : await freePort();
  const child = spawn(process.execPath, [...nodeArgs, join(ROOT, `dist/apps/${app}/main.js`)], {
    env: {
      ...process.env,
      NODE_ENV: 'production',
      HERALD_LOG_LEVEL: 'warn',
      HERALD_MASTER_KEY: TEST_MASTER_KEY,
      HERALD_BIND_HOST: '127.0.0.1',
      NODE_EXTRA_CA_CERTS: CA_FILE,
      ...(port && app === 'api' && { HERALD_API_PORT: String(port) }),
      ...(port && app === 'gateway' && { HERALD_GATEWAY_PORT: String(port), HERALD_GATEWAY_NODE_ID: name }),
      ...env,
    },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  reapOnExit(child);
  let err = '';
  child.stderr?.on('data', (d: Buffer) => {
    err += d.toString();
    if (err.length > 20_000) err = err.slice(-10_000);
  });
  child.once('exit', (code, signal) => {
    if (code !== 0 && signal !== 'SIGTERM' && code !== null)
      process.stderr.write(`${name} exited ${code}: ${err.slice(-2000)}\n`);
  });
  if (port) {
    for (let i = 0; ; i++) {
      const ok = await fetch(`http://127.0.0.1:${port}/readyz`).then(
        (r) => r.ok,
        () => false,
      );
      if (ok) break;
      if (i > 300 || child.exitCode !== null) throw new Error(`${name} did not become ready: ${err}`);
      await sleep(100);
    }
  } else {
    // The worker has no port: give it time to connect its queues (its CPU is measured from then on).
    await sleep(2000);
    if (child.exitCode !== null) throw new Error(`${name} exited at start: ${err}`);
  }
  return { name, child, pid: child.pid!, port };
}

export async function stop(child: ChildProcess, timeoutMs = 20_000): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = once(child, 'exit');
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
  await exited;
  clearTimeout(timer);
}
