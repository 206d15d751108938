import { PasswordHasher, SecretHasher } from '@herald/crypto';
import { AppEntity, MembershipEntity, TenantEntity, UserEntity } from '@herald/db';
import { createTestContext, type TestContext } from '@herald/testing';
import { testConfig } from '@herald/testing';
import { DEMO_EMAIL, seedDemo } from './demo.seed';

describe('demo seed', () => {
  let ctx: TestContext;
  beforeAll(async () => {
    ctx = await createTestContext();
  });
  afterAll(() => ctx.close());

  async function counts() {
    return Promise.all(
      [TenantEntity, UserEntity, MembershipEntity, AppEntity].map((e) => ctx.db.getRepository(e).count()),
    );
  }

  it('creates a working tenant, owner and app once, and changes nothing on later runs', async () => {
    const first = await seedDemo(ctx.db, ctx.config);
    expect(first.outcome).toBe('created');
    expect(first.appKey).toMatch(/^[a-zA-Z0-9]{24}$/);
    expect(first.masterSecret).toMatch(/^[a-zA-Z0-9]{24}$/);
    expect(await counts()).toEqual([1, 1, 1, 1]);
    const app = await ctx.db.getRepository(AppEntity).findOneByOrFail({ appKey: first.appKey });
    const updatedAt = app.updatedAt.getTime();
    expect(new SecretHasher(ctx.config.crypto).verify(first.masterSecret, app.masterSecretHash)).toBe(true);
    const user = await ctx.db.getRepository(UserEntity).findOneByOrFail({ email: DEMO_EMAIL });
    expect(await new PasswordHasher().verify(first.password, user.passwordHash)).toBe(true);
    const membership = await ctx.db.getRepository(MembershipEntity).findOneByOrFail({ userId: user.id });
    expect(membership).toMatchObject({ tenantId: first.tenantId, role: 'owner' });

    const again = await seedDemo(ctx.db, ctx.config);
    expect(again).toEqual({ ...first, outcome: 'unchanged' });
    expect(await counts()).toEqual([1, 1, 1, 1]);
    const after = await ctx.db.getRepository(AppEntity).findOneByOrFail({ appKey: first.appKey });
    expect(after.updatedAt.getTime()).toBe(updatedAt);
  });

  it('prints credentials that work after the master key changed, without a second demo tenant', async () => {
    const first = await seedDemo(ctx.db, ctx.config);
    const rotated = testConfig({
      DATABASE_URL: ctx.config.database.url,
      HERALD_MASTER_KEY: Buffer.alloc(32, 42).toString('base64'),
    });
    const after = await seedDemo(ctx.db, rotated);
    expect(after.outcome).toBe('reset');
    expect(after.appKey).not.toBe(first.appKey);
    expect(after.appId).toBe(first.appId);
    expect(await counts()).toEqual([1, 1, 1, 1]);
    const app = await ctx.db.getRepository(AppEntity).findOneByOrFail({ id: after.appId });
    expect(app.appKey).toBe(after.appKey);
    expect(new SecretHasher(rotated.crypto).verify(after.masterSecret, app.masterSecretHash)).toBe(true);
    const user = await ctx.db.getRepository(UserEntity).findOneByOrFail({ email: DEMO_EMAIL });
    expect(await new PasswordHasher().verify(after.password, user.passwordHash)).toBe(true);
    expect((await seedDemo(ctx.db, rotated)).outcome).toBe('unchanged');
  });
});
