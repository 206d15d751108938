import { HeraldError } from '@herald/common';
import { toScheduleError } from './schedule-errors.interceptor';

const pgError = (code: string) => Object.assign(new Error('db'), { driverError: { code } });

describe('schedule API error codes (8xxx)', () => {
  it.each([
    ['an unexpected error', new Error('boom'), 500, 8200],
    ['an internal HeraldError', new HeraldError('internal', 'x'), 500, 8200],
    ['PostgreSQL unavailable', pgError('57P01'), 503, 8203],
    ['Redis refusing while disconnected', new Error('Connection is closed.'), 503, 8203],
    ['an unavailable HeraldError', new HeraldError('unavailable', 'x'), 503, 8203],
    ['a value PostgreSQL rejects', pgError('22P02'), 400, 8100],
    // The same codes as the push API's: a NUL character in a text column or in stored JSON.
    ['a NUL character in text', pgError('22021'), 400, 8100],
    ['a NUL character in jsonb', pgError('22P05'), 400, 8100],
    ['a push validation error', new HeraldError('invalid_parameter', 'x', { jpushCode: 1003 }), 400, 8100],
  ])('%s → HTTP %i, code %i', (_, err, status, code) => {
    expect(toScheduleError(err)).toMatchObject({ status, jpushCode: code });
  });

  it('keeps 8104 and the rate limit (2002) as they are', () => {
    const notFound = new HeraldError('not_found', 'x', { jpushCode: 8104, status: 404 });
    expect(toScheduleError(notFound)).toBe(notFound);
    const limited = new HeraldError('rate_limited', 'x');
    expect(toScheduleError(limited)).toBe(limited);
  });
});
