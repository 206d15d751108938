import { Queue, Worker } from 'bullmq';
import { AppEntity, DeviceEntity, TenantEntity } from '@herald/db';
import { SecretHasher } from '@herald/crypto';
import { bullPrefix } from '@herald/queue';
import { createTenantFixture } from './factories';
import { drainQueues, QueueDrainError } from './queue-drain';
import { createTestContext, type TestContext } from './test-context';

describe('test isolation', () => {
  let a: TestContext;
  let b: TestContext;

  beforeAll(async () => {
    [a, b] = await Promise.all([createTestContext(), createTestContext()]);
  });
  afterAll(async () => {
    await Promise.all([a.close(), b.close()]);
  });

  it('gives each context its own database and Redis namespace', async () => {
    expect(a.config.database.url).not.toBe(b.config.database.url);
    expect(a.namespace).not.toBe(b.namespace);
    await createTenantFixture(a.db, a.config, { devices: [{ channel: 'fcm' }] });
    expect(await a.db.getRepository(TenantEntity).count()).toBe(1);
    expect(await b.db.getRepository(TenantEntity).count()).toBe(0);
    expect(await b.db.getRepository(DeviceEntity).count()).toBe(0);

    await a.redis.set(`${a.namespace}:probe`, '1');
    expect(await b.redis.exists(`${b.namespace}:probe`)).toBe(0);
  });

  it('builds a complete tenant in one call, with working secrets', async () => {
    const f = await createTenantFixture(a.db, a.config, {
      devices: [{ channel: 'apns' }, { channel: 'gateway', tags: ['vip'] }],
    });
    const hasher = new SecretHasher(a.config.crypto);
    const app = await a.db.getRepository(AppEntity).findOneByOrFail({ id: f.app.app.id });
    expect(app.tenantId).toBe(f.tenant.id);
    expect(app.appKey).toMatch(/^[a-zA-Z0-9]{24}$/);
    expect(hasher.verify(f.app.masterSecret, app.masterSecretHash)).toBe(true);
    expect(f.app.basicAuth).toBe(
      `Basic ${Buffer.from(`${f.app.appKey}:${f.app.masterSecret}`).toString('base64')}`,
    );
    expect(f.devices.map((d) => d.device.channel)).toEqual(['apns', 'gateway']);
    expect(f.devices[1].device.token).toBeNull();
    expect(f.devices[1].device.tags).toEqual(['vip']);
    const stored = await a.db.getRepository(DeviceEntity).findOneByOrFail({ id: f.devices[0].device.id });
    expect(hasher.verify(f.devices[0].deviceSecret, stored.deviceSecretHash)).toBe(true);
    expect(stored.deviceSecretHash).not.toContain(f.devices[0].deviceSecret);
  });
});

describe('drainQueues', () => {
  let ctx: TestContext;
  let queue: Queue;

  beforeAll(async () => {
    ctx = await createTestContext();
    queue = new Queue('drain-probe', { connection: ctx.redis, prefix: bullPrefix(ctx.namespace) });
  });
  afterAll(async () => {
    await queue.close();
    await ctx.close();
  });

  it('fails loudly with per-queue counts when nothing processes the jobs', async () => {
    await queue.add('stuck', {});
    await queue.add('stuck', {});
    const err = await drainQueues([queue], { timeoutMs: 300 }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(QueueDrainError);
    expect((err as Error).message).toMatch(/drain-probe: waiting=2 active=0 delayed=0/);
  });

  it('returns once a worker has processed everything, and reports failures with their reasons', async () => {
    const seen: string[] = [];
    const connection = ctx.redis.duplicate();
    const worker = new Worker(
      'drain-probe',
      async (job) => {
        seen.push(job.name);
        if (job.name === 'bad') throw new Error('provider exploded');
      },
      { connection, prefix: bullPrefix(ctx.namespace) },
    );
    try {
      await drainQueues([queue], { timeoutMs: 5_000 });
      expect(seen).toEqual(['stuck', 'stuck']);
      await queue.add('bad', {}, { attempts: 1 });
      const err = await drainQueues([queue], { timeoutMs: 5_000 }).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(QueueDrainError);
      expect((err as Error).message).toMatch(/failed=1/);
      expect((err as Error).message).toMatch(/drain-probe\/bad#\d+: provider exploded/);
      await expect(drainQueues([queue], { timeoutMs: 1_000, allowFailed: true })).resolves.toBeUndefined();
      // a later strict drain judges only what failed after it started
      await queue.add('stuck', {});
      await expect(drainQueues([queue], { timeoutMs: 5_000 })).resolves.toBeUndefined();
    } finally {
      await worker.close();
      await connection.quit();
    }
  });
});
