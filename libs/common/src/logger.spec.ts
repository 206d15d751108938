import { Writable } from 'node:stream';
import pino from 'pino';
import { loggerOptions, tokenSuffix } from './logger';

function capture(): { lines: string[]; stream: Writable } {
  const lines: string[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _enc, cb) {
      lines.push(chunk.toString());
      cb();
    },
  });
  return { lines, stream };
}

describe('logger redaction', () => {
  it('never writes credentials, secrets or keys', () => {
    const { lines, stream } = capture();
    const log = pino(loggerOptions('info', 'test'), stream);
    log.info(
      {
        req: {
          headers: { authorization: 'Basic c2VjcmV0OnNlY3JldA==', 'x-app-key': 'abcdefghijklmnopqrstuvwx' },
        },
        body: { password: 'hunter2-pw', master_secret: 'ms-value-1', token: 'device-token-value' },
        credential: { key: '-----BEGIN PRIVATE KEY-----', passphrase: 'p12-pass' },
        job: { data: { payload: { token: 'deep-device-token' } } },
        err: { message: 'insert failed', parameters: ['param-token-value'] },
      },
      'request',
    );
    const text = lines.join('');
    for (const secret of [
      'c2VjcmV0OnNlY3JldA==',
      'abcdefghijklmnopqrstuvwx',
      'hunter2-pw',
      'ms-value-1',
      'device-token-value',
      'BEGIN PRIVATE KEY',
      'p12-pass',
    ]) {
      expect(text).not.toContain(secret);
    }
    expect(text).toContain('[redacted]');
    expect(JSON.parse(text)).toMatchObject({ level: 'info', app: 'test', msg: 'request' });
  });

  it('reduces a device token to its length and last six characters', () => {
    const token = 'a'.repeat(58) + 'XYZ123';
    expect(tokenSuffix(token)).toBe('…XYZ123 (64)');
    expect(tokenSuffix(null)).toBeNull();
  });
});
