import { formatLocalDateTime, toInstant, wallMs, type LocalDateTime } from './local-time';
import { planSchedule } from './schedule.planner';
import { nextOccurrence, parseTrigger, type Trigger } from './trigger';

const all = (t: Trigger, limit = 100): string[] => {
  const out: string[] = [];
  let after: LocalDateTime | undefined;
  for (let i = 0; i < limit; i++) {
    const next = nextOccurrence(t, after ? wallMs(after) : null);
    if (!next) break;
    out.push(formatLocalDateTime(next));
    after = next;
  }
  return out;
};

const periodical = (p: Record<string, unknown>) =>
  parseTrigger({
    periodical: {
      start: '2027-03-01 00:00:00',
      end: '2027-03-31 23:59:59',
      time: '12:00:00',
      frequency: 1,
      ...p,
    },
  }).trigger;

describe('JPush triggers', () => {
  it('weekly points with frequency 2 fire on the named weekdays of every other week, counted from start', () => {
    // 2027-03-01 is a Monday.
    const t = periodical({ time_unit: 'WEEK', frequency: 2, point: ['wed', 'FRI'] });
    expect(all(t)).toEqual([
      '2027-03-03 12:00:00',
      '2027-03-05 12:00:00',
      '2027-03-17 12:00:00',
      '2027-03-19 12:00:00',
      '2027-03-31 12:00:00',
    ]);
  });

  it('monthly points skip days a month lacks (31 in February, April, June)', () => {
    const t = parseTrigger({
      periodical: {
        start: '2027-01-15 00:00:00',
        end: '2027-06-30 23:00:00',
        time: '09:00:00',
        time_unit: 'month',
        frequency: 1,
        point: ['01', '31'],
      },
    }).trigger;
    expect(all(t)).toEqual([
      '2027-01-31 09:00:00',
      '2027-02-01 09:00:00',
      '2027-03-01 09:00:00',
      '2027-03-31 09:00:00',
      '2027-04-01 09:00:00',
      '2027-05-01 09:00:00',
      '2027-05-31 09:00:00',
      '2027-06-01 09:00:00',
    ]);
    const every2 = parseTrigger({
      periodical: {
        start: '2027-01-15 00:00:00',
        end: '2027-06-30 23:00:00',
        time: '09:00:00',
        time_unit: 'Month',
        frequency: 2,
        point: ['15'],
      },
    }).trigger;
    expect(all(every2)).toEqual(['2027-01-15 09:00:00', '2027-03-15 09:00:00', '2027-05-15 09:00:00']);
  });

  it('daily frequency counts days from start; start and end bound the times (end honoured)', () => {
    const t = parseTrigger({
      periodical: {
        start: '2027-03-01 10:00:00',
        end: '2027-03-13 07:59:59',
        time: '08:00:00',
        time_unit: 'day',
        frequency: 3,
      },
    }).trigger;
    // 03-01 08:00 is before start; 03-13 08:00 is after end.
    expect(all(t)).toEqual(['2027-03-04 08:00:00', '2027-03-07 08:00:00', '2027-03-10 08:00:00']);
  });

  it('a single trigger occurs once', () => {
    const t = parseTrigger({ single: { time: '2027-03-01 12:00:00' } }).trigger;
    expect(all(t)).toEqual(['2027-03-01 12:00:00']);
  });

  it.each([
    [{ single: { time: '2027-3-01 12:00:00' } }, /single.time/],
    [{ single: { time: '2027-02-30 12:00:00' } }, /single.time/],
    [{ single: { time: '2027-03-01 12:00' } }, /single.time/],
    [{ single: { time: '2027-03-01 12:00:00' }, periodical: {} }, /exactly one/],
    [{}, /exactly one/],
    [{ single: { time: '2027-03-01 12:00:00', zone: 'x' } }, /unsupported key "zone"/],
    [
      {
        periodical: {
          start: '2027-03-01 00:00:00',
          end: '2028-03-02 00:00:00',
          time: '12:00:00',
          time_unit: 'day',
          frequency: 1,
        },
      },
      /12 months/,
    ],
    [
      {
        periodical: {
          start: '2027-03-01 00:00:00',
          end: '2027-02-01 00:00:00',
          time: '12:00:00',
          time_unit: 'day',
          frequency: 1,
        },
      },
      /end must be after start/,
    ],
    [
      {
        periodical: {
          start: '2027-03-01 00:00:00',
          end: '2027-04-01 00:00:00',
          time: '25:00:00',
          time_unit: 'day',
          frequency: 1,
        },
      },
      /time/,
    ],
    [
      {
        periodical: {
          start: '2027-03-01 00:00:00',
          end: '2027-04-01 00:00:00',
          time: '12:00:00',
          time_unit: 'year',
          frequency: 1,
        },
      },
      /time_unit/,
    ],
    [
      {
        periodical: {
          start: '2027-03-01 00:00:00',
          end: '2027-04-01 00:00:00',
          time: '12:00:00',
          time_unit: 'day',
          frequency: 101,
        },
      },
      /frequency/,
    ],
    [
      {
        periodical: {
          start: '2027-03-01 00:00:00',
          end: '2027-04-01 00:00:00',
          time: '12:00:00',
          time_unit: 'day',
          frequency: 0,
        },
      },
      /frequency/,
    ],
    [
      {
        periodical: {
          start: '2027-03-01 00:00:00',
          end: '2027-04-01 00:00:00',
          time: '12:00:00',
          time_unit: 'day',
          frequency: 1,
          point: ['MON'],
        },
      },
      /point/,
    ],
    [
      {
        periodical: {
          start: '2027-03-01 00:00:00',
          end: '2027-04-01 00:00:00',
          time: '12:00:00',
          time_unit: 'week',
          frequency: 1,
        },
      },
      /point/,
    ],
    [
      {
        periodical: {
          start: '2027-03-01 00:00:00',
          end: '2027-04-01 00:00:00',
          time: '12:00:00',
          time_unit: 'week',
          frequency: 1,
          point: ['MONDAY'],
        },
      },
      /weekdays/,
    ],
    [
      {
        periodical: {
          start: '2027-03-01 00:00:00',
          end: '2027-04-01 00:00:00',
          time: '12:00:00',
          time_unit: 'month',
          frequency: 1,
          point: ['32'],
        },
      },
      /month days/,
    ],
  ])('refuses %j with 8100', (trigger, message) => {
    expect(() => parseTrigger(trigger)).toThrow(
      expect.objectContaining({ jpushCode: 8100, status: 400, message: expect.stringMatching(message) }),
    );
  });

  it('accepts a 12-month span exactly', () => {
    expect(() =>
      parseTrigger({
        periodical: {
          start: '2027-03-01 00:00:00',
          end: '2028-03-01 00:00:00',
          time: '12:00:00',
          time_unit: 'day',
          frequency: 1,
        },
      }),
    ).not.toThrow();
  });
});

describe('time zones', () => {
  const at = (s: string) => ({
    year: +s.slice(0, 4),
    month: +s.slice(5, 7),
    day: +s.slice(8, 10),
    hour: +s.slice(11, 13),
    minute: +s.slice(14, 16),
    second: +s.slice(17, 19),
  });

  it('reads wall clocks in a zone, across daylight saving (gap forward, overlap earlier)', () => {
    expect(toInstant(at('2027-03-01 12:00:00'), 'Asia/Shanghai').toISOString()).toBe(
      '2027-03-01T04:00:00.000Z',
    );
    expect(toInstant(at('2027-07-01 12:00:00'), 'America/New_York').toISOString()).toBe(
      '2027-07-01T16:00:00.000Z',
    );
    expect(toInstant(at('2027-03-14 02:30:00'), 'America/New_York').toISOString()).toBe(
      '2027-03-14T07:30:00.000Z',
    );
    expect(toInstant(at('2027-11-07 01:30:00'), 'America/New_York').toISOString()).toBe(
      '2027-11-07T05:30:00.000Z',
    );
    expect(toInstant(at('2027-03-01 12:00:00'), 'Asia/Kolkata').toISOString()).toBe(
      '2027-03-01T06:30:00.000Z',
    );
  });

  it('plans the first occurrence ahead of now, skipping those that passed (a catch-up fires once)', () => {
    const trigger = parseTrigger({
      periodical: {
        start: '2027-03-01 00:00:00',
        end: '2027-03-31 00:00:00',
        time: '09:00:00',
        time_unit: 'day',
        frequency: 1,
      },
    }).trigger;
    const input = { trigger, localTime: false, timeZone: 'Asia/Shanghai' };
    const first = planSchedule(input, new Date('2027-02-01T00:00:00Z'), null);
    expect(first.nextFireAt?.toISOString()).toBe('2027-03-01T01:00:00.000Z');
    const late = planSchedule(input, new Date('2027-03-10T05:00:00Z'), first.occurrence);
    expect(late.nextFireAt?.toISOString()).toBe('2027-03-11T01:00:00.000Z');
    expect(planSchedule(input, new Date('2027-03-30T02:00:00Z'), null)).toEqual({
      occurrence: null,
      nextFireAt: null,
    });
  });

  it('opens a local-time occurrence when the first zone (UTC+14) reaches it, until the last (UTC-12) has', () => {
    const trigger = parseTrigger({ single: { time: '2027-03-01 09:00:00' } }).trigger;
    const input = { trigger, localTime: true, timeZone: 'UTC' };
    expect(planSchedule(input, new Date('2027-02-01T00:00:00Z'), null).nextFireAt?.toISOString()).toBe(
      '2027-02-28T19:00:00.000Z',
    );
    // Still open at 20:00Z (devices at UTC-12 are not there yet), closed after 21:00Z.
    expect(planSchedule(input, new Date('2027-03-01T20:00:00Z'), null).occurrence).not.toBeNull();
    expect(planSchedule(input, new Date('2027-03-01T21:00:01Z'), null).occurrence).toBeNull();
  });
});
