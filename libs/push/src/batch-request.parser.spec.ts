import { HeraldError } from '@herald/common';
import { parseBatchSingle, type BatchEntry } from './batch-request.parser';

const APP_KEY = '8103a4c628a0b98974ec1949';
const cid = (n: number) => `${APP_KEY}-00000000-0000-4000-8000-${String(n).padStart(12, '0')}`;
const CID1 = cid(1);
const CID2 = cid(2);
const CID3 = cid(3);

function thrown(fn: () => unknown): HeraldError {
  try {
    fn();
  } catch (err) {
    if (err instanceof HeraldError) return err;
    throw err;
  }
  throw new Error('expected a HeraldError');
}

const byAlias = (body: unknown) => parseBatchSingle(body, 'alias', { appKey: APP_KEY });
const byRid = (body: unknown) => parseBatchSingle(body, 'registration_id', { appKey: APP_KEY });
const entry = (target: unknown, patch: Record<string, unknown> = {}) => ({
  platform: 'all',
  target,
  notification: { alert: `to ${String(target)}` },
  ...patch,
});
const errorOf = (e: BatchEntry) => ('error' in e ? e.error : undefined);

describe('parseBatchSingle', () => {
  // rest_api_v3_push.md "批量单推" 完整参数示例, with the elided parts filled in.
  it("JPush's example: each cid becomes a push to its one target, with the cid as its idempotency id", () => {
    const entries = byAlias({
      pushlist: {
        [CID1]: {
          platform: 'all',
          target: 'aliasvalue1',
          notification: { alert: 'Hi 1' },
          message: { msg_content: 'm1' },
          sms_message: { temp_id: 1250, delay_time: 3600 },
          options: { time_to_live: 60, apns_production: false },
        },
        [CID2]: {
          platform: ['android'],
          target: 'aliasvalue2',
          notification: { android: { alert: 'Hi 2' } },
          options: { sendno: 7 },
        },
      },
    });
    expect(entries).toEqual([
      {
        cid: CID1,
        spec: {
          platform: 'all',
          audience: { all: false, alias: ['aliasvalue1'] },
          notification: { alert: 'Hi 1' },
          message: { msg_content: 'm1' },
          options: { sendno: '0', time_to_live: 60, apns_production: false },
          cid: CID1,
        },
      },
      {
        cid: CID2,
        spec: {
          platform: ['android'],
          audience: { all: false, alias: ['aliasvalue2'] },
          notification: { android: { alert: 'Hi 2' } },
          options: { sendno: '7', time_to_live: 86_400 },
          cid: CID2,
        },
      },
    ]);
  });

  it('by registration id, the target becomes audience.registration_id; an entry-level audience is ignored', () => {
    const [e] = byRid({ pushlist: { [CID1]: entry('1a0018970a8b1c2d', { audience: 'all' }) } });
    expect('spec' in e && e.spec.audience).toEqual({ all: false, registration_id: ['1a0018970a8b1c2d'] });
  });

  it('one bad entry gets its own error; the others still go, in request order', () => {
    const entries = byAlias({
      pushlist: {
        [CID1]: entry('alice'),
        [CID2]: entry('bob', { notification: { ios: { alert: 'x', badge: 'lots' } } }),
        [CID3]: entry('carol'),
      },
    });
    expect(entries.map((e) => e.cid)).toEqual([CID1, CID2, CID3]);
    expect('spec' in entries[0]).toBe(true);
    expect(errorOf(entries[1])).toEqual({
      code: 1003,
      message: expect.stringMatching(/^notification\.ios\.badge:/),
    });
    expect('spec' in entries[2] && entries[2].spec.audience).toEqual({ all: false, alias: ['carol'] });
  });

  it.each([
    ['no target', entry(undefined), 1002, 'target is required (an alias)'],
    ['a number as target', entry(42), 1003, 'target: must be an alias'],
    ['an empty target', entry(''), 1003, 'target: must be an alias'],
    ['an alias of 41 bytes', entry('a'.repeat(41)), 1003, `target: "${'a'.repeat(41)}" is not an alias`],
    ['an alias with a space', entry('a b'), 1003, 'target: "a b" is not an alias'],
    [
      'no notification or message',
      { platform: 'all', target: 'a' },
      1002,
      'notification or message is required',
    ],
    ['no platform', { target: 'a', notification: { alert: 'x' } }, 1002, 'platform is required'],
    [
      'an unknown notification key',
      entry('a', { notification: { alert: 'x', sound: 'y' } }),
      1009,
      expect.any(String),
    ],
    ['an entry that is not an object', 'push', 1003, expect.stringMatching(/must be a JSON object$/)],
    [
      'a payload over the limit',
      entry('a', { notification: { alert: 'x'.repeat(5000) } }),
      1005,
      expect.stringMatching(/^apns payload is/),
    ],
  ])('%s: the entry answers with its own error', (_what, value, code, message) => {
    const [e] = byAlias({ pushlist: { [CID1]: value } });
    expect(e.cid).toBe(CID1);
    expect(errorOf(e)).toEqual({ code, message });
  });

  it('checks registration ids as the audience parser does', () => {
    const [bad] = byRid({ pushlist: { [CID1]: entry('not/a/rid') } });
    expect(errorOf(bad)).toEqual({ code: 1003, message: 'target: "not/a/rid" is not a registration id' });
  });

  it("refuses a cid that is not this app's {appKey}-{uuid}, for that entry only", () => {
    const other = `bbbbbbbbbbbbbbbbbbbbbbbb-00000000-0000-4000-8000-000000000001`;
    const entries = byAlias({ pushlist: { cid1: entry('a'), [other]: entry('b'), [CID1]: entry('c') } });
    expect(errorOf(entries[0])).toEqual({ code: 1003, message: expect.stringMatching(/^cid:/) });
    expect(errorOf(entries[1])).toEqual({ code: 1003, message: expect.stringMatching(/^cid:/) });
    expect('spec' in entries[2]).toBe(true);
  });

  describe('the envelope', () => {
    it.each([null, [], 'x'])('a body that is not an object (%j) → 1003', (body) => {
      expect(thrown(() => byAlias(body))).toMatchObject({ jpushCode: 1003 });
    });

    it('no pushlist → 1002', () => {
      expect(thrown(() => byAlias({}))).toMatchObject({
        code: 'missing_parameter',
        jpushCode: 1002,
        message: 'pushlist is required',
      });
    });

    it.each([[[entry('a')]], ['x'], [{}]])('pushlist %j → 1003', (pushlist) => {
      expect(thrown(() => byAlias({ pushlist }))).toMatchObject({ jpushCode: 1003, message: /^pushlist:/ });
    });

    it('takes 1000 cids and refuses 1001 (1003)', () => {
      const list = (n: number) =>
        Object.fromEntries(Array.from({ length: n }, (_, i) => [cid(i), entry(`u${i}`)]));
      const entries = byAlias({ pushlist: list(1000) });
      expect(entries).toHaveLength(1000);
      expect(entries.every((e) => 'spec' in e)).toBe(true);
      expect(thrown(() => byAlias({ pushlist: list(1001) }))).toMatchObject({
        jpushCode: 1003,
        message: 'pushlist: at most 1000 cids (got 1001)',
      });
    });
  });
});
