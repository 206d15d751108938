import { HeraldError } from '@herald/common';
import { createDataSource, type AppEntity } from '@herald/db';
import {
  createApp,
  createDevice,
  createTenant,
  createTestContext,
  type DeviceOverrides,
  type TestContext,
} from '@herald/testing';
import { appVersionKey } from './app-version';
import { parsePushTarget } from './audience.parser';
import { AudienceService } from './audience.service';
import { MAX_DEVICE_ID } from './audience.scanner';
import { canonicalLanguage } from './language';

const DAY = 86_400_000;
const ago = (days: number) => new Date(Date.now() - days * DAY);

/**
 * The hand-built device set: every leaf and operator below is checked against these by name.
 * `quarantined` and `invalid` match every condition but are not active; app B's twins match every
 * condition but belong to another app: neither may ever appear.
 */
const DEVICES: Record<string, DeviceOverrides> = {
  ios_zh: {
    channel: 'apns',
    platform: 'ios',
    tags: ['深圳', 'vip'],
    alias: 'alice',
    language: 'zh-hans-cn',
    country: 'CN',
    province: 'CN-GD',
    city: 'Shenzhen',
    appVersion: '2.1.0',
    lastSeenAt: ago(1),
  },
  and_zh: {
    channel: 'fcm',
    platform: 'android',
    tags: ['广州', 'vip', 'a@b!#$&*+=.|￥'],
    alias: 'bob',
    language: 'zh-cn',
    country: 'CN',
    province: 'CN-GD',
    city: 'Guangzhou',
    appVersion: '2.0.0-beta.1',
    lastSeenAt: ago(10),
  },
  gw_en: {
    channel: 'gateway',
    platform: 'android',
    tags: ['北京'],
    alias: null,
    language: 'en-us',
    country: 'US',
    appVersion: '3.0.0',
    lastSeenAt: ago(40),
  },
  ios_en: {
    channel: 'apns',
    platform: 'ios',
    tags: [],
    alias: 'alice',
    language: 'en',
    country: 'GB',
    appVersion: '3.0.0-rc.1',
    lastSeenAt: null,
  },
  and_nolang: {
    channel: 'fcm',
    platform: 'android',
    tags: ['vip', '深圳'],
    language: null,
    country: null,
    appVersion: '1',
    lastSeenAt: ago(100),
  },
  zhx: {
    channel: 'fcm',
    platform: 'android',
    tags: ['x_y'],
    language: 'zhx',
    country: 'CN',
    appVersion: '2.1.0-rc.1',
    lastSeenAt: ago(5),
  },
};
const ACTIVE = Object.keys(DEVICES).sort();
const TWIN: DeviceOverrides = {
  channel: 'apns',
  platform: 'ios',
  tags: ['深圳', 'vip', '广州', '北京', 'a@b!#$&*+=.|￥', 'x_y'],
  alias: 'alice',
  language: 'zh-cn',
  country: 'CN',
  province: 'CN-GD',
  city: 'Shenzhen',
  appVersion: '2.1.0',
  lastSeenAt: ago(1),
};

describe('audience compiler, estimate and scan on PostgreSQL', () => {
  let ctx: TestContext;
  let audience: AudienceService;
  let appA: AppEntity;
  let appB: AppEntity;
  const names = new Map<string, string>(); // registration id → name
  const rid: Record<string, string> = {};

  beforeAll(async () => {
    ctx = await createTestContext();
    audience = new AudienceService(ctx.db);
    const tenant = await createTenant(ctx.db);
    appA = (await createApp(ctx.db, ctx.config, tenant)).app;
    appB = (await createApp(ctx.db, ctx.config, tenant)).app;
    const add = async (app: AppEntity, name: string, overrides: DeviceOverrides) => {
      const { device } = await createDevice(ctx.db, ctx.config, app, overrides);
      names.set(device.registrationId, name);
      rid[name] = device.registrationId;
    };
    for (const [name, d] of Object.entries(DEVICES)) await add(appA, name, d);
    await add(appA, 'quarantined', { ...TWIN, status: 'quarantined' });
    await add(appA, 'invalid', { ...TWIN, channel: 'fcm', platform: 'android', status: 'invalid' });
    await add(appB, 'b_twin', TWIN);
    await add(appB, 'b_twin_en', { ...TWIN, language: 'en', tags: [], country: 'US', lastSeenAt: null });
    const versions = await ctx.db.query<{ id: string; app_version: string | null }[]>(
      'SELECT id, app_version FROM devices',
    );
    for (const v of versions) {
      await ctx.db.query('UPDATE devices SET app_version_key = $2 WHERE id = $1', [
        v.id,
        v.app_version === null ? null : appVersionKey(v.app_version),
      ]);
    }
  });
  afterAll(() => ctx.close());

  /** Names of the matched devices, by scan; also checks that the estimate agrees with the scan. */
  async function match(
    audienceJson: unknown,
    platform: unknown = 'all',
    app: AppEntity = appA,
  ): Promise<string[]> {
    const compiled = await audience.compile(app.id, parsePushTarget({ platform, audience: audienceJson }));
    const found: string[] = [];
    for await (const page of audience.scan(compiled, { pageSize: 2 })) {
      for (const d of page) found.push(names.get(d.registrationId) ?? d.registrationId);
    }
    const estimate = await audience.estimate(app.id, compiled);
    expect(estimate.total).toBe(found.length);
    return found.sort();
  }
  const filter = (f: unknown) => match({ filter: f });
  const except = (...drop: string[]) => ACTIVE.filter((n) => !drop.includes(n));

  async function rejects(audienceJson: unknown, jpushCode: number, message: RegExp) {
    const err: unknown = await match(audienceJson).then(
      () => null,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(HeraldError);
    expect((err as HeraldError).jpushCode).toBe(jpushCode);
    expect((err as HeraldError).message).toMatch(message);
  }

  describe('JPush audience keys', () => {
    it('all: every active device of the app, none of another app, none inactive', async () => {
      expect(await match('all')).toEqual(ACTIVE);
      expect(await match('all', 'all', appB)).toEqual(['b_twin', 'b_twin_en']);
    });

    it('platform', async () => {
      expect(await match('all', ['ios'])).toEqual(['ios_en', 'ios_zh']);
      expect(await match('all', ['android', 'winphone'])).toEqual(['and_nolang', 'and_zh', 'gw_en', 'zhx']);
      expect(await match('all', ['hmos'])).toEqual([]);
    });

    it('tag is OR, with Chinese tags and JPush special characters', async () => {
      expect(await match({ tag: ['深圳', '北京'] })).toEqual(['and_nolang', 'gw_en', 'ios_zh']);
      expect(await match({ tag: ['a@b!#$&*+=.|￥'] })).toEqual(['and_zh']);
      expect(await match({ tag: ['x_y'] })).toEqual(['zhx']);
      expect(await match({ tag: ['VIP'] })).toEqual([]); // tags are case-sensitive
    });

    it('tag_and is AND', async () => {
      expect(await match({ tag_and: ['vip', '深圳'] })).toEqual(['and_nolang', 'ios_zh']);
      expect(await match({ tag_and: ['vip', '北京'] })).toEqual([]);
    });

    it('tag_not is NOT of the union; NOT of an empty set is everything', async () => {
      expect(await match({ tag_not: ['vip', '北京'] })).toEqual(['ios_en', 'zhx']);
      expect(await match({ tag_not: ['nobody_has_this'] })).toEqual(ACTIVE);
    });

    it('alias and registration_id never reach another app', async () => {
      expect(await match({ alias: ['alice'] })).toEqual(['ios_en', 'ios_zh']);
      expect(await match({ registration_id: [rid.gw_en, rid.b_twin, rid.quarantined] })).toEqual(['gw_en']);
    });

    it('keys are ANDed, empty arrays are absent, and platform applies too', async () => {
      expect(await match({ tag: ['vip'], alias: ['alice'] })).toEqual(['ios_zh']);
      expect(await match({ tag: ['vip', '北京'], tag_not: ['深圳'], alias: [] })).toEqual([
        'and_zh',
        'gw_en',
      ]);
      expect(await match({ tag: ['vip'] }, ['android'])).toEqual(['and_nolang', 'and_zh']);
    });
  });

  describe('filter leaves', () => {
    it('language matches the tag and its longer forms, case-insensitively, never a mere string prefix', async () => {
      expect(await filter({ language: ['zh'] })).toEqual(['and_zh', 'ios_zh']);
      expect(await filter({ language: ['ZH-Hans'] })).toEqual(['ios_zh']);
      expect(await filter({ language: ['en'] })).toEqual(['gw_en', 'ios_en']);
      expect(await filter({ language: ['en-US', 'zhx'] })).toEqual(['gw_en', 'zhx']);
      // More values than LANGUAGE_INDEXED_VALUES take the array form; same answer.
      const many = ['zh', 'aa', 'ab', 'ae', 'af', 'ak', 'am', 'an', 'ar'];
      expect(await filter({ language: many })).toEqual(['and_zh', 'ios_zh']);
      expect(await filter({ language: [...many, 'en-us'] })).toEqual(['and_zh', 'gw_en', 'ios_zh']);
    });

    it('NOT of a leaf includes devices whose column is NULL', async () => {
      expect(await filter({ not: { language: ['zh'] } })).toEqual(except('and_zh', 'ios_zh'));
      expect(await filter({ not: { alias: ['alice'] } })).toEqual(except('ios_en', 'ios_zh'));
      expect(await filter({ not: { not: { alias: ['alice'] } } })).toEqual(['ios_en', 'ios_zh']);
      expect(await filter({ not: { tag: ['nobody_has_this'] } })).toEqual(ACTIVE);
    });

    it('country, province and city', async () => {
      expect(await filter({ country: ['cn'] })).toEqual(['and_zh', 'ios_zh', 'zhx']);
      expect(await filter({ not: { country: ['CN'] } })).toEqual(['and_nolang', 'gw_en', 'ios_en']);
      expect(await filter({ province: ['cn-gd'] })).toEqual(['and_zh', 'ios_zh']);
      expect(await filter({ city: ['shenzhen', 'Beijing'] })).toEqual(['ios_zh']);
      expect(await filter({ city: ["x'); DROP TABLE devices; --"] })).toEqual([]);
    });

    it('channel, platform, tag, tag_and, alias and registration_id leaves', async () => {
      expect(await filter({ channel: ['gateway', 'apns'] })).toEqual(['gw_en', 'ios_en', 'ios_zh']);
      expect(await filter({ platform: ['ios'] })).toEqual(['ios_en', 'ios_zh']);
      expect(await filter({ tag: ['广州', '北京'] })).toEqual(['and_zh', 'gw_en']);
      expect(await filter({ tag_and: ['广州', 'vip'] })).toEqual(['and_zh']);
      expect(await filter({ alias: ['bob'] })).toEqual(['and_zh']);
      expect(await filter({ registration_id: [rid.zhx, rid.b_twin] })).toEqual(['zhx']);
    });

    it('app_version compares as semantic versions: missing parts are 0, pre-releases sort first', async () => {
      // 2.1.0, 2.0.0-beta.1, 3.0.0, 3.0.0-rc.1, 1, 2.1.0-rc.1
      expect(await filter({ app_version: { gte: '2.1' } })).toEqual(['gw_en', 'ios_en', 'ios_zh']);
      expect(await filter({ app_version: { gt: '2.1.0-rc.1' } })).toEqual(['gw_en', 'ios_en', 'ios_zh']);
      expect(await filter({ app_version: { lt: '3' } })).toEqual([
        'and_nolang',
        'and_zh',
        'ios_en',
        'ios_zh',
        'zhx',
      ]);
      expect(await filter({ app_version: { gte: '2', lt: '3' } })).toEqual(['ios_en', 'ios_zh', 'zhx']);
      expect(await filter({ app_version: { gte: '2.0.0-alpha', lte: '2.0.0' } })).toEqual(['and_zh']);
      expect(await filter({ app_version: { eq: '1.0' } })).toEqual(['and_nolang']);
      expect(await filter({ app_version: { eq: '3.0.0-rc.1' } })).toEqual(['ios_en']);
    });

    it('last_active windows; never seen counts as not active', async () => {
      expect(await filter({ last_active: { within_days: 7 } })).toEqual(['ios_zh', 'zhx']);
      expect(await filter({ last_active: { within_days: 30 } })).toEqual(['and_zh', 'ios_zh', 'zhx']);
      expect(await filter({ last_active: { not_within_days: 30 } })).toEqual([
        'and_nolang',
        'gw_en',
        'ios_en',
      ]);
      expect(await filter({ last_active: { not_within_days: 90 } })).toEqual(['and_nolang', 'ios_en']);
    });

    it('and / or / not nest', async () => {
      expect(
        await filter({
          or: [{ and: [{ country: ['CN'] }, { not: { tag: ['vip'] } }] }, { channel: ['gateway'] }],
        }),
      ).toEqual(['gw_en', 'zhx']);
      expect(
        await match({
          tag: ['vip'],
          filter: { and: [{ language: ['zh'] }, { not: { platform: ['ios'] } }] },
        }),
      ).toEqual(['and_zh']);
    });
  });

  describe('segments', () => {
    it('a segment is its saved filter; several are ORed; other apps and unknown ids are 1003', async () => {
      const zh = await audience.segments.create(appA.id, { name: 'chinese', filter: { language: ['zh'] } });
      const gw = await audience.segments.create(appA.id, {
        name: 'gateway',
        filter: { channel: ['gateway'] },
      });
      const other = await audience.segments.create(appB.id, {
        name: 'chinese',
        filter: { language: ['zh'] },
      });
      expect(await match({ segment: [zh.id] })).toEqual(['and_zh', 'ios_zh']);
      expect(await match({ segment: [zh.id, gw.id] })).toEqual(['and_zh', 'gw_en', 'ios_zh']);
      expect(await match({ segment: [zh.id], tag: ['广州'] })).toEqual(['and_zh']);
      await rejects({ segment: [other.id] }, 1003, new RegExp(other.id));
      await rejects({ segment: ['00000000-0000-4000-8000-000000000000'] }, 1003, /no segment/);
    });
  });

  describe('SegmentService', () => {
    it('creates, reads, lists by page, updates and deletes, scoped by app', async () => {
      const segments = audience.segments;
      const made = [];
      for (const name of ['s-c', 's-a', 's-b']) {
        made.push(await segments.create(appB.id, { name, filter: { country: ['cn'] } }));
      }
      expect(made[0]).toMatchObject({ appId: appB.id, name: 's-c', filter: { country: ['CN'] } });
      expect(await segments.get(appB.id, made[0].id.toUpperCase())).toMatchObject({ id: made[0].id });
      await expect(segments.get(appA.id, made[0].id)).rejects.toMatchObject({
        code: 'not_found',
        status: 404,
      });
      await expect(segments.get(appB.id, 'nope')).rejects.toMatchObject({ code: 'not_found' });

      const first = await segments.list(appB.id, { limit: 2 });
      expect(first.items.map((x) => x.name)).toEqual(['chinese', 's-a']);
      const second = await segments.list(appB.id, { limit: 2, cursor: first.nextCursor });
      expect(second.items.map((x) => x.name)).toEqual(['s-b', 's-c']);
      expect(second.nextCursor).toBeNull();
      await expect(segments.list(appB.id, { cursor: '!!' })).rejects.toMatchObject({
        code: 'invalid_parameter',
      });
      expect((await segments.list(appA.id)).items.every((x) => x.appId === appA.id)).toBe(true);

      const renamed = await segments.update(appB.id, made[0].id, {
        name: 's-z',
        filter: { language: ['EN'] },
      });
      expect(renamed).toMatchObject({ name: 's-z', filter: { language: ['en'] } });
      expect(renamed.updatedAt.getTime()).toBeGreaterThanOrEqual(made[0].updatedAt.getTime());
      await expect(segments.update(appA.id, made[0].id, { name: 'x' })).rejects.toMatchObject({
        code: 'not_found',
      });

      await segments.delete(appB.id, made[0].id);
      await expect(segments.delete(appB.id, made[0].id)).rejects.toMatchObject({ code: 'not_found' });
      await expect(segments.delete(appA.id, made[1].id)).rejects.toMatchObject({ code: 'not_found' });
      expect(await segments.get(appB.id, made[1].id)).toMatchObject({ name: 's-a' });
    });

    it('refuses a duplicate name in the same app (409) but not in another, and invalid filters (1003/1009)', async () => {
      const segments = audience.segments;
      await segments.create(appA.id, { name: 'dup', filter: { tag: ['vip'] } });
      await expect(segments.create(appA.id, { name: 'dup', filter: { tag: ['x'] } })).rejects.toMatchObject({
        code: 'conflict',
        status: 409,
      });
      const other = await segments.create(appA.id, { name: 'dup2', filter: { tag: ['vip'] } });
      await expect(segments.update(appA.id, other.id, { name: 'dup' })).rejects.toMatchObject({
        code: 'conflict',
      });
      await expect(
        segments.create(appB.id, { name: 'dup', filter: { tag: ['vip'] } }),
      ).resolves.toMatchObject({
        name: 'dup',
      });
      await expect(segments.create(appA.id, { name: 'bad', filter: { tag: [] } })).rejects.toMatchObject({
        jpushCode: 1003,
      });
      await expect(
        segments.create(appA.id, { name: 'bad', filter: { colour: ['red'] } }),
      ).rejects.toMatchObject({
        jpushCode: 1009,
      });
      await expect(segments.create(appA.id, { name: ' ', filter: { tag: ['a'] } })).rejects.toMatchObject({
        code: 'invalid_parameter',
      });
      await expect(segments.update(appA.id, other.id, { filter: { and: [] } })).rejects.toMatchObject({
        jpushCode: 1003,
      });
    });
  });

  describe('estimate', () => {
    it('counts in total, per channel and per platform', async () => {
      const target = parsePushTarget({ platform: 'all', audience: 'all' });
      expect(await audience.estimate(appA.id, target)).toEqual({
        total: 6,
        byChannel: { apns: 2, fcm: 3, gateway: 1 },
        byPlatform: { ios: 2, android: 4 },
      });
      const none = parsePushTarget({ platform: 'all', audience: { alias: ['nobody'] } });
      expect(await audience.estimate(appA.id, none)).toEqual({
        total: 0,
        byChannel: { apns: 0, fcm: 0, gateway: 0 },
        byPlatform: {},
      });
    });
  });

  describe('keyset scan over split ranges', () => {
    let appC: AppEntity;
    let expected: string[];

    beforeAll(async () => {
      appC = (await createApp(ctx.db, ctx.config, await createTenant(ctx.db))).app;
      // 1,000 devices of C interleaved with 500 of B (ids not contiguous), every 7th inactive.
      await ctx.db.query(
        `INSERT INTO devices (app_id, registration_id, device_secret_hash, platform, channel, status, tags)
         SELECT CASE WHEN g % 3 = 0 THEN $2::uuid ELSE $1::uuid END, 'scan' || g, 'h',
                'android', 'fcm', CASE WHEN g % 7 = 0 THEN 'invalid' ELSE 'active' END,
                CASE WHEN g % 2 = 0 THEN ARRAY['even'] ELSE ARRAY[]::text[] END
           FROM generate_series(1, 1500) g`,
        [appC.id, appB.id],
      );
      expected = (
        await ctx.db.query<{ id: string }[]>(
          `SELECT id::text AS id FROM devices WHERE app_id = $1 AND status = 'active' ORDER BY devices.id`,
          [appC.id],
        )
      ).map((r) => r.id);
    });

    it('returns every device exactly once, in id order, across ranges and pages', async () => {
      const compiled = await audience.compile(appC.id, parsePushTarget({ platform: 'all', audience: 'all' }));
      for (const n of [1, 3, 8]) {
        const ranges = await audience.splitRanges(appC.id, n);
        expect(ranges).toHaveLength(n);
        expect(ranges[0].afterId).toBe('0');
        expect(ranges[ranges.length - 1].throughId).toBe(MAX_DEVICE_ID);
        ranges.slice(1).forEach((r, i) => expect(r.afterId).toBe(ranges[i].throughId));
        const seen: string[] = [];
        const sizes: number[] = [];
        for (const range of ranges) {
          let size = 0;
          for await (const page of audience.scan(compiled, { pageSize: 37, range })) {
            expect(page.length).toBeLessThanOrEqual(37);
            for (const d of page) seen.push(d.id);
            size += page.length;
          }
          sizes.push(size);
        }
        expect(seen).toEqual(expected);
        // About equal: percentiles split the active devices evenly (± one for rounding).
        for (const s of sizes) expect(Math.abs(s - expected.length / n)).toBeLessThanOrEqual(1);
      }
    });

    it('scans a filtered audience, returns the delivery columns, and can be stopped early', async () => {
      const compiled = await audience.compile(
        appC.id,
        parsePushTarget({ platform: 'all', audience: { tag: ['even'] } }),
      );
      let count = 0;
      for await (const page of audience.scan(compiled, { pageSize: 100 })) {
        count += page.length;
        expect(Object.keys(page[0]).sort()).toEqual(
          [
            'apnsEnvironment',
            'badge',
            'channel',
            'id',
            'language',
            'platform',
            'registrationId',
            'timezone',
            'token',
          ].sort(),
        );
      }
      const evens = await ctx.db.query<{ n: number }[]>(
        `SELECT count(*)::int AS n FROM devices WHERE app_id = $1 AND status = 'active' AND 'even' = ANY(tags)`,
        [appC.id],
      );
      expect(count).toBe(evens[0].n);
      const pages = audience.scan(compiled, { pageSize: 10 });
      for await (const page of pages) {
        expect(page).toHaveLength(10);
        break;
      }
    });

    it('reads every delivery column back exactly as stored, whatever the text holds', async () => {
      const app = (await createApp(ctx.db, ctx.config, await createTenant(ctx.db))).app;
      // Separators, digits that look like a length, characters outside the BMP, Chinese, NULLs.
      const rows = [
        ['apns', 'ios', 'ab\x1fcd\x1e12\x1fef', 'production', 'zh-hans-cn', 3, 'Asia/Shanghai'],
        ['fcm', 'android', '😀tok😀\x1f-1\x1f', null, null, 0, null],
        ['gateway', 'android', null, null, 'en', 0, 'Europe/London'],
        ['apns', '平台\x1f', '10\x1f', 'sandbox', '语言😀', 2147483647, '\x1f'],
        ['fcm', 'android', '', null, '', 1, ''],
      ] as const;
      const want = [];
      for (const [i, [channel, platform, token, env, language, badge, timezone]] of rows.entries()) {
        const registrationId = `exact-${i}-\x1f😀`;
        const [{ id }] = await ctx.db.query<{ id: string }[]>(
          `INSERT INTO devices (app_id, registration_id, device_secret_hash, platform, channel, token,
             apns_environment, language, badge, timezone)
           VALUES ($1, $2, 'h', $3, $4, $5, $6, $7, $8, $9) RETURNING id::text AS id`,
          [app.id, registrationId, platform, channel, token, env, language, badge, timezone],
        );
        want.push({
          id,
          registrationId,
          channel,
          platform,
          token,
          apnsEnvironment: env,
          language,
          badge,
          timezone,
        });
      }
      const compiled = await audience.compile(app.id, parsePushTarget({ platform: 'all', audience: 'all' }));
      for (const pageSize of [1, 2, 100]) {
        const got = [];
        for await (const page of audience.scan(compiled, { pageSize })) got.push(...page);
        expect(got).toEqual(want);
      }
    });

    it('splits an app with no devices into one full range', async () => {
      const empty = (await createApp(ctx.db, ctx.config, await createTenant(ctx.db))).app;
      expect(await audience.splitRanges(empty.id, 4)).toEqual([{ afterId: '0', throughId: MAX_DEVICE_ID }]);
    });
  });

  describe('long language lists', () => {
    // Its own app, so the shared device set above stays as every other test counts it.
    let appL: AppEntity;
    const lname = new Map<string, string>();
    const LANGS: Record<string, string | null> = {
      zh: 'zh',
      zh_hans_cn: 'zh-hans-cn',
      zh_hant_tw: 'zh-hant-tw',
      zhx: 'zhx',
      en_us: 'en-us',
      // As the device API stores them (the same canonicalisation): Android's in_ID, iw, sh_RS.
      id_id: canonicalLanguage('in_ID')?.tag ?? null,
      he: canonicalLanguage('iw')?.tag ?? null,
      sr_latn_rs: canonicalLanguage('sh_RS')?.tag ?? null,
      none: null,
    };

    beforeAll(async () => {
      appL = (await createApp(ctx.db, ctx.config, await createTenant(ctx.db))).app;
      for (const [name, language] of Object.entries(LANGS)) {
        const { device } = await createDevice(ctx.db, ctx.config, appL, { channel: 'fcm', language });
        lname.set(device.registrationId, name);
      }
    });

    async function langMatch(filterJson: unknown): Promise<{ names: string[]; where: string }> {
      const compiled = await audience.compile(
        appL.id,
        parsePushTarget({ platform: 'all', audience: { filter: filterJson } }),
      );
      const found: string[] = [];
      for await (const page of audience.scan(compiled, { pageSize: 3 })) {
        for (const d of page) found.push(lname.get(d.registrationId) ?? d.registrationId);
      }
      expect((await audience.estimate(appL.id, compiled)).total).toBe(found.length);
      return { names: found.sort(), where: compiled.where };
    }

    /** 990 values no device has, of 4 lengths (`qq-x0` … `qq-x989`), or of 16 (`qq-b-c-x0`, `qq-bb-c-x1`, …). */
    const fewLengths = Array.from({ length: 990 }, (_, i) => `qq-x${i}`);
    const manyLengths = Array.from(
      { length: 990 },
      (_, i) => `qq-${'b'.repeat(1 + (i % 8))}-${'c'.repeat(1 + ((i >> 3) % 8))}-x${i}`,
    );

    it.each([
      [['zh'], ['zh', 'zh_hans_cn', 'zh_hant_tw']],
      [['zh-hans'], ['zh_hans_cn']],
      [
        ['ZH-Hant-TW', 'en'],
        ['en_us', 'zh_hant_tw'],
      ],
      [['zhx', 'zh-h', 'en-u'], ['zhx']],
      [['zh-hans-cn-x'], []],
      [['sr', 'he-il'], ['sr_latn_rs']],
    ])(
      '%j: a long list matches what the short one does, in both set forms, never by a mere string prefix',
      async (values, expected) => {
        const short = await langMatch({ language: values });
        expect(short.names).toEqual(expected);
        for (const filler of [fewLengths, manyLengths]) {
          const long = await langMatch({ language: [...values, ...filler] });
          expect(long.names).toEqual(expected);
          // Set lookups only: LIKE ANY compared every device with every pattern, one by one.
          expect(long.where).not.toMatch(/LIKE/);
          expect(long.where).toMatch(filler === fewLengths ? /left\(d\.language/ : /EXISTS/);
          const negated = await langMatch({ not: { language: [...values, ...filler] } });
          expect(negated.names).toEqual([...lname.values()].filter((n) => !expected.includes(n)).sort());
        }
      },
    );

    it('reads filter values as device languages are stored: in finds the devices that registered in_ID', async () => {
      expect(LANGS.id_id).toBe('id-id');
      expect((await langMatch({ language: ['in'] })).names).toEqual(['id_id']);
      expect((await langMatch({ language: ['in-ID'] })).names).toEqual(['id_id']);
      expect((await langMatch({ language: ['id'] })).names).toEqual(['id_id']);
      expect((await langMatch({ language: ['iw'] })).names).toEqual(['he']);
      expect((await langMatch({ language: ['sh'] })).names).toEqual(['sr_latn_rs']);
      expect((await langMatch({ language: ['in', ...fewLengths] })).names).toEqual(['id_id']);
      // An audience stored before values were canonicalised (a schedule's spec) compiles the same way.
      const stored = await audience.compile(appL.id, {
        platform: 'all',
        audience: { all: false, filter: { language: ['in', 'iw'] } },
      });
      expect((await audience.estimate(appL.id, stored)).total).toBe(2);
    });

    it('costs little per device at the documented limits: 50 leaves of 1,000 languages over 2,500 devices', async () => {
      // LIKE ANY took ~0.7 ms a device for this (1.8 s here, the 30 s statement timeout at ~40,000
      // devices); set lookups take ~0.03 ms (~0.07 ms in the many-lengths form).
      const appP = (await createApp(ctx.db, ctx.config, await createTenant(ctx.db))).app;
      await ctx.db.query(
        `INSERT INTO devices (app_id, registration_id, device_secret_hash, platform, channel, language)
         SELECT $1::uuid, 'lang' || g, 'h', 'android', 'fcm', (ARRAY['en-us', 'zh-hans-cn', 'de'])[1 + g % 3]
           FROM generate_series(1, 2500) g`,
        [appP.id],
      );
      await ctx.db.query('ANALYZE devices');
      for (const values of [
        [...fewLengths, ...Array.from({ length: 10 }, (_, i) => `qq-y${i}`)],
        [...manyLengths, ...Array.from({ length: 10 }, (_, i) => `qq-y${i}`)],
      ]) {
        const compiled = await audience.compile(
          appP.id,
          parsePushTarget({
            platform: 'all',
            audience: { filter: { and: Array.from({ length: 50 }, () => ({ not: { language: values } })) } },
          }),
        );
        const [{ n }] = await ctx.db.transaction(async (tx) => {
          await tx.query('SET LOCAL jit = off');
          await tx.query('SET LOCAL statement_timeout = 1000');
          return tx.query<{ n: number }[]>(
            `SELECT count(*)::int AS n FROM ${compiled.from} d WHERE ${compiled.where}`,
            compiled.params,
          );
        });
        expect(n).toBe(2500);
      }
    }, 60_000);
  });

  it('compiles to conditions the language and tag indexes serve (the planner sees the bound values)', async () => {
    // 20,000 devices of which ten speak Chinese and ten carry the tag: selective enough that the
    // planner prefers the index over walking the app's rows, if the SQL lets it.
    const appD = (await createApp(ctx.db, ctx.config, await createTenant(ctx.db))).app;
    await ctx.db.query(
      `INSERT INTO devices (app_id, registration_id, device_secret_hash, platform, channel, language, tags)
       SELECT $1::uuid, 'plan' || g, 'h', 'android', 'fcm',
              CASE WHEN g % 2000 = 0 THEN 'zh-cn' ELSE 'en-us' END,
              CASE WHEN g % 2000 = 1 THEN ARRAY['深圳'] ELSE ARRAY['common'] END
         FROM generate_series(1, 20000) g`,
      [appD.id],
    );
    await ctx.db.query('ANALYZE devices');
    const plan = async (audienceJson: unknown) => {
      const compiled = await audience.compile(
        appD.id,
        parsePushTarget({ platform: 'all', audience: audienceJson }),
      );
      const rows = await ctx.db.query<{ 'QUERY PLAN': string }[]>(
        `EXPLAIN SELECT count(*) FROM devices d WHERE ${compiled.where}`,
        compiled.params,
      );
      return rows.map((r) => r['QUERY PLAN']).join('\n');
    };
    expect(await plan({ filter: { language: ['zh'] } })).toMatch(/devices_language_idx/);
    expect(await plan({ filter: { language: ['zh-CN'] } })).toMatch(/devices_language_idx/);
    expect(await plan({ tag: ['深圳'] })).toMatch(/devices_tags_idx/);
    expect(await match({ filter: { language: ['zh'] } }, 'all', appD)).toHaveLength(10);
  });

  it('the segment index covers a broad segment: counted without visiting the table', async () => {
    // A tag on a third of the devices, a language and a country: no single-column index is selective,
    // and rows as wide as real ones (a push token each), so the table is several times the index.
    const appF = (await createApp(ctx.db, ctx.config, await createTenant(ctx.db))).app;
    await ctx.db.query(
      `INSERT INTO devices (app_id, registration_id, device_secret_hash, platform, channel, language, country, tags,
                            token)
       SELECT $1::uuid, 'seg' || g, 'h', 'android', 'fcm',
              (ARRAY['zh-cn', 'en-us', 'ja-jp'])[1 + g % 3], (ARRAY['CN', 'US'])[1 + g % 2],
              ARRAY['t' || (g % 3)], repeat(md5(g::text), 5) -- an FCM token's ~160 characters
         FROM generate_series(1, 30000) g`,
      [appF.id],
    );
    await ctx.db.query('VACUUM ANALYZE devices');
    const compiled = await audience.compile(
      appF.id,
      parsePushTarget({
        platform: 'all',
        audience: { tag: ['t0', 't1'], filter: { and: [{ language: ['zh'] }, { country: ['CN'] }] } },
      }),
    );
    // At this size the planner may still prefer another index (at 1,000,000 devices it takes this one:
    // docs/benchmarks.md); with the others ruled out, the count must need no visit to the table.
    const plan = await ctx.db.transaction(async (tx) => {
      await tx.query('SET LOCAL enable_bitmapscan = off');
      await tx.query('SET LOCAL enable_seqscan = off');
      const rows = await tx.query<{ 'QUERY PLAN': string }[]>(
        `EXPLAIN (ANALYZE, COSTS OFF) SELECT d.channel, d.platform, count(*) FROM ${compiled.from} d
          WHERE ${compiled.where} GROUP BY d.channel, d.platform`,
        compiled.params,
      );
      return rows.map((r) => r['QUERY PLAN']).join('\n');
    });
    expect(plan).toMatch(/Index Only Scan using devices_segment_idx/);
    expect(plan).toMatch(/Heap Fetches: 0\b/);
    // Tag t0 or t1 (g % 3 < 2), zh-cn (g % 3 = 0) and CN (g % 2 = 1): g ≡ 3 (mod 6), 5,000 devices.
    expect((await audience.estimate(appF.id, compiled)).total).toBe(5000);
  });

  it('reads an audience of registration ids or aliases by their index, even in an app the planner has no statistics for', async () => {
    // Not analysed: to the planner the new app could be empty, and walking its id index in order (the
    // scan's ORDER BY … LIMIT) would look as cheap as the lookup — 20,000 rows read for one device.
    const appE = (await createApp(ctx.db, ctx.config, await createTenant(ctx.db))).app;
    await ctx.db.query(
      `INSERT INTO devices (app_id, registration_id, device_secret_hash, platform, channel, alias)
       SELECT $1::uuid, 'keyed' || g, 'h', 'android', 'fcm', CASE WHEN g % 10 = 0 THEN 'al' || g END
         FROM generate_series(1, 20000) g`,
      [appE.id],
    );
    const compiled = await audience.compile(
      appE.id,
      parsePushTarget({
        platform: 'all',
        audience: { registration_id: ['keyed7', 'keyed19999', rid.gw_en] },
      }),
    );
    const rows = await ctx.db.query<{ 'QUERY PLAN': string }[]>(
      `EXPLAIN SELECT d.id FROM ${compiled.from} d WHERE ${compiled.where} ORDER BY d.id LIMIT 2000`,
      compiled.params,
    );
    const plan = rows.map((r) => r['QUERY PLAN']).join('\n');
    expect(plan).toMatch(/devices_rid_key/);
    expect(plan).not.toMatch(/devices_active_scan_idx/);
    expect(await match({ registration_id: ['keyed7', 'keyed19999', rid.gw_en] }, 'all', appE)).toHaveLength(
      2,
    );
    // Aliases likewise, through the alias index (and never another app's devices of the same alias).
    const byAlias = await audience.compile(
      appE.id,
      parsePushTarget({ platform: 'all', audience: { alias: ['al70', 'al19990', 'alice'] } }),
    );
    const aliasPlan = (
      await ctx.db.query<{ 'QUERY PLAN': string }[]>(
        `EXPLAIN SELECT d.id FROM ${byAlias.from} d WHERE ${byAlias.where} ORDER BY d.id LIMIT 2000`,
        byAlias.params,
      )
    )
      .map((r) => r['QUERY PLAN'])
      .join('\n');
    expect(aliasPlan).toMatch(/devices_alias_idx/);
    expect(aliasPlan).not.toMatch(/devices_active_scan_idx/);
    expect(await match({ alias: ['al70', 'al19990', 'alice'] }, 'all', appE)).toHaveLength(2);
  });

  it('scans a registration-id or alias audience through one prepared statement on one generic plan', async () => {
    // Runs after the 20,000-device apps above: with their statistics, a plan that saw the keys would
    // look cheaper than the generic one every time.
    await ctx.db.query('ANALYZE devices');
    // One connection, so the session the statements were prepared in is the one asked about them.
    const single = createDataSource({ url: ctx.config.database.url, poolSize: 1 });
    await single.initialize();
    try {
      const service = new AudienceService(single);
      const scanned: string[] = [];
      const devices = ['ios_zh', 'and_zh', 'gw_en', 'ios_en', 'and_nolang', 'zhx'];
      for (let i = 0; i < 20; i++) {
        const name = devices[i % devices.length];
        const compiled = await service.compile(
          appA.id,
          parsePushTarget({
            platform: 'all',
            audience: i % 2 ? { registration_id: [rid[name]] } : { alias: ['alice'] },
          }),
        );
        expect(compiled.preparable).toBe(true);
        for await (const page of service.scan(compiled, { pageSize: 100 + i })) {
          scanned.push(...page.map((d) => names.get(d.registrationId) ?? d.registrationId));
        }
      }
      expect(scanned).toEqual(
        // Alias "alice" is ios_zh's and ios_en's, in id (creation) order.
        Array.from({ length: 20 }, (_, i) =>
          i % 2 ? [devices[i % devices.length]] : ['ios_zh', 'ios_en'],
        ).flat(),
      );
      const statements = await single.query<{ generic_plans: string; custom_plans: string }[]>(
        `SELECT generic_plans, custom_plans FROM pg_prepared_statements WHERE statement LIKE '%string_agg%'`,
      );
      // Two texts (registration ids, aliases), whatever the page size; each planned at most the five
      // times PostgreSQL tries custom plans, then run on its generic plan.
      expect(statements).toHaveLength(2);
      for (const s of statements) {
        expect(Number(s.custom_plans)).toBeLessThanOrEqual(5);
        expect(Number(s.generic_plans)).toBe(10 - Number(s.custom_plans));
      }
    } finally {
      await single.destroy();
    }
    // Anything else stays unnamed: its texts are as many as the filters people write.
    const tagged = await audience.compile(
      appA.id,
      parsePushTarget({ platform: 'all', audience: { tag: ['vip'] } }),
    );
    expect(tagged.preparable).toBe(false);
    const mixed = await audience.compile(
      appA.id,
      parsePushTarget({ platform: 'all', audience: { alias: ['alice'], tag: ['vip'] } }),
    );
    expect(mixed.preparable).toBe(false);
  });

  it('scans concurrent registration-id and alias audiences through one shared statement, each its own devices', async () => {
    // What a worker's concurrent unicast jobs do: each scan reads its pages, and the pages asked for
    // in the same turn go to PostgreSQL together (lateralRunner). Several pages each (pageSize 1 and 2),
    // platform filters, another app's device named by registration id, inactive devices.
    const targets: [unknown, unknown, AppEntity][] = [
      ...Object.keys(DEVICES).map((n): [unknown, unknown, AppEntity] => [
        { registration_id: [rid[n]] },
        'all',
        appA,
      ]),
      [{ registration_id: Object.values(rid) }, 'all', appA],
      [{ registration_id: Object.values(rid) }, ['ios'], appA],
      [{ registration_id: [rid.b_twin, rid.ios_zh] }, 'all', appB],
      [{ registration_id: [rid.quarantined, rid.invalid] }, 'all', appA],
      [{ alias: ['alice'] }, 'all', appA],
      [{ alias: ['alice', 'bob'] }, ['android'], appA],
      [{ alias: ['nobody'] }, 'all', appA],
    ];
    const scanAll = async (
      service: AudienceService,
      [aud, platform, app]: [unknown, unknown, AppEntity],
      i: number,
    ) => {
      const compiled = await service.compile(app.id, parsePushTarget({ platform, audience: aud }));
      const found: string[] = [];
      for await (const page of service.scan(compiled, { pageSize: 1 + (i % 2) })) {
        for (const d of page) found.push(names.get(d.registrationId) ?? d.registrationId);
      }
      return found;
    };
    const alone: string[][] = [];
    for (const [i, t] of targets.entries()) alone.push(await scanAll(audience, t, i));
    expect(alone[Object.keys(DEVICES).length + 1]).toEqual(['ios_zh', 'ios_en']);
    expect(alone[Object.keys(DEVICES).length + 2]).toEqual(['b_twin']);
    expect(alone[Object.keys(DEVICES).length + 3]).toEqual([]);
    const single = createDataSource({ url: ctx.config.database.url, poolSize: 1 });
    await single.initialize();
    try {
      const service = new AudienceService(single);
      const together = await Promise.all(targets.map((t, i) => scanAll(service, t, i)));
      expect(together).toEqual(alone);
      const shared = await single.query<{ n: string }[]>(
        `SELECT generic_plans + custom_plans AS n FROM pg_prepared_statements
          WHERE statement LIKE '%CROSS JOIN LATERAL%' AND statement LIKE '%string_agg%'`,
      );
      // Registration ids and aliases: one shared text each, run for pages of several scans at once
      // (a shared statement is prepared only when a batch of two or more calls runs it).
      expect(shared).toHaveLength(2);
      for (const { n } of shared) expect(Number(n)).toBeGreaterThanOrEqual(1);
    } finally {
      await single.destroy();
    }
  });
});
