import type { ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { WebSocket } from 'ws';
import { HeraldGatewayClient, type WebSocketConstructor } from '@herald/gateway-client';
import type { MsgFrame } from '@herald/gateway-protocol';
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
 * Two real gateway processes (the production bundle) on one Redis namespace: a device moves between
 * them, and a SIGTERM sends it elsewhere with every waiting message intact.
 */
let ctx: TestContext;
const children: ChildProcess[] = [];

beforeAll(async () => {
  await buildAppsOnce();
  ctx = await createTestContext();
}, 120_000);

afterAll(async () => {
  for (const c of children) if (c.exitCode === null) c.kill('SIGKILL');
  await ctx?.close();
});

async function startNode(
  nodeId: string,
): Promise<{ child: ChildProcess; url: string; output: () => string }> {
  const node = await startGatewayProcess(ctx, nodeId, await freePort());
  children.push(node.child);
  return node;
}

const until = (check: () => boolean, what: string, timeoutMs = 10_000) =>
  waitUntil(check, what, timeoutMs, 20);

it('a device moves between two gateway processes and survives a shutdown of its node', async () => {
  const fixture = await createTenantFixture(ctx.db, ctx.config);
  const d = await createDevice(ctx.db, ctx.config, fixture.app.app, { channel: 'gateway' });
  const rid = d.device.registrationId;
  const [a, b] = await Promise.all([startNode('e2e-a'), startNode('e2e-b')]);
  const adapter = new GatewayDeliveryAdapter(ctx.redis, { prefix: ctx.namespace, inboxMax: 100 });
  const sendOne = async (sentAt: number) => {
    const [row] = await ctx.db.query<{ id: string }[]>(
      `INSERT INTO messages (app_id, request, audience, platforms) VALUES ($1, '{}', '"all"', '{android}') RETURNING id`,
      [fixture.app.app.id],
    );
    const id = String(row.id);
    await adapter.deliver({ id, kind: 'message', body: { msg_content: id }, sentAt, timeToLive: 600 }, [rid]);
    return id;
  };

  const makeClient = (url: () => string, got: MsgFrame[], codes: number[]) =>
    new HeraldGatewayClient({
      url,
      registrationId: rid,
      secret: d.deviceSecret,
      WebSocket: WebSocket as unknown as WebSocketConstructor,
      auth: 'header',
      onMessage: (m) => void got.push(m),
      onState: (state, detail) => void (state === 'closed' && codes.push(detail?.code ?? 0)),
      reconnect: { baseMs: 50 },
    });

  // On node A first.
  const gotA: MsgFrame[] = [];
  const codesA: number[] = [];
  const onA = makeClient(() => a.url, gotA, codesA);
  onA.start();
  await until(() => onA.connected, 'connection to A');
  const first = await sendOne(Date.now());
  await until(() => gotA.length === 1, 'first message on A');

  // Offline messages wait, in order, for the device on B; A's connection is replaced (4002).
  let target = b.url;
  const gotB: MsgFrame[] = [];
  const codesB: number[] = [];
  const onB = makeClient(() => target, gotB, codesB);
  onB.start();
  await until(() => codesA.includes(4002), 'A replaced');
  await until(() => onB.connected, 'connection to B');
  const now = Date.now();
  const later = [await sendOne(now + 1), await sendOne(now + 2), await sendOne(now + 3)];
  await until(() => gotB.length === 3, 'three messages on B');
  expect(gotB.map((m) => m.id)).toEqual(later);
  expect(gotA.map((m) => m.id)).toEqual([first]);

  // B shuts down: bye shutdown + 1001, exit 0; the client reconnects to A and gets what was sent meanwhile.
  target = a.url;
  b.child.kill('SIGTERM');
  const [code] = (await once(b.child, 'exit')) as [number | null];
  expect(code).toBe(0);
  expect(codesB[0]).toBe(1001);
  const afterShutdown = await sendOne(Date.now());
  await until(() => gotB.length === 4, 'message after the move back to A');
  expect(gotB[3].id).toBe(afterShutdown);

  // Every ack reached the ledger, once.
  const delivered = async () => {
    const [{ n }] = await ctx.db.query<{ n: string | null }[]>(
      `SELECT sum(delivered)::text AS n FROM message_counters mc
         JOIN messages m ON m.id = mc.message_id WHERE m.app_id = $1`,
      [fixture.app.app.id],
    );
    return n;
  };
  for (let i = 0; i < 50 && (await delivered()) !== '5'; i++) await new Promise((r) => setTimeout(r, 50));
  expect(await delivered()).toBe('5');
  onA.stop();
  onB.stop();
  a.child.kill('SIGTERM');
  expect(((await once(a.child, 'exit')) as [number | null])[0]).toBe(0);
}, 40_000);
