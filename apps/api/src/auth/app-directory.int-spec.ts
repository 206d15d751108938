import { createApp, createTenant, createTestContext, type TestContext } from '@herald/testing';
import { AppDirectory } from './app-directory';

describe('AppDirectory (real PostgreSQL)', () => {
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
});
