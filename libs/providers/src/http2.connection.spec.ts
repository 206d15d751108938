import { FrameReader } from './http2.connection';

function frame(type: number, flags: number, id: number, payload: Buffer): Buffer {
  const header = Buffer.alloc(9);
  header.writeUIntBE(payload.length, 0, 3);
  header[3] = type;
  header[4] = flags;
  header.writeUInt32BE(id, 5);
  return Buffer.concat([header, payload]);
}

type Seen = [number, number, number, string];

function reader(seen: Seen[], max?: number): FrameReader {
  return new FrameReader((type, flags, id, buf, start, end) => {
    seen.push([type, flags, id, buf.toString('latin1', start, end)]);
    return true;
  }, max);
}

describe('FrameReader', () => {
  const frames = [
    frame(1, 4, 1, Buffer.from('headers')),
    frame(0, 1, 1, Buffer.alloc(0)),
    frame(0, 0, 3, Buffer.from('x'.repeat(300))),
    frame(8, 0, 0x80000005, Buffer.from([0, 0, 1, 0])), // the reserved bit is not part of the id
  ];
  const stream = Buffer.concat(frames);
  const expected: Seen[] = [
    [1, 4, 1, 'headers'],
    [0, 1, 1, ''],
    [0, 0, 3, 'x'.repeat(300)],
    [8, 0, 5, '\u0000\u0000\u0001\u0000'],
  ];

  it('reads frames whatever the read boundaries: every split in two, and one byte at a time', () => {
    for (let cut = 0; cut <= stream.length; cut++) {
      const seen: Seen[] = [];
      const r = reader(seen);
      r.push(stream.subarray(0, cut));
      r.push(stream.subarray(cut));
      expect(seen).toEqual(expected);
    }
    const seen: Seen[] = [];
    const r = reader(seen);
    for (let i = 0; i < stream.length; i++) r.push(stream.subarray(i, i + 1));
    expect(seen).toEqual(expected);
  });

  it('refuses a frame larger than its maximum, whole or split', () => {
    const big = frame(0, 0, 1, Buffer.alloc(101));
    expect(reader([], 100).push(big)).toBe(false);
    const r = reader([], 100);
    expect(r.push(big.subarray(0, 4))).toBe(true);
    expect(r.push(big.subarray(4, 20))).toBe(false);
  });

  it('stops reading when the handler says so', () => {
    let calls = 0;
    const r = new FrameReader(() => {
      calls += 1;
      return false;
    });
    r.push(stream);
    expect(calls).toBe(1);
  });
});
