import { createTestContext, type TestContext } from '@herald/testing';
import { GatewayDeliveryAdapter } from './gateway-delivery.adapter';
import { InboxStore, PresenceReader, PresenceStore, SharedFrames } from './inbox.store';

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
    // Nothing of `a` is left: the inbox holds b and b's expiry mark, the frames hash b's fields.
    const k = inbox.keys.device('d2');
    expect(await ctx.redis.zrange(k.inbox, 0, -1)).toEqual(['b', 'e:b']);
    expect((await ctx.redis.hkeys(k.frames)).sort()).toEqual(['b', 'o:b']);
  });

  it('acked ids are never stored again', async () => {
    const now = Date.now();
    await inbox.insert('d3', entry('x', now), 10);
    expect(await inbox.ack('d3', ['x'])).toEqual(['x']);
    expect((await inbox.insert('d3', entry('x', now), 10))[0]).toBe('dup');
    expect(await inbox.size('d3')).toBe(0);
  });

  it('an ack answers only the ids sent to the device: in the inbox, acked before, or given as sent', async () => {
    const now = Date.now();
    await inbox.insert('k1', entry('in', now), 10);
    await inbox.insert('k2', entry('theirs', now), 10);
    // `theirs` is another device's, `guess` nobody's; `gone` left the inbox (pushed out, say) while
    // the caller's connection had it in flight.
    expect(await inbox.ack('k1', ['theirs', 'in', 'guess', 'gone'], now, ['gone'])).toEqual(['gone', 'in']);
    // Acked again (a redelivered ack): still the device's; the others still are not.
    const [again, other] = await inbox.ackMany([
      { rid: 'k1', ids: ['in', 'gone', 'theirs', 'guess'] },
      { rid: 'k2', ids: ['in', 'theirs'] },
    ]);
    expect(again).toEqual(['in', 'gone']);
    expect(other).toEqual(['theirs']);
    // An id the device had nothing of is not remembered: sent to it later, it is stored, not a dup.
    expect((await inbox.insert('k1', entry('theirs', now), 10))[0]).toBe('ok');
    expect((await inbox.insert('k1', entry('gone', now), 10))[0]).toBe('dup');
    expect(await inbox.holds('k1', 'theirs')).toBe(true);
    expect(await inbox.holds('k1', 'in')).toBe(true);
    expect(await inbox.holds('k1', 'guess')).toBe(false);
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

describe('InboxStore.insertMany', () => {
  it('answers per device in order and rings each node once: the frame itself, or a fetch for dups', async () => {
    const now = Date.now();
    const sub = ctx.redis.duplicate();
    const rings: [string, string][] = [];
    sub.on('message', (channel: string, message: string) => rings.push([channel, message]));
    await sub.subscribe(inbox.keys.node('n1'), inbox.keys.node('n2'));
    try {
      await presence.claim('ma', 'n1|c1', 10_000);
      await presence.claim('mb', 'n1|c2', 10_000);
      await presence.claim('mc', 'n2|c3', 10_000);
      const e = entry('m1', now);
      const first = await inbox.insertMany(['ma', 'mb', 'mc', 'md'], e, 10, now, true);
      expect(first).toEqual([1, 2, 3, 4].map(() => ['ok', 0, [], []]));
      const again = await inbox.insertMany(['mc', 'ma', 'md'], e, 10, now, true);
      expect(again).toEqual([1, 2, 3].map(() => ['dup', 0, [], []]));
      await waitFor(() => rings.length >= 4);
      expect(rings.sort()).toEqual(
        [
          [inbox.keys.node('n1'), `m\nm1\n${e.frame}\nma\nmb`],
          [inbox.keys.node('n1'), 'r\nma'],
          [inbox.keys.node('n2'), `m\nm1\n${e.frame}\nmc`],
          [inbox.keys.node('n2'), 'r\nmc'],
        ].sort(),
      );
      // Rung with the frame = offered: a recall now tells the device; the offline one never had it.
      const adapter = new GatewayDeliveryAdapter(ctx.redis, { prefix: ctx.namespace, inboxMax: 10 });
      expect(await adapter.recall('m1', ['ma', 'md'])).toEqual(['had', 'removed']);
    } finally {
      await sub.quit();
    }
  });

  it('reports inbox_full and expired entries against the device they came from', async () => {
    const now = Date.now();
    await inbox.insert('xa', entry('old', now - 5_000, 1_000), 2, now - 5_000);
    await inbox.insert('xb', entry('b1', now + 1), 2, now);
    await inbox.insert('xb', entry('b2', now + 2), 2, now);
    const replies = await inbox.insertMany(['xa', 'xb', 'xc'], entry('new', now + 3), 2, now, false);
    expect(replies).toEqual([
      ['ok', 0, [], ['old']],
      ['ok', 0, ['b1'], []],
      ['ok', 0, [], []],
    ]);
    expect((await inbox.fetch('xb', 10)).map((f) => f.id)).toEqual(['b2', 'new']);
  });
});

describe('shared frames', () => {
  /** The shared frame key an inbox's value names (`@<digest>`). */
  const sharedKey = async (rid: string, id: string) => {
    const ref = (await ctx.redis.hget(inbox.keys.device(rid).frames, id))!;
    expect(ref).toMatch(/^@[A-Za-z0-9_-]{16}$/);
    return inbox.keys.frame(id, ref.slice(1));
  };

  it('a message written to many inboxes keeps its frame once; a fetch reads it back whole', async () => {
    const now = Date.now();
    const e = {
      ...entry('s1', now),
      frame: JSON.stringify({ t: 'msg', id: 's1', body: { alert: 'x'.repeat(500) } }),
    };
    await inbox.insertMany(['sa', 'sb', 'sc'], e, 10, now, false);
    const key = await sharedKey('sa', 's1');
    expect(await sharedKey('sb', 's1')).toBe(key);
    expect(await sharedKey('sc', 's1')).toBe(key);
    expect(await ctx.redis.get(key)).toBe(e.frame);
    // It expires with the inboxes that refer to it (their deadline: rounded up to the hour).
    const ttl = await ctx.redis.pttl(key);
    expect(ttl).toBeGreaterThan(60_000);
    expect(ttl).toBeLessThanOrEqual(2 * 3_600_000);
    expect(await inbox.fetch('sb', 10)).toEqual([{ id: 's1', frame: e.frame }]);

    // A single device's entry keeps its own frame, and writes no shared one.
    await inbox.insert('sd', entry('s2', now), 10);
    expect(await ctx.redis.hget(inbox.keys.device('sd').frames, 's2')).toBe(
      JSON.stringify({ t: 'msg', id: 's2' }),
    );
  });

  it('one message id with a frame per language (an i18n push) keeps each frame for its own devices', async () => {
    const now = Date.now();
    const en = { ...entry('i1', now), frame: '{"t":"msg","id":"i1","body":{"alert":"hello"}}' };
    const zh = { ...entry('i1', now), frame: '{"t":"msg","id":"i1","body":{"alert":"你好"}}' };
    await inbox.insertMany(['en1', 'en2'], en, 10, now, false);
    await inbox.insertMany(['zh1', 'zh2'], zh, 10, now, false);
    const cache = new SharedFrames();
    const fetched = await inbox.resolveFrames(
      await Promise.all(
        ['en1', 'zh1', 'en2', 'zh2'].map(async (rid) => [
          { id: 'i1', frame: (await ctx.redis.hget(inbox.keys.device(rid).frames, 'i1'))! },
        ]),
      ),
      cache,
    );
    expect(fetched.map((f) => f.entries[0].frame)).toEqual([en.frame, zh.frame, en.frame, zh.frame]);
    expect(await inbox.fetch('zh2', 10)).toEqual([{ id: 'i1', frame: zh.frame }]);
  });

  it('a frame carrying replaces is kept per device; the others of the same write share theirs', async () => {
    const now = Date.now();
    await inbox.insert('ra', entry('v1', now), 10);
    await inbox.fetch('ra', 10); // v1 offered to ra: its replacement must say so
    await inbox.insertMany(['ra', 'rb'], entry('v2', now + 1, 60_000, 'v1'), 10, now, false);
    expect(await ctx.redis.hget(inbox.keys.device('ra').frames, 'v2')).toBe(
      '{"t":"msg","id":"v2","replaces":"v1"}',
    );
    await sharedKey('rb', 'v2');
    expect(await inbox.fetch('ra', 10)).toEqual([
      { id: 'v2', frame: '{"t":"msg","id":"v2","replaces":"v1"}' },
    ]);
    expect(await inbox.fetch('rb', 10)).toEqual([{ id: 'v2', frame: '{"t":"msg","id":"v2"}' }]);
  });

  it('resolves from the node cache, even when reading another frame pushes the cached one out', async () => {
    const now = Date.now();
    await inbox.insertMany(['ca', 'cb'], entry('c1', now), 10, now, false);
    await inbox.insertMany(['ca', 'cb'], entry('c2', now + 1), 10, now, false);
    const refs = {
      c1: (await ctx.redis.hget(inbox.keys.device('ca').frames, 'c1'))!,
      c2: (await ctx.redis.hget(inbox.keys.device('ca').frames, 'c2'))!,
    };
    const cache = new SharedFrames(1);
    await inbox.resolveFrames([[{ id: 'c1', frame: refs.c1 }]], cache);
    // c1 now comes from the cache alone (its key is gone); c2 is read and evicts c1 meanwhile.
    await ctx.redis.del(await sharedKey('ca', 'c1'));
    const [both] = await inbox.resolveFrames(
      [
        [
          { id: 'c1', frame: refs.c1 },
          { id: 'c2', frame: refs.c2 },
        ],
      ],
      cache,
    );
    expect(both).toEqual({
      entries: [
        { id: 'c1', frame: '{"t":"msg","id":"c1"}' },
        { id: 'c2', frame: '{"t":"msg","id":"c2"}' },
      ],
      lost: [],
      failed: false,
    });
    expect(cache.size).toBe(1);
  });

  it('an entry whose shared frame is gone is reported lost, and fetch removes it from the inbox', async () => {
    const now = Date.now();
    await inbox.insertMany(['la', 'lb'], entry('l1', now), 10, now, false);
    await inbox.insertMany(['la', 'lb'], entry('l2', now + 1), 10, now, false);
    await ctx.redis.del(await sharedKey('la', 'l1'));
    const [resolved] = await inbox.resolveFrames([
      [
        { id: 'l1', frame: (await ctx.redis.hget(inbox.keys.device('la').frames, 'l1'))! },
        { id: 'l2', frame: (await ctx.redis.hget(inbox.keys.device('la').frames, 'l2'))! },
      ],
    ]);
    expect(resolved).toEqual({
      entries: [{ id: 'l2', frame: '{"t":"msg","id":"l2"}' }],
      lost: ['l1'],
      failed: false,
    });
    expect(await inbox.fetch('lb', 10)).toEqual([{ id: 'l2', frame: '{"t":"msg","id":"l2"}' }]);
    expect(await ctx.redis.zrange(inbox.keys.device('lb').inbox, 0, -1)).toEqual(['l2', 'e:l2']);
    expect((await ctx.redis.hkeys(inbox.keys.device('lb').frames)).sort()).toEqual(['l2', 'o:l2']);
  });
});

async function waitFor(predicate: () => boolean, ms = 2_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!predicate()) {
    if (Date.now() > deadline) throw new Error('timed out');
    await new Promise((r) => setTimeout(r, 10));
  }
}

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

  it('refreshes many claims in one call, reports the lapsed ones, and puts back only unheld ones', async () => {
    await presence.claim('f1', 'n1|a', 10_000);
    await presence.claim('f2', 'n2|b', 10_000);
    const claims = [
      { rid: 'f1', value: 'n1|a' },
      { rid: 'f2', value: 'n1|x' }, // another connection took it: extended all the same
      { rid: 'f3', value: 'n1|c' }, // lapsed: reported
    ];
    expect(await presence.refresh(claims, 600_000)).toEqual([claims[2]]);
    const key = (rid: string) => presence.keys.device(rid).presence;
    for (const rid of ['f1', 'f2']) expect(await ctx.redis.pttl(key(rid))).toBeGreaterThan(500_000);
    expect(await ctx.redis.exists(key('f3'))).toBe(0);
    expect(await presence.restore([claims[2], claims[1]], 600_000)).toBe(1);
    expect(await ctx.redis.get(key('f3'))).toBe('n1|c');
    expect(await ctx.redis.get(key('f2'))).toBe('n2|b');
    expect(await presence.refresh([], 600_000)).toEqual([]);
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
