import { createTestContext, type TestContext } from '@herald/testing';
import { GatewayDeliveryAdapter } from './gateway-delivery.adapter';
import { InboxStore, PresenceReader, PresenceStore } from './inbox.store';

/** The Redis scripts on a real Redis, in this file's namespace. */
let ctx: TestContext;
let inbox: InboxStore;
let presence: PresenceStore;

beforeAll(async () => {
  ctx = await createTestContext();
  inbox = new InboxStore(ctx.redis, ctx.namespace);
  presence = new PresenceStore(ctx.redis, ctx.namespace);
});
afterAll(() => ctx.close());

const entry = (id: string, sentAt: number, ttlMs = 60_000, overrideId?: string) => ({
  id,
  sentAt,
  expiresAt: sentAt + ttlMs,
  frame: JSON.stringify({ t: 'msg', id }),
  overrideId,
});

describe('InboxStore', () => {
  it('inserts idempotently, orders by sent_at and caps the inbox (oldest dropped)', async () => {
    const now = Date.now();
    expect((await inbox.insert('d1', entry('2', now + 2), 3))[0]).toBe('ok');
    expect((await inbox.insert('d1', entry('1', now + 1), 3))[0]).toBe('ok');
    expect((await inbox.insert('d1', entry('1', now + 1), 3))[0]).toBe('dup');
    await inbox.insert('d1', entry('3', now + 3), 3);
    const [, , dropped] = await inbox.insert('d1', entry('4', now + 4), 3);
    expect(dropped).toEqual(['1']);
    expect((await inbox.fetch('d1', 10)).map((e) => e.id)).toEqual(['2', '3', '4']);
  });

  it('purges expired entries on every script and never returns them', async () => {
    const now = Date.now();
    await inbox.insert('d2', entry('a', now - 5_000, 1_000), 10, now - 5_000);
    await inbox.insert('d2', entry('b', now, 60_000), 10, now);
    expect((await inbox.fetch('d2', 10)).map((e) => e.id)).toEqual(['b']);
    expect(await ctx.redis.zcard(inbox.keys.device('d2').expiry)).toBe(1);
  });

  it('acked ids are never stored again', async () => {
    const now = Date.now();
    await inbox.insert('d3', entry('x', now), 10);
    expect(await inbox.ack('d3', ['x'])).toBe(1);
    expect((await inbox.insert('d3', entry('x', now), 10))[0]).toBe('dup');
    expect(await inbox.size('d3')).toBe(0);
  });

  it('override: replaces an unseen entry silently, carries replaces once offered or acked', async () => {
    const now = Date.now();
    await inbox.insert('d4', entry('o1', now), 10);
    expect((await inbox.insert('d4', entry('n1', now + 1, 60_000, 'o1'), 10))[1]).toBe(1);
    await inbox.fetch('d4', 10); // n1 offered
    expect((await inbox.insert('d4', entry('n2', now + 2, 60_000, 'n1'), 10))[1]).toBe(2);
    const frames = await inbox.fetch('d4', 10);
    expect(frames).toEqual([{ id: 'n2', frame: '{"t":"msg","id":"n2","replaces":"n1"}' }]);
  });

  it('recall: removed when never offered, had when offered or acked, none otherwise', async () => {
    const adapter = new GatewayDeliveryAdapter(ctx.redis, { prefix: ctx.namespace, inboxMax: 10 });
    const now = Date.now();
    await inbox.insert('r1', entry('m', now), 10);
    await inbox.insert('r2', entry('m', now), 10);
    await inbox.fetch('r2', 10);
    await inbox.insert('r3', entry('m', now), 10);
    await inbox.ack('r3', ['m']);
    expect(await adapter.recall('m', ['r1', 'r2', 'r3', 'r4'])).toEqual(['removed', 'had', 'had', 'none']);
    expect(await inbox.takeRecalls('r2')).toEqual(['m']);
    expect(await inbox.takeRecalls('r2')).toEqual([]);
  });
});

describe('PresenceStore', () => {
  it('claims, returns the previous holder and releases only its own claim', async () => {
    const reader = new PresenceReader(ctx.redis, ctx.namespace);
    expect(await presence.claim('p1', 'n1|a', 10_000)).toBeNull();
    expect(await presence.claim('p1', 'n2|b', 10_000)).toBe('n1|a');
    await presence.release('p1', 'n1|a');
    expect((await reader.status(['p1'])).get('p1')?.online).toBe(true);
    await presence.release('p1', 'n2|b');
    const s = (await reader.status(['p1'])).get('p1')!;
    expect(s.online).toBe(false);
    expect(s.lastOnlineTime).toBeInstanceOf(Date);
  });

  it('the adapter answers one outcome per device, in order', async () => {
    const adapter = new GatewayDeliveryAdapter(ctx.redis, {
      prefix: ctx.namespace,
      inboxMax: 10,
      batchSize: 2,
    });
    const msg = { id: '77', kind: 'message' as const, body: {}, sentAt: Date.now(), timeToLive: 60 };
    expect(await adapter.deliver(msg, ['a1', 'a2', 'a3'])).toEqual([
      { kind: 'sent' },
      { kind: 'sent' },
      { kind: 'sent' },
    ]);
    expect(await adapter.deliver({ ...msg, id: '78', sentAt: Date.now() - 120_000 }, ['a1'])).toEqual([
      { kind: 'permanent', reason: 'expired' },
    ]);
  });
});
