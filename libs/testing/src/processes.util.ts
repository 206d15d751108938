import { execFileSync } from 'node:child_process';
import { once } from 'node:events';
import { existsSync, mkdirSync, rmdirSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';

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
