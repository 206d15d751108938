import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { isDeepStrictEqual } from 'node:util';
import { join } from 'node:path';
import type { INestApplication, INestApplicationContext } from '@nestjs/common';
import { chromium, type Browser, type Page } from 'playwright-core';
import {
  APNS_SCRIPTS,
  createFakeApnsKey,
  createFakeServiceAccount,
  createTestContext,
  FakeApnsServer,
  FakeFcmServer,
  type TestContext,
} from '@herald/testing';
import { createApiApp } from '../../apps/api/src/api.bootstrap';
import { startWorker } from '../../apps/worker/src/worker.bootstrap';

/**
 * The console in a real browser (Debian's chromium, driven by playwright-core): the built SPA served
 * by the api at /console, a worker, the fake APNs and FCM servers. One user's whole flow, in order:
 * sign up → app → credentials → devices (SDK API) → audience and estimate → send → progress to 100%
 * → devices → campaign (pause, resume) → recall → statistics → a viewer sees and may do less.
 * Screenshots of the main pages go to test-artifacts/console/.
 */
const ROOT = join(__dirname, '../..');
const CA_FILE = join(ROOT, 'libs/testing/src/fakes/certs/ca.pem');
const SHOTS = join(ROOT, 'test-artifacts/console');
const CHROMIUM = process.env.HERALD_CHROMIUM ?? '/usr/bin/chromium';
const apnsKey = createFakeApnsKey('com.herald.console');
const account = createFakeServiceAccount('herald-console');
const PASSWORD = 'console-password-1';

let ctx: TestContext;
let api: INestApplication;
let worker: INestApplicationContext;
let apns: FakeApnsServer;
let fcm: FakeFcmServer;
let browser: Browser;
let page: Page;
let base: string;
/** What Chromium refused under the console's Content-Security-Policy, on any page of the flow. */
const cspViolations: string[] = [];

jest.setTimeout(120_000);

beforeAll(async () => {
  if (!existsSync(CHROMIUM)) {
    throw new Error(
      `no browser at ${CHROMIUM}: run \`bash scripts/browser.sh\` (npm test does) or set HERALD_CHROMIUM`,
    );
  }
  // The console the api serves is the one this checkout builds.
  execFileSync(process.execPath, [join(ROOT, 'node_modules/vite/bin/vite.js'), 'build', 'apps/console'], {
    cwd: ROOT,
    stdio: 'pipe',
    env: { ...process.env, NODE_ENV: 'production' },
  });
  mkdirSync(SHOTS, { recursive: true });
  [apns, fcm] = await Promise.all([FakeApnsServer.start(), FakeFcmServer.start()]);
  apns.registerKey(apnsKey);
  fcm.registerServiceAccount(account);
  ctx = await createTestContext({
    HERALD_APNS_ENDPOINT: apns.url,
    HERALD_FCM_ENDPOINT: fcm.url,
    NODE_EXTRA_CA_CERTS: CA_FILE,
    HERALD_RECONCILE_INTERVAL_MS: '3600000',
  });
  api = await createApiApp(ctx.config);
  await api.listen(0, '127.0.0.1');
  base = `http://127.0.0.1:${(api.getHttpServer().address() as AddressInfo).port}`;
  worker = await startWorker(ctx.config);
  browser = await chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking'],
  });
  page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
  page.setDefaultTimeout(10_000);
  // Screenshots show finished states, not a bar mid-animation.
  await page.emulateMedia({ reducedMotion: 'reduce' });
  page.on('pageerror', (e) => console.error('page error:', e));
  watchCsp(page);
  page.on('dialog', (d) => void d.accept());
}, 90_000);

afterAll(async () => {
  await browser?.close();
  await worker?.close();
  await api?.close();
  await ctx?.close();
  await Promise.all([apns?.close(), fcm?.close()]);
});

function watchCsp(p: Page): void {
  p.on('console', (m) => {
    if (/Content Security Policy/i.test(m.text())) cspViolations.push(m.text());
  });
}

const INVITE_LINK = 'secret-Invitation link (pass it on; shown once, valid 7 days)';
const shot = (name: string) => page.screenshot({ path: join(SHOTS, `${name}.png`), fullPage: true });
const label = (text: string) => page.getByLabel(text, { exact: true });
const button = (name: string) => page.getByRole('button', { name, exact: true });
const form = (name: string) => page.getByRole('form', { name, exact: true });

async function json(method: string, path: string, body: unknown, headers: Record<string, string>) {
  const res = await fetch(base + path, {
    method,
    headers: { 'content-type': 'application/json', ...headers },
    body: JSON.stringify(body),
  });
  return { status: res.status, body: (await res.json().catch(() => ({}))) as Record<string, string> };
}

/** Retries `read` until it gives `expected` (the page updates on its own: polling, debounced estimates). */
async function eventually<T>(read: () => Promise<T>, expected: T, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await read();
    if (isDeepStrictEqual(value, expected)) return;
    if (Date.now() > deadline) return void expect(value).toEqual(expected);
    await new Promise((r) => setTimeout(r, 100));
  }
}

async function messageRow(msgId: string) {
  const [row] = await ctx.db.query<{ status: string }[]>(`SELECT status FROM messages WHERE id = $1`, [
    msgId,
  ]);
  return row;
}

describe('the console, driven in headless Chromium', () => {
  const email = `owner-${randomBytes(4).toString('hex')}@example.com`;
  let appKey = '';
  let appUrl = '';
  const devices: { rid: string; channel: string; token: string }[] = [];
  let sentMsgId = '';

  it('serves the SPA with no third-party requests', async () => {
    const external: string[] = [];
    page.on('request', (r) => {
      if (!r.url().startsWith(base) && !r.url().startsWith('data:')) external.push(r.url());
    });
    const res = await page.goto(`${base}/console/signup`);
    expect(res?.status()).toBe(200);
    await expect(page.getByRole('heading', { name: 'Create an account' }).isVisible()).resolves.toBe(true);
    expect(external).toEqual([]);
    // A deep link answers the app shell (with its file ETag: API answers have none, files keep it);
    // a missing asset does not.
    const shell = await fetch(`${base}/console/apps/x/messages`);
    expect(shell.status).toBe(200);
    expect(shell.headers.get('etag')).toMatch(/^W\/"/);
    expect((await fetch(`${base}/console/assets/nope.js`)).status).toBe(404);
  });

  it('signs up and creates an app, showing the master secret once', async () => {
    await label('E-mail').fill(email);
    await label('Password').fill(PASSWORD);
    await label('Organisation name').fill('Console Co');
    await shot('signup');
    await button('Sign up').click();
    await page.getByRole('heading', { name: 'Apps' }).waitFor();

    await label('Name').fill('Demo');
    await label('Time zone').fill('Asia/Shanghai');
    await button('Create').click();
    const secret = page.getByTestId('secret-Master secret');
    await secret.waitFor();
    expect(await secret.textContent()).toMatch(/^[A-Za-z0-9]{24}$/);
    appKey = (await page.getByTestId('secret-App key').textContent()) ?? '';
    expect(appKey).toMatch(/^[A-Za-z0-9]{24}$/);
    await expect(page.getByRole('row', { name: /Demo/ }).count()).resolves.toBe(1);
    await shot('apps');
    await page.getByRole('link', { name: 'Open Demo' }).click();
    await page.getByRole('heading', { name: 'Demo — App settings' }).waitFor();
    appUrl = new URL(page.url()).pathname;
    expect(appUrl).toMatch(/^\/console\/apps\/[0-9a-f-]{36}$/);
  });

  it('uploads APNs and FCM credentials, showing validation errors inline', async () => {
    const p8 = form('APNs key (.p8)');
    await p8.getByLabel('.p8 key file').setInputFiles({
      name: 'AuthKey.p8',
      mimeType: 'text/plain',
      buffer: Buffer.from(apnsKey.key),
    });
    await p8.getByLabel('Key ID').fill('SHORT');
    await p8.getByLabel('Team ID').fill(apnsKey.teamId);
    await p8.getByLabel('Bundle ID').fill(apnsKey.bundleId);
    await p8.getByRole('button', { name: 'Upload' }).click();
    const alert = p8.getByRole('alert');
    await alert.waitFor();
    expect(await alert.textContent()).toMatch(/key.?id/i);
    expect(await ctx.db.query(`SELECT 1 FROM app_credentials`)).toEqual([]);

    await p8.getByLabel('Key ID').fill(apnsKey.keyId);
    await p8.getByRole('button', { name: 'Upload' }).click();
    await p8.getByRole('status').waitFor();

    const fcmForm = form('FCM service account (JSON)');
    await fcmForm.getByLabel('Service-account JSON file').setInputFiles({
      name: 'service-account.json',
      mimeType: 'application/json',
      buffer: Buffer.from(JSON.stringify(account)),
    });
    await fcmForm.getByRole('button', { name: 'Upload' }).click();
    await fcmForm.getByRole('status').waitFor();
    const table = page.getByTestId('credentials');
    await table.getByRole('row', { name: /FCM/ }).waitFor();
    expect(await table.getByRole('row', { name: /APNS/ }).textContent()).toContain(apnsKey.keyId);
    expect(await table.getByRole('row', { name: /FCM/ }).textContent()).toContain(account.project_id);
    await shot('credentials');
  });

  it('registers devices through the SDK API', async () => {
    const specs = [
      { platform: 'ios', channel: 'apns', language: 'zh-Hans-CN', vip: true },
      { platform: 'ios', channel: 'apns', language: 'en-US', vip: true },
      { platform: 'ios', channel: 'apns', language: 'en-US', vip: false },
      { platform: 'android', channel: 'fcm', language: 'zh-CN', vip: true },
      { platform: 'android', channel: 'fcm', language: 'en-GB', vip: false },
    ];
    for (const s of specs) {
      const token =
        s.channel === 'apns' ? randomBytes(32).toString('hex') : `fcm-${randomBytes(20).toString('hex')}`;
      const reg = await json(
        'POST',
        '/sdk/v1/register',
        {
          platform: s.platform,
          channel: s.channel,
          token,
          language: s.language,
          ...(s.channel === 'apns' && { apns_environment: 'production' }),
        },
        { 'X-App-Key': appKey },
      );
      expect(reg.status).toBe(200);
      const rid = reg.body.registration_id;
      devices.push({ rid, channel: s.channel, token });
      if (s.vip) {
        const tags = await json(
          'POST',
          `/sdk/v1/devices/${rid}/tags`,
          { add: ['vip'] },
          { Authorization: `Bearer ${rid}:${reg.body.device_secret}` },
        );
        expect(tags.status).toBe(200);
      }
    }
  });

  it('builds an audience, shows the live estimate per channel, sends and watches it complete', async () => {
    await page.getByRole('link', { name: 'Send', exact: true }).click();
    await page.getByRole('heading', { name: 'Send' }).waitFor();
    const size = page.getByTestId('audience-size');
    await eventually(() => size.textContent(), '5', 10_000);

    await label('Alert text').fill('Hello from the console');
    await page.getByRole('radio', { name: 'Chosen devices' }).check();
    await page.getByLabel('Tags (any of)', { exact: true }).fill('vip');
    await eventually(() => size.textContent(), '3', 10_000);
    expect(await page.getByTestId('estimate-apns').textContent()).toMatch(/^APNS2\d+ \/ 4096 B$/);
    expect(await page.getByTestId('estimate-fcm').textContent()).toMatch(/^FCM1\d+ \/ 4096 B$/);

    // A nested filter narrows it: vip AND language zh.
    await button('Add condition').click();
    await page.getByLabel('Language Value').fill('zh');
    await eventually(() => size.textContent(), '2', 10_000);
    await shot('compose');

    // Enter in the segment's name saves the segment and sends nothing.
    await page.getByLabel('Saved segments Name', { exact: true }).fill('vip-zh');
    await page.getByLabel('Saved segments Name', { exact: true }).press('Enter');
    await page.getByRole('checkbox', { name: 'vip-zh' }).waitFor();
    // Enter in any other field asks first (with the audience), and sends nothing either.
    await page.getByLabel('Tags (any of)', { exact: true }).press('Enter');
    await eventually(() => page.getByTestId('confirm-size').textContent(), '2 devices match');
    await button('Cancel').click();
    expect(await ctx.db.query(`SELECT id FROM messages`)).toEqual([]);
    expect(new URL(page.url()).pathname).toBe(`${appUrl}/compose`);
    expect(await ctx.db.query(`SELECT name FROM segments`)).toEqual([{ name: 'vip-zh' }]);

    await button('Remove').click();
    await eventually(() => size.textContent(), '3', 10_000);

    await button('Send now').click();
    await button('Yes, send now').click();
    await page.waitForURL(/\/messages\/\d+$/);
    sentMsgId = page.url().split('/').pop()!;
    const bar = page.getByRole('progressbar', { name: 'Progress' });
    await eventually(() => bar.getAttribute('aria-valuenow'), '100', 30_000);
    await eventually(() => page.getByTestId('message-status').textContent(), 'completed');
    const total = (k: string) => page.getByTestId(`total-${k}`).textContent();
    await eventually(() => total('sent'), '3');
    expect([await total('targets'), await total('failed')]).toEqual(['3', '0']);
    // What the providers actually received matches what the page counts.
    const mine = (b: string) => b.includes(`"_hmid":"${sentMsgId}"`);
    expect(apns.requests.filter((r) => mine(r.body))).toHaveLength(2);
    expect(
      fcm.requests.filter((r) => (r.message.data as Record<string, string>)?._hmid === sentMsgId),
    ).toHaveLength(1);
    await page.getByRole('figure', { name: 'By channel' }).waitFor();
    await shot('message');
  });

  it('lists the message in the history and the delivery on the device page', async () => {
    await page.getByRole('link', { name: 'Messages', exact: true }).click();
    await page.getByTestId('messages').getByRole('link', { name: sentMsgId }).waitFor();
    await shot('messages');

    await page.getByRole('link', { name: 'Devices', exact: true }).click();
    await page.getByTestId('devices').waitFor();
    await label('Tag').fill('vip');
    await button('Search').click();
    await eventually(() => page.getByTestId('devices').locator('tbody tr').count(), 3);
    const fcmVip = devices[3].rid;
    await page.getByRole('link', { name: fcmVip }).click();
    await page.getByTestId('deliveries').getByRole('link', { name: sentMsgId }).waitFor();
    expect(await page.getByTestId('device-facts').textContent()).toContain('vip');
    await shot('device');
  });

  it('a crafted link reaches no other resource and never blanks the page', async () => {
    // A message id of `../../<app>/messages/<id>` stays one segment of the API path: unencoded, the
    // browser would resolve it to that app's message, whichever app the link names.
    const appId = appUrl.split('/').pop()!;
    const other = '00000000-0000-4000-8000-000000000000';
    const walk = encodeURIComponent(`../../${appId}/messages/${sentMsgId}`);
    const calls: string[] = [];
    const onRequest = (r: { url(): string }) => {
      if (r.url().includes('/dashboard/v1/apps/')) calls.push(new URL(r.url()).pathname);
    };
    page.on('request', onRequest);
    await page.goto(`${base}/console/apps/${other}/messages/${walk}`);
    await page.getByRole('alert').first().waitFor();
    page.off('request', onRequest);
    expect(await page.getByTestId('message-status').count()).toBe(0);
    expect(calls).toContain(`/dashboard/v1/apps/${other}/messages/${walk}`);
    // A malformed escape is a page not found, not an exception that unmounts the whole console.
    await page.goto(`${base}${appUrl}/messages/%E0%A4%A`);
    await page.getByText('Page not found.').waitFor();
    await page.getByRole('link', { name: 'Settings', exact: true }).click();
    await page.getByRole('heading', { name: 'Demo — App settings' }).waitFor();
  });

  it('sends a test push to one device from the app settings', async () => {
    await page.getByRole('link', { name: 'Settings', exact: true }).click();
    const test = form('Test send');
    await test.getByLabel('Registration ID').fill(devices[4].rid);
    await test.getByRole('button', { name: 'Send' }).click();
    const link = test.getByRole('status').getByRole('link');
    await link.waitFor();
    const msgId = (await link.textContent())!;
    await eventually(async () => (await messageRow(msgId))?.status, 'completed');
    expect(
      fcm.requests.filter((r) => (r.message.data as Record<string, string>)?._hmid === msgId),
    ).toHaveLength(1);
  });

  it('schedules a campaign, pauses and resumes it', async () => {
    await page.getByRole('link', { name: 'Send', exact: true }).click();
    await label('Alert text').fill('Weekly digest');
    await page.getByRole('radio', { name: 'Once', exact: true }).check();
    await label('Campaign name').fill('digest');
    const at = new Date(Date.now() + 2 * 86_400_000).toISOString().slice(0, 16);
    await page.getByLabel('Once at', { exact: true }).fill(at);
    await button('Schedule').click();
    await page.getByRole('heading', { name: 'Campaigns' }).waitFor();
    const status = page.getByTestId('campaign-status');
    await eventually(() => status.textContent(), 'scheduled');
    await button('Pause').click();
    await eventually(() => status.textContent(), 'paused');
    await button('Resume').click();
    await eventually(() => status.textContent(), 'scheduled');
    const [row] = await ctx.db.query<{ n: string }[]>(`SELECT count(*)::text AS n FROM campaigns`);
    expect(row.n).toBe('1');
    await shot('campaigns');
  });

  it('recalls a push while it is still sending', async () => {
    // Apple answers one device slowly, so the message is still on its way when the user recalls it.
    apns.script(devices[2].token, APNS_SCRIPTS.slow(6000));
    await page.getByRole('link', { name: 'Send', exact: true }).click();
    await label('Alert text').fill('Flash sale');
    await label('Time to live (seconds)').fill('600');
    await eventually(() => page.getByTestId('audience-size').textContent(), '5');
    await button('Send now').click();
    await button('Yes, send now').click();
    await page.waitForURL(/\/messages\/\d+$/);
    const msgId = page.url().split('/').pop()!;
    await button('Recall').click();
    await page.getByText('Message recalled').waitFor();
    await eventually(() => page.getByTestId('message-status').textContent(), 'cancelled');
    expect((await messageRow(msgId)).status).toBe('cancelled');
    await expect(button('Recall').count()).resolves.toBe(0);
  });

  it('shows daily statistics', async () => {
    await page.getByRole('link', { name: 'Statistics', exact: true }).click();
    await page.getByRole('figure', { name: 'Sent, delivered, clicked and failed per day' }).waitFor();
    await page.getByRole('figure', { name: 'New and active devices per day' }).waitFor();
    await shot('stats');
  });

  it('switches to Chinese and fits a phone screen', async () => {
    await page.getByRole('combobox', { name: 'Language' }).selectOption('zh');
    await page.getByRole('heading', { name: '每日统计' }).waitFor();
    await page.setViewportSize({ width: 390, height: 844 });
    await page.getByRole('link', { name: '发送', exact: true }).click();
    await page.getByRole('heading', { name: '发送' }).waitFor();
    // No sideways scrolling on a phone.
    const overflow = Number(
      // A string: this file is compiled without the DOM's types.
      await page.evaluate('document.documentElement.scrollWidth - window.innerWidth'),
    );
    expect(overflow).toBeLessThanOrEqual(0);
    await shot('phone-compose-zh');
    await page.getByRole('combobox', { name: '语言' }).selectOption('en');
    await page.setViewportSize({ width: 1280, height: 900 });
  });

  it('an invitee accepts through the copied link and lands in the organisation; a used link says so', async () => {
    await page.getByRole('link', { name: 'Members', exact: true }).click();
    const invite = form('Invite a member');
    await invite.getByLabel('E-mail').fill('dev@example.com');
    await invite.getByLabel('Role').selectOption('developer');
    await invite.getByRole('button', { name: 'Invite a member' }).click();
    const link = (await page.getByTestId(INVITE_LINK).textContent())!;
    expect(link).toMatch(new RegExp(`^${base}/console/invite#hinv_`));
    const token = decodeURIComponent(new URL(link).hash.slice(1));
    // The link is shown once: leaving the page forgets it.
    await page.getByRole('link', { name: 'Apps', exact: true }).click();

    // A browser of its own (no session of the inviter's): the token stays in the fragment, so no
    // request the browser makes carries it.
    const fresh = async () => {
      const c = await browser.newContext({ viewport: { width: 1280, height: 900 } });
      const p = await c.newPage();
      p.setDefaultTimeout(10_000);
      watchCsp(p);
      p.on('pageerror', (e) => console.error('page error:', e));
      const urls: string[] = [];
      p.on('request', (r) => urls.push(r.url()));
      return { c, p, urls };
    };
    const a = await fresh();
    await a.p.goto(link);
    await a.p.getByRole('heading', { name: 'Accept the invitation' }).waitFor();
    await a.p.getByLabel('Password', { exact: true }).fill(PASSWORD);
    await a.p.getByLabel('Your name (optional)', { exact: true }).fill('Dev Eloper');
    await a.p.screenshot({ path: join(SHOTS, 'invite.png'), fullPage: true });
    await a.p.getByRole('button', { name: 'Accept the invitation', exact: true }).click();
    await a.p.getByTestId('role').filter({ hasText: 'Developer' }).waitFor();
    await a.p.getByRole('link', { name: 'Demo' }).waitFor();
    expect(new URL(a.p.url()).pathname).toBe('/console/');
    expect(new URL(a.p.url()).hash).toBe('');
    expect(a.urls.filter((u) => u.includes(token))).toEqual([]);
    const [joined] = await ctx.db.query<{ role: string; display_name: string }[]>(
      `SELECT m.role, u.display_name FROM memberships m JOIN users u ON u.id = m.user_id
        WHERE u.email = 'dev@example.com'`,
    );
    expect(joined).toEqual({ role: 'developer', display_name: 'Dev Eloper' });
    await a.c.close();

    // The link works once: opened again, it says so, in plain words and the server's.
    const b = await fresh();
    await b.p.goto(link);
    await b.p.getByLabel('Password', { exact: true }).fill(PASSWORD);
    await b.p.getByRole('button', { name: 'Accept the invitation', exact: true }).click();
    const alert = b.p.getByRole('alert');
    await alert.waitFor();
    expect(await alert.textContent()).toMatch(/can no longer be used.*used, revoked or expired/);
    expect(await b.p.evaluate("localStorage.getItem('herald.console.session')")).toBeNull();
    await b.p.screenshot({ path: join(SHOTS, 'invite-used.png'), fullPage: true });
    await b.c.close();
  });

  it('a viewer sees no changing actions, and the api refuses them', async () => {
    await page.getByRole('link', { name: 'Members', exact: true }).click();
    const invite = form('Invite a member');
    await invite.getByLabel('E-mail').fill('viewer@example.com');
    await invite.getByLabel('Role').selectOption('viewer');
    await invite.getByRole('button', { name: 'Invite a member' }).click();
    const link = (await page.getByTestId(INVITE_LINK).textContent())!;
    const token = decodeURIComponent(new URL(link).hash.slice(1));
    await shot('members');
    const accepted = await json(
      'POST',
      '/dashboard/v1/auth/accept-invite',
      { token, password: PASSWORD },
      {},
    );
    expect(accepted.status).toBe(200);

    const viewer = await browser.newPage({ viewport: { width: 1280, height: 900 } });
    await viewer.goto(`${base}/console/login`);
    await viewer.getByLabel('E-mail', { exact: true }).fill('viewer@example.com');
    await viewer.getByLabel('Password', { exact: true }).fill(PASSWORD);
    await viewer.getByRole('button', { name: 'Sign in', exact: true }).click();
    await viewer.getByTestId('role').filter({ hasText: 'Viewer' }).waitFor();
    await viewer.getByRole('link', { name: 'Demo' }).waitFor();
    expect(await viewer.getByRole('form', { name: 'New app' }).count()).toBe(0);
    await viewer.goto(`${base}${appUrl}`);
    await viewer.getByRole('heading', { name: 'Provider credentials' }).waitFor();
    expect(await viewer.getByRole('button', { name: 'Upload' }).count()).toBe(0);
    expect(await viewer.getByRole('button', { name: 'Rotate' }).count()).toBe(0);
    await viewer.goto(`${base}${appUrl}/messages/${sentMsgId}`);
    await viewer.getByTestId('message-status').waitFor();
    await viewer.close();

    const refused = await json(
      'POST',
      `/dashboard/v1${appUrl.replace('/console', '')}/push`,
      {
        platform: 'all',
        audience: 'all',
        notification: { alert: 'nope' },
      },
      { Authorization: `Bearer ${accepted.body.access_token}` },
    );
    expect({ status: refused.status, code: refused.body.code }).toEqual({ status: 403, code: 'forbidden' });
  });

  it('broke no Content-Security-Policy rule on any page, and may not be framed', async () => {
    expect(cspViolations).toEqual([]);
    const res = await fetch(`${base}/console/login`);
    expect(res.headers.get('content-security-policy')).toContain("frame-ancestors 'none'");
    expect(res.headers.get('x-frame-options')).toBe('DENY');
  });
});
