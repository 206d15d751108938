import type { ChildProcess } from 'node:child_process';
import { execFileSync } from 'node:child_process';
import { once } from 'node:events';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { chromium, type Browser, type Page } from 'playwright-core';
import { GatewayDeliveryAdapter } from '@herald/providers';
import {
  buildAppsOnce,
  createDevice,
  createTenantFixture,
  createTestContext,
  freePort,
  startGatewayProcess,
  waitUntil,
  type TestContext,
} from '@herald/testing';

/**
 * The reference SDK in a real browser (Debian's chromium, driven by playwright-core): the browser
 * bundle that `vite build libs/gateway-client` makes, loaded with a <script> tag, speaking to a real
 * gateway process with the browser's own WebSocket (so `hello` authentication and zero-timeout ack
 * batching). It receives, acknowledges, reports an open, and reconnects after the node shuts down;
 * nothing throws in the page.
 */
const ROOT = join(__dirname, '../..');
const CHROMIUM = process.env.HERALD_CHROMIUM ?? '/usr/bin/chromium';
const BUNDLE = join(ROOT, 'dist/gateway-client/herald-gateway.iife.js');

let ctx: TestContext;
let browser: Browser;
let page: Page;
const children: ChildProcess[] = [];
const pageErrors: Error[] = [];

jest.setTimeout(60_000);

beforeAll(async () => {
  if (!existsSync(CHROMIUM)) {
    throw new Error(
      `no browser at ${CHROMIUM}: run \`bash scripts/browser.sh\` (npm test does) or set HERALD_CHROMIUM`,
    );
  }
  await buildAppsOnce();
  execFileSync(
    process.execPath,
    [join(ROOT, 'node_modules/vite/bin/vite.js'), 'build', 'libs/gateway-client'],
    {
      cwd: ROOT,
      stdio: 'pipe',
    },
  );
  ctx = await createTestContext();
  browser = await chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking'],
  });
  page = await browser.newPage();
  page.on('pageerror', (e) => pageErrors.push(e));
}, 120_000);

afterAll(async () => {
  for (const c of children) if (c.exitCode === null) c.kill('SIGKILL');
  await browser?.close();
  await ctx?.close();
});

async function startNode(nodeId: string, port: number): Promise<ChildProcess> {
  const { child } = await startGatewayProcess(ctx, nodeId, port);
  children.push(child);
  return child;
}

interface PageState {
  received: { id: string; body: Record<string, unknown> }[];
  states: string[];
  connected: boolean;
}

const state = () => page.evaluate(() => (globalThis as unknown as { herald: PageState }).herald);

it('the SDK bundle in a browser receives, acknowledges, reports an open and reconnects after a shutdown', async () => {
  const bundle = readFileSync(BUNDLE, 'utf8');
  // The bundle is small because the protocol's zod schemas stay out of it.
  expect(bundle.length).toBeLessThan(20_000);
  expect(bundle).not.toMatch(/ZodError/);

  const fixture = await createTenantFixture(ctx.db, ctx.config);
  const d = await createDevice(ctx.db, ctx.config, fixture.app.app, { channel: 'gateway' });
  const port = await freePort();
  const first = await startNode('browser-a', port);
  const adapter = new GatewayDeliveryAdapter(ctx.redis, { prefix: ctx.namespace, inboxMax: 100 });
  const sendOne = async (text: string) => {
    const [row] = await ctx.db.query<{ id: string }[]>(
      `INSERT INTO messages (app_id, request, audience, platforms) VALUES ($1, '{}', '"all"', '{android}') RETURNING id`,
      [fixture.app.app.id],
    );
    const id = String(row.id);
    await adapter.deliver(
      { id, kind: 'notification', body: { alert: text }, sentAt: Date.now(), timeToLive: 600 },
      [d.device.registrationId],
    );
    return id;
  };
  const counters = async (id: string) => {
    const rows = await ctx.db.query<{ delivered: string; clicked: string }[]>(
      `SELECT delivered::text, clicked::text FROM message_counters WHERE message_id = $1 AND channel = 'gateway'`,
      [id],
    );
    return rows[0] ?? { delivered: '0', clicked: '0' };
  };

  await page.setContent('<!doctype html><title>herald sdk</title>');
  await page.addScriptTag({ content: bundle });
  await page.evaluate(
    ({ url, rid, secret }) => {
      type Client = { start(): void; opened(id: string): void; connected: boolean };
      const sdk = (
        globalThis as unknown as { HeraldGateway: { HeraldGatewayClient: new (o: unknown) => Client } }
      ).HeraldGateway;
      const herald: PageState & { client?: Client } = { received: [], states: [], connected: false };
      (globalThis as unknown as { herald: typeof herald }).herald = herald;
      herald.client = new sdk.HeraldGatewayClient({
        url,
        registrationId: rid,
        secret,
        reconnect: { baseMs: 100, maxMs: 500 },
        onMessage: (m: { id: string; body: Record<string, unknown> }) => void herald.received.push(m),
        onState: (s: string, detail?: { code?: number }) => {
          herald.states.push(detail?.code ? `${s}:${detail.code}` : s);
          herald.connected = s === 'open';
        },
      });
      herald.client.start();
    },
    { url: `ws://127.0.0.1:${port}/v1/connect`, rid: d.device.registrationId, secret: d.deviceSecret },
  );
  await waitUntil(async () => (await state()).connected, 'the browser connected', 10_000, 50);

  const a = await sendOne('hello from node A');
  await waitUntil(async () => (await state()).received.length === 1, 'first message', 10_000, 50);
  expect((await state()).received[0]).toMatchObject({ id: a, body: { alert: 'hello from node A' } });
  await waitUntil(async () => (await counters(a)).delivered === '1', 'ack in the ledger', 10_000, 50);

  await page.evaluate(
    (id) =>
      (globalThis as unknown as { herald: { client: { opened(i: string): void } } }).herald.client.opened(id),
    a,
  );
  await waitUntil(async () => (await counters(a)).clicked === '1', 'open counted', 10_000, 50);

  // The node shuts down (bye shutdown, 1001); the SDK reconnects, here to a new node on the same port.
  first.kill('SIGTERM');
  expect(((await once(first, 'exit')) as [number | null])[0]).toBe(0);
  await waitUntil(async () => (await state()).states.includes('closed:1001'), 'closed with 1001', 10_000, 50);
  const offline = await sendOne('sent while no node held the device');
  await startNode('browser-b', port);
  await waitUntil(
    async () => (await state()).received.length === 2,
    'message after reconnecting',
    15_000,
    50,
  );
  expect((await state()).received.map((m) => m.id)).toEqual([a, offline]);
  await waitUntil(
    async () => (await counters(offline)).delivered === '1',
    'second ack in the ledger',
    10_000,
    50,
  );
  expect(await counters(a)).toEqual({ delivered: '1', clicked: '1' });
  expect(pageErrors).toEqual([]);
});
