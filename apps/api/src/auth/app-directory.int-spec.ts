import { createApp, createTenant, createTestContext, type TestContext } from '@herald/testing';
import { AppDirectory } from './app-directory';

describe('AppDirectory (real PostgreSQL and Redis)', () => {
  let ctx: TestContext;

  beforeAll(async () => {
    ctx = await createTestContext();
  });
  afterAll(() => ctx.close());

  it('re-reads an app on request at most once a second, whatever the number of requests', async () => {
    const { app } = await createApp(ctx.db, ctx.config, await createTenant(ctx.db));
    const directory = new AppDirectory(ctx.db);
    const setHash = (hash: string) =>
      ctx.db.query(`UPDATE apps SET master_secret_hash = $2 WHERE id = $1`, [app.id, hash]);
    const t0 = 1_000_000;

    const first = await directory.byKey(app.appKey, t0);
    await setHash('h2');
    // The cached copy, for ten seconds.
    expect((await directory.byKey(app.appKey, t0 + 1))?.masterSecretHash).toBe(first?.masterSecretHash);
    // A forced re-read sees the change…
    expect((await directory.refresh(app.appKey, t0 + 2))?.masterSecretHash).toBe('h2');
    await setHash('h3');
    // …but another within the second does not read again (a flood of wrong secrets costs one read).
    for (let i = 0; i < 20; i++) {
      expect((await directory.refresh(app.appKey, t0 + 100 + i))?.masterSecretHash).toBe('h2');
    }
    expect((await directory.refresh(app.appKey, t0 + 1002))?.masterSecretHash).toBe('h3');
    // The dashboard's own rotation (`forget`) is seen at once.
    await setHash('h4');
    directory.forget(app.appKey);
    expect((await directory.refresh(app.appKey, t0 + 1003))?.masterSecretHash).toBe('h4');
    // An unknown key is cached as unknown.
    expect(await directory.byKey('unknownAppKey00000000000', t0)).toBeNull();
  });

  it("a forget in one API process drops the app from every other process's cache at once", async () => {
    const { app } = await createApp(ctx.db, ctx.config, await createTenant(ctx.db));
    // Two processes' directories: the dashboard's (a) and another process's (b), sharing Redis.
    const a = new AppDirectory(ctx.db, ctx.redis, ctx.config);
    const b = new AppDirectory(ctx.db, ctx.redis, ctx.config);
    a.onModuleInit();
    b.onModuleInit();
    try {
      await Promise.all([a.subscribed, b.subscribed]);
      const before = (await b.byKey(app.appKey))?.masterSecretHash;
      await ctx.db.query(`UPDATE apps SET master_secret_hash = 'rotated' WHERE id = $1`, [app.id]);
      expect((await b.byKey(app.appKey))?.masterSecretHash).toBe(before);
      a.forget(app.appKey);
      const deadline = Date.now() + 2_000;
      while ((await b.byKey(app.appKey))?.masterSecretHash !== 'rotated' && Date.now() < deadline) {
        await new Promise((r) => setTimeout(r, 10));
      }
      // Well within the ten seconds the copy would otherwise live.
      expect(Date.now()).toBeLessThan(deadline);
      expect((await b.byKey(app.appKey))?.masterSecretHash).toBe('rotated');
    } finally {
      await a.onModuleDestroy();
      await b.onModuleDestroy();
    }
  });
});
