import { parseScheduleBody } from './schedule-request.parser';

const appKey = 'a'.repeat(24);
const push = { platform: 'all', audience: 'all', notification: { alert: 'hi' } };
const trigger = { single: { time: '2027-03-01 12:00:00' } };

describe('schedule request parser', () => {
  it('takes Herald’s options.local_time out before the push validation, and drops an ignored push.cid', () => {
    const body = {
      name: '定时_1',
      enabled: true,
      trigger,
      push: { ...push, cid: 'x', options: { local_time: true } },
    };
    const parsed = parseScheduleBody(body, { appKey, mode: 'create' });
    expect(parsed.push?.localTime).toBe(true);
    expect(parsed.push?.stored).toEqual({ ...push, options: { local_time: true } });
    expect(parsed.push?.spec.options).toEqual({ sendno: '0', time_to_live: 86_400 });
    expect(parsed.push?.spec.cid).toBeUndefined();
  });

  it('refuses the internal time-zone audience leaf from a client (8100)', () => {
    const body = {
      name: 'n',
      enabled: true,
      trigger,
      push: { ...push, audience: { filter: { timezone: ['Asia/Shanghai'] } } },
    };
    expect(() => parseScheduleBody(body, { appKey, mode: 'create' })).toThrow(
      expect.objectContaining({ jpushCode: 8100, status: 400 }),
    );
  });

  it('accepts a partial update and refuses an empty one', () => {
    expect(parseScheduleBody({ enabled: false }, { appKey, mode: 'update' })).toEqual({ enabled: false });
    expect(() => parseScheduleBody({}, { appKey, mode: 'update' })).toThrow(
      expect.objectContaining({ jpushCode: 8100 }),
    );
    expect(() => parseScheduleBody({ cid: 'x' }, { appKey, mode: 'update' })).toThrow(
      /unsupported key "cid"/,
    );
  });
});
