import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { existsSync, mkdirSync, rmdirSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { TEST_MASTER_KEY } from './test-config';

const ROOT = join(__dirname, '../../..');

/** A TCP port that was free a moment ago, on loopback. */
export async function freePort(): Promise<number> {
  const server = createServer();
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as { port: number };
  server.close();
  return port;
}

/**
 * Builds the four app bundles (`dist/apps/<app>/main.js`) once per jest run, however many e2e files
 * ask at once: jest's workers share a parent, whose pid names the marker, and a lock directory keeps
 * two workers from writing the same bundle at the same time.
 */
export async function buildAppsOnce(): Promise<void> {
  const marker = join(ROOT, 'dist', `.built-for-${process.ppid}`);
  const lock = join(ROOT, 'dist', '.build-lock');
  mkdirSync(join(ROOT, 'dist'), { recursive: true });
  const deadline = Date.now() + 180_000;
  for (;;) {
    if (existsSync(marker)) return;
    try {
      mkdirSync(lock);
      break;
    } catch {
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${lock}`);
      await new Promise((r) => setTimeout(r, 250));
    }
  }
  try {
    if (!existsSync(marker)) {
      execFileSync(
        process.execPath,
        [join(ROOT, 'node_modules/@nestjs/cli/bin/nest.js'), 'build', 'api', 'worker', 'gateway', 'herald'],
        { cwd: ROOT, stdio: 'pipe' },
      );
      writeFileSync(marker, '');
    }
  } finally {
    rmdirSync(lock);
  }
}

export interface AppProcess {
  child: ChildProcess;
  /** Everything the process wrote to stdout and stderr so far. */
  output(): string;
}

/**
 * Runs a production bundle (`dist/apps/<app>/main.js`, see {@link buildAppsOnce}) with `env` laid over
 * this process's environment (an `undefined` value removes a variable), collecting its output.
 */
export function spawnApp(app: string, env: Record<string, string | undefined>): AppProcess {
  const merged: NodeJS.ProcessEnv = { ...process.env, ...env };
  for (const [k, v] of Object.entries(env)) if (v === undefined) delete merged[k];
  const child = spawn(process.execPath, [join(ROOT, 'dist/apps', app, 'main.js')], {
    cwd: ROOT,
    env: merged,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout.on('data', (d: Buffer) => (output += d.toString()));
  child.stderr.on('data', (d: Buffer) => (output += d.toString()));
  return { child, output: () => output };
}

/** Polls `check` until it holds; throws naming `what` after `timeoutMs`. */
export async function waitUntil(
  check: () => Promise<boolean> | boolean,
  what: string,
  timeoutMs = 30_000,
  everyMs = 50,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}

/** What a gateway process needs of a test: its database and its Redis namespace. */
export interface GatewayTarget {
  config: { database: { url: string } };
  namespace: string;
}

/** The environment of a gateway process serving `target` as node `nodeId` on loopback port `port`. */
export function gatewayEnv(target: GatewayTarget, nodeId: string, port: number): Record<string, string> {
  return {
    HERALD_LOG_LEVEL: 'warn',
    HERALD_MASTER_KEY: TEST_MASTER_KEY,
    DATABASE_URL: target.config.database.url,
    HERALD_QUEUE_PREFIX: target.namespace,
    HERALD_GATEWAY_PORT: String(port),
    HERALD_BIND_HOST: '127.0.0.1',
    HERALD_GATEWAY_NODE_ID: nodeId,
  };
}

/** The production gateway bundle as node `nodeId` (build it first: {@link buildAppsOnce}), once it is ready. */
export async function startGatewayProcess(
  target: GatewayTarget,
  nodeId: string,
  port: number,
): Promise<AppProcess & { url: string }> {
  const app = spawnApp('gateway', gatewayEnv(target, nodeId, port));
  try {
    await waitUntil(
      async () => (await fetch(`http://127.0.0.1:${port}/readyz`).catch(() => undefined))?.status === 200,
      `gateway ${nodeId} ready`,
      15_000,
      100,
    );
  } catch (err) {
    app.child.kill('SIGKILL');
    throw new Error(`gateway ${nodeId} never became ready:\n${app.output()}`, { cause: err });
  }
  return { ...app, url: `ws://127.0.0.1:${port}/v1/connect` };
}
