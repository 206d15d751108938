import { createHmac } from 'node:crypto';
import { callbackWants, parseCallbackUrl, retryDelayMs } from './callback-policy';
import { signCallbackBody, verifyCallbackSignature } from './callback-signer';

describe('callback signature', () => {
  const body = '[{"msg_id":"1000000001","event":"delivered"}]';

  it('is sha256= and the hex HMAC-SHA256 of the exact body with the secret', () => {
    const expected = createHmac('sha256', 'the-secret').update(body, 'utf8').digest('hex');
    expect(signCallbackBody('the-secret', body)).toBe(`sha256=${expected}`);
    expect(signCallbackBody('the-secret', Buffer.from(body))).toBe(`sha256=${expected}`);
  });

  it('verifies only the right secret, the unchanged body and a well-formed header', () => {
    const header = signCallbackBody('s3cret', body);
    expect(verifyCallbackSignature('s3cret', body, header)).toBe(true);
    expect(verifyCallbackSignature('other', body, header)).toBe(false);
    expect(verifyCallbackSignature('s3cret', body.replace('delivered', 'clicked'), header)).toBe(false);
    expect(verifyCallbackSignature('s3cret', body, header.replace('sha256=', ''))).toBe(false);
    expect(verifyCallbackSignature('s3cret', body, undefined)).toBe(false);
  });
});

describe('callback policy', () => {
  it('reads JPush type bits (1 delivered, 2 clicked, 8 sent) and 16 for dismissed', () => {
    expect(callbackWants(1, 'delivered')).toBe(true);
    expect(callbackWants(1, 'clicked')).toBe(false);
    expect(callbackWants(2, 'clicked')).toBe(true);
    expect(callbackWants(8, 'sent')).toBe(true);
    expect(callbackWants(3, 'sent')).toBe(false);
    expect(callbackWants(11, 'sent')).toBe(true);
    expect(callbackWants(3, 'dismissed')).toBe(false);
    expect(callbackWants(16, 'dismissed')).toBe(true);
    expect(callbackWants(0, 'delivered')).toBe(false);
  });

  it('asks for delivery and click events when type is absent or unusable', () => {
    for (const type of [undefined, null, '3', 1.5, -1]) {
      expect(
        ['sent', 'delivered', 'clicked', 'dismissed'].filter((e) => callbackWants(type, e as never)),
      ).toEqual(['delivered', 'clicked']);
    }
  });

  it('backs off 30 s × 4^n capped at 6 h, jittered ±20 %', () => {
    const mid = () => 0.5;
    expect([1, 2, 3, 4, 5, 6, 9].map((n) => retryDelayMs(n, mid))).toEqual([
      30_000, 120_000, 480_000, 1_920_000, 7_680_000, 21_600_000, 21_600_000,
    ]);
    expect(retryDelayMs(1, () => 0)).toBe(24_000);
    expect(retryDelayMs(1, () => 1)).toBe(36_000);
  });

  it('accepts absolute http(s) URLs only', () => {
    expect(parseCallbackUrl('https://example.com/cb?x=1')?.href).toBe('https://example.com/cb?x=1');
    expect(parseCallbackUrl('http://127.0.0.1:8080/')?.port).toBe('8080');
    for (const bad of ['ftp://example.com', 'file:///etc/passwd', '/relative', 'not a url', 42, undefined]) {
      expect(parseCallbackUrl(bad)).toBeUndefined();
    }
  });
});
