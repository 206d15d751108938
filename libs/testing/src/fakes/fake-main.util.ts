import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';

/** Shared command line of the standalone fakes (`npm run fake:apns -- --help`). */
export function fakeArgs(defaultPort: number) {
  const { values } = parseArgs({
    options: {
      port: { type: 'string', default: String(defaultPort) },
      host: { type: 'string', default: '127.0.0.1' },
      'latency-ms': { type: 'string', default: '0' },
      'invalid-prefix': { type: 'string' },
      'goaway-after': { type: 'string' },
      record: { type: 'boolean', default: false },
      plain: { type: 'boolean', default: false },
      credentials: { type: 'string' },
      help: { type: 'boolean', default: false },
    },
  });
  return {
    port: Number(values.port),
    host: values.host ?? '127.0.0.1',
    latencyMs: Number(values['latency-ms']),
    invalidTokenPrefix: values['invalid-prefix'],
    goawayAfterStreams: values['goaway-after'] !== undefined ? Number(values['goaway-after']) : undefined,
    record: values.record ?? false,
    plain: values.plain ?? false,
    credentials:
      values.credentials !== undefined
        ? (JSON.parse(readFileSync(values.credentials, 'utf8')) as unknown)
        : undefined,
    help: values.help ?? false,
  };
}

interface Controllable {
  stats(): object;
  reset(): void;
  setLatency(ms: number): void;
  close(): Promise<void>;
}

/**
 * Lets a parent process (the benchmark) drive the fake over IPC: stats (with the fake's own CPU time,
 * so it can be kept apart from the client's), latency changes, reset. SIGINT/SIGTERM close it.
 */
export function serveControl(fake: Controllable): void {
  process.on('message', (raw: unknown) => {
    const msg = raw as { type?: string; ms?: number; id?: number };
    if (msg.type === 'stats') process.send?.({ id: msg.id, stats: fake.stats(), cpu: process.cpuUsage() });
    if (msg.type === 'latency') {
      fake.setLatency(msg.ms ?? 0);
      process.send?.({ id: msg.id, ok: true });
    }
    if (msg.type === 'reset') {
      fake.reset();
      process.send?.({ id: msg.id, ok: true });
    }
  });
  const stop = (): void => {
    void fake.close().then(() => process.exit(0));
  };
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
  process.once('disconnect', stop);
}
