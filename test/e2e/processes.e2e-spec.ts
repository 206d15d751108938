import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { join } from 'node:path';
import {
  buildAppsOnce,
  createTestContext,
  freePort,
  TEST_MASTER_KEY,
  type TestContext,
} from '@herald/testing';

const ROOT = join(__dirname, '../..');

/** The production bundles, exactly what `npm run up`, the image and `node dist/apps/<app>/main.js` run. */
function entry(app: string): string[] {
  return [join(ROOT, 'dist/apps', app, 'main.js')];
}

beforeAll(() => buildAppsOnce(), 180_000);

function baseEnv(extra: Record<string, string | undefined>): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env, HERALD_LOG_LEVEL: 'warn', ...extra };
  for (const [k, v] of Object.entries(extra)) if (v === undefined) delete env[k];
  return env;
}

async function exitOf(child: ChildProcess, timeoutMs: number): Promise<number | null> {
  const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
  const [code] = (await once(child, 'exit')) as [number | null];
  clearTimeout(timer);
  return code;
}

describe('every app refuses a bad configuration at once, naming the keys', () => {
  it.each(['api', 'worker', 'gateway', 'herald'])('%s', async (app) => {
    const child = spawn(process.execPath, entry(app), {
      cwd: ROOT,
      env: baseEnv({
        HERALD_MASTER_KEY: undefined,
        HERALD_API_PORT: 'eighty',
        REDIS_URL: 'redis://127.0.0.1:1',
      }),
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const code = await exitOf(child, 20_000);
    expect(code).toBe(78);
    expect(stderr).toContain('invalid configuration');
    expect(stderr).toMatch(/HERALD_MASTER_KEY: .*32 random bytes/);
    expect(stderr).toMatch(/HERALD_API_PORT: must be a whole number/);
    expect(stderr).not.toMatch(/REDIS_URL/);
  });
});

describe('the all-in-one process', () => {
  let ctx: TestContext;
  beforeAll(async () => {
    ctx = await createTestContext();
  });
  afterAll(() => ctx.close());

  it('serves api and gateway readiness, then shuts down cleanly on SIGTERM', async () => {
    const [apiPort, gatewayPort] = [await freePort(), await freePort()];
    const child = spawn(process.execPath, [...entry('herald'), 'serve'], {
      cwd: ROOT,
      env: baseEnv({
        HERALD_MASTER_KEY: TEST_MASTER_KEY,
        DATABASE_URL: ctx.config.database.url,
        HERALD_QUEUE_PREFIX: ctx.namespace,
        HERALD_API_PORT: String(apiPort),
        HERALD_GATEWAY_PORT: String(gatewayPort),
        HERALD_BIND_HOST: '127.0.0.1',
      }),
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    child.stdout.on('data', (d: Buffer) => (output += d.toString()));
    child.stderr.on('data', (d: Buffer) => (output += d.toString()));
    try {
      const ready = async (port: number) => {
        for (let i = 0; i < 150; i++) {
          const res = await fetch(`http://127.0.0.1:${port}/readyz`).catch(() => undefined);
          if (res?.status === 200) return await res.json();
          await new Promise((r) => setTimeout(r, 100));
        }
        throw new Error(`port ${port} never became ready:\n${output}`);
      };
      await expect(ready(apiPort)).resolves.toMatchObject({ status: 'ok' });
      await expect(ready(gatewayPort)).resolves.toMatchObject({ status: 'ok' });
      expect(output).toContain(`http://127.0.0.1:${apiPort}/docs`);

      // A request the body parser rejects still gets its access-log line, with its correlation id.
      const bad = await fetch(`http://127.0.0.1:${apiPort}/v3/push`, {
        method: 'POST',
        headers: { 'Content-Type': 'application/json', 'X-Request-Id': 'e2e-bad-json' },
        body: '{"platform": ',
      });
      expect(bad.status).toBe(400);
      expect(bad.headers.get('x-request-id')).toBe('e2e-bad-json');
      for (let i = 0; i < 50 && !output.includes('e2e-bad-json'); i++)
        await new Promise((r) => setTimeout(r, 50));
      const line = output.split('\n').find((l) => l.includes('"id":"e2e-bad-json"'));
      expect(line).toBeDefined();
      expect(JSON.parse(line!)).toMatchObject({ app: 'herald', res: { statusCode: 400 } });
    } finally {
      child.kill('SIGTERM');
    }
    expect(await exitOf(child, 15_000)).toBe(0);
  });
});
