import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { EnvelopeCipher } from '@herald/crypto';
import { CredentialStore } from '@herald/push';
import {
  buildAppsOnce,
  createFakeApnsKey,
  createTenantFixture,
  createTestContext,
  testConfig,
  TEST_MASTER_KEY,
  type TenantFixture,
  type TestContext,
} from '@herald/testing';
import { rewrapEnvelopes } from './rewrap';

/**
 * Master key rotation, second step: with the new key current and the old one listed as previous,
 * `herald rewrap` moves every envelope at rest to the new key; afterwards the old key is no longer
 * needed to read them.
 */
const NEW_KEY = Buffer.alloc(32, 9).toString('base64');
let ctx: TestContext;
let t: TenantFixture;
const apnsKey = createFakeApnsKey('com.herald.rewrap');

beforeAll(async () => {
  ctx = await createTestContext();
  t = await createTenantFixture(ctx.db, ctx.config);
  // Written under the old key (k1): a credential, a webhook secret, a message's callback signing key.
  const old = new EnvelopeCipher(ctx.config.crypto);
  await new CredentialStore(ctx.db, old).saveApns(
    t.app.app.id,
    'both',
    { kind: 'token', ...apnsKey },
    apnsKey.bundleId,
  );
  await ctx.db.query(`UPDATE apps SET webhook_secret = $2 WHERE id = $1`, [
    t.app.app.id,
    old.encrypt('whsec_test', `app_webhook:${t.app.app.id}`),
  ]);
  await ctx.db.query(
    `INSERT INTO messages (app_id, request, audience, platforms) VALUES ($1, $2, '"all"', '{android}'),
            ($1, '{"callback": null}', '"all"', '{android}')`,
    [
      t.app.app.id,
      {
        callback: {
          url: 'https://example.com/cb',
          signing_key: old.encrypt('master', `callback:${t.app.app.id}`),
        },
      },
    ],
  );
});

afterAll(() => ctx?.close());

const envelopes = async () =>
  (
    await ctx.db.query<{ v: string }[]>(
      `SELECT encrypted_payload AS v FROM app_credentials WHERE app_id = $1
       UNION ALL SELECT webhook_secret FROM apps WHERE id = $1
       UNION ALL SELECT request->'callback'->>'signing_key' FROM messages WHERE app_id = $1 AND request->'callback' <> 'null'`,
      [t.app.app.id],
    )
  ).map((r) => r.v.split('.')[1]);

it('moves every envelope to the current key, readable without the old key, and a second run does nothing', async () => {
  expect(await envelopes()).toEqual(['k1', 'k1', 'k1']);
  const rotated = testConfig({
    HERALD_MASTER_KEY: NEW_KEY,
    HERALD_MASTER_KEY_ID: 'k2',
    HERALD_PREVIOUS_MASTER_KEYS: `k1:${TEST_MASTER_KEY}`,
  });
  const cipher = new EnvelopeCipher(rotated.crypto);
  expect(await rewrapEnvelopes(ctx.db, cipher, 'k2')).toEqual({
    credentials: 1,
    webhookSecrets: 1,
    messageSigningKeys: 1,
    scheduleSigningKeys: 0,
  });
  expect(await envelopes()).toEqual(['k2', 'k2', 'k2']);

  // Only the new key now: every value still decrypts in its own slot.
  const newOnly = new EnvelopeCipher(
    testConfig({ HERALD_MASTER_KEY: NEW_KEY, HERALD_MASTER_KEY_ID: 'k2' }).crypto,
  );
  const creds = await new CredentialStore(ctx.db, newOnly).load(t.app.app.id);
  expect(creds.apns.production?.bundleId).toBe(apnsKey.bundleId);
  const [{ webhook_secret: ws }] = await ctx.db.query<{ webhook_secret: string }[]>(
    `SELECT webhook_secret FROM apps WHERE id = $1`,
    [t.app.app.id],
  );
  expect(newOnly.decrypt(ws, `app_webhook:${t.app.app.id}`).toString()).toBe('whsec_test');

  expect(await rewrapEnvelopes(ctx.db, cipher, 'k2')).toEqual({
    credentials: 0,
    webhookSecrets: 0,
    messageSigningKeys: 0,
    scheduleSigningKeys: 0,
  });
});

it('`herald rewrap` runs it as a one-shot command and exits 0', async () => {
  await buildAppsOnce();
  const out = spawnSync(process.execPath, [join(__dirname, '../../../dist/apps/herald/main.js'), 'rewrap'], {
    env: {
      DATABASE_URL: ctx.config.database.url,
      HERALD_MASTER_KEY: Buffer.alloc(32, 3).toString('base64'),
      HERALD_MASTER_KEY_ID: 'k3',
      HERALD_PREVIOUS_MASTER_KEYS: `k1:${TEST_MASTER_KEY},k2:${NEW_KEY}`,
      HERALD_LOG_LEVEL: 'warn',
    },
    encoding: 'utf8',
  });
  expect({ status: out.status, stdout: out.stdout.trim() }).toEqual({
    status: 0,
    stdout:
      'rewrap: moved to key k3: {"credentials":1,"webhookSecrets":1,"messageSigningKeys":1,"scheduleSigningKeys":0}',
  });
  expect(await envelopes()).toEqual(['k3', 'k3', 'k3']);
}, 200_000);
