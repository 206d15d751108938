import { negotiateHeartbeat, parseBearer, parseServerFrame } from './frames';
import { clientFrame, parseClientFrame } from './schemas';

describe('gateway frames', () => {
  it('accepts every client frame of the contract', () => {
    for (const f of [
      { t: 'hello', rid: 'r1', secret: 's', hb: 90, sdk: 'x/1' },
      { t: 'ack', ids: ['1', '2'] },
      { t: 'event', id: '1', ev: 'opened' },
      { t: 'event', id: '1', ev: 'dismissed' },
      { t: 'ping' },
    ]) {
      expect(parseClientFrame(JSON.stringify(f))).toMatchObject({ ok: true, frame: f });
    }
  });

  it.each([
    ['not json', '{'],
    ['unknown t', '{"t":"nope"}'],
    ['empty ack', '{"t":"ack","ids":[]}'],
    ['bad event', '{"t":"event","id":"1","ev":"liked"}'],
    ['array', '[1]'],
  ])('rejects %s', (_name, text) => {
    expect(parseClientFrame(text).ok).toBe(false);
  });

  it('checks acks by hand exactly as the schema does', () => {
    const id64 = 'x'.repeat(64);
    for (const f of [
      { t: 'ack', ids: ['1'] },
      { t: 'ack', ids: Array.from({ length: 256 }, (_, i) => String(i)) },
      { t: 'ack', ids: Array.from({ length: 257 }, (_, i) => String(i)) },
      { t: 'ack', ids: [id64] },
      { t: 'ack', ids: [`${id64}x`] },
      { t: 'ack', ids: [''] },
      { t: 'ack', ids: [1] },
      { t: 'ack', ids: '1' },
      { t: 'ack', ids: ['1'], extra: true },
      { t: 'ack' },
    ]) {
      const schema = clientFrame.safeParse(f);
      const parsed = parseClientFrame(JSON.stringify(f));
      expect({ f, ok: parsed.ok }).toEqual({ f, ok: schema.success });
      if (parsed.ok && schema.success) expect(parsed.frame).toEqual(schema.data);
    }
  });

  it('parses server frames for clients', () => {
    expect(parseServerFrame('{"t":"welcome","hb":60,"server_time":1}')).toMatchObject({ ok: true });
    expect(parseServerFrame('{"t":"bye","reason":"later"}').ok).toBe(false);
  });

  it('negotiates the heartbeat: proposal, else remembered, else 240, clamped to [30, 600]', () => {
    expect(negotiateHeartbeat(90, 300)).toBe(90);
    expect(negotiateHeartbeat(undefined, 300)).toBe(300);
    expect(negotiateHeartbeat(undefined, null)).toBe(240);
    expect(negotiateHeartbeat(5, null)).toBe(30);
    expect(negotiateHeartbeat(5000, null)).toBe(600);
    expect(negotiateHeartbeat(2, null, 1)).toBe(2);
  });

  it('reads a bearer header whose secret may contain colons', () => {
    expect(parseBearer('Bearer abc:def:ghi')).toEqual({ rid: 'abc', secret: 'def:ghi' });
    expect(parseBearer('Basic abc')).toBeUndefined();
    expect(parseBearer(undefined)).toBeUndefined();
  });
});
