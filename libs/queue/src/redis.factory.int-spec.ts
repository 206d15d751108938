import type { Redis } from 'ioredis';
import { createTestContext, type TestContext } from '@herald/testing';
import { execPerNode } from './redis.factory';

describe('execPerNode (real Redis)', () => {
  let ctx: TestContext;
  let redis: Redis;
  let ns: string;

  beforeAll(async () => {
    ctx = await createTestContext();
    redis = ctx.redis;
    ns = ctx.namespace;
    // A script as Herald and BullMQ define them: a pipeline built on this connection copies it.
    redis.defineCommand('heraldTestEcho', { numberOfKeys: 1, lua: 'return {KEYS[1], ARGV[1]}' });
  });
  afterAll(() => ctx.close());

  it('answers a single command, a script and a failing command in the pipeline reply shape', async () => {
    const [set] = await execPerNode(
      redis,
      ['a'],
      (k) => `${ns}:${k}`,
      (p, k) => void p.set(`${ns}:${k}`, '1'),
    );
    expect(set).toEqual([[null, 'OK']]);
    const [echo] = await execPerNode(
      redis,
      ['b'],
      (k) => `${ns}:${k}`,
      (p, k) =>
        void (p as unknown as Record<string, (...a: string[]) => unknown>).heraldTestEcho(`${ns}:${k}`, 'x'),
    );
    expect(echo).toEqual([[null, [`${ns}:b`, 'x']]]);
    // INCR of a key that holds text fails: that command's error, not a rejection of the whole call.
    await redis.set(`${ns}:text`, 'not a number');
    const [failed] = await execPerNode(
      redis,
      ['text'],
      (k) => `${ns}:${k}`,
      (p, k) => void p.incr(`${ns}:${k}`),
    );
    expect(failed).toHaveLength(1);
    expect(failed[0][0]).toBeInstanceOf(Error);
    expect(failed[0][1]).toBeNull();
  });

  it('sends several commands of several items together and gives each item its own replies, in order', async () => {
    const items = ['c', 'd', 'e'];
    const replies = await execPerNode(
      redis,
      items,
      (k) => `${ns}:${k}`,
      (p, k) => void p.incrby(`${ns}:${k}`, 2).incrby(`${ns}:${k}`, 3),
    );
    expect(replies).toEqual(
      items.map(() => [
        [null, 2],
        [null, 5],
      ]),
    );
    // An item that queues nothing gets no replies and does not shift the others.
    const mixed = await execPerNode(
      redis,
      ['c', 'skip', 'd'],
      (k) => `${ns}:${k}`,
      (p, k) => {
        if (k !== 'skip') void p.get(`${ns}:${k}`);
      },
    );
    expect(mixed).toEqual([[[null, '5']], [], [[null, '5']]]);
  });
});
