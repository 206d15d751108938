import { refusedByContent } from './statement-error';

const pgError = (code: string) => Object.assign(new Error('refused'), { code });

describe('refusedByContent', () => {
  it.each([
    ['a value PostgreSQL cannot store (NUL in text)', pgError('22021'), true],
    ['a unique violation', pgError('23505'), true],
    ['a deadlock', pgError('40P01'), true],
    [
      'TypeORM wrapping the driver error',
      Object.assign(new Error('q'), { driverError: { code: '23503' } }),
      true,
    ],
    ['a lost connection', pgError('08006'), false],
    ['too many connections', pgError('53300'), false],
    ['the server shutting down', pgError('57P01'), false],
    ['a refused socket', pgError('ECONNREFUSED'), false],
    ['a pool timeout', new Error('timeout exceeded when trying to connect'), false],
    ['not an error', 'boom', false],
  ])('%s: %s', (_what, err, expected) => {
    expect(refusedByContent(err)).toBe(expected);
  });
});
