import { encodeInteger, encodeLiteral, HpackDecoder, HpackError } from './hpack';

const hex = (s: string): Buffer => Buffer.from(s.replace(/\s+/g, ''), 'hex');

function decodeAll(decoder: HpackDecoder, block: Buffer): [string, string][] {
  const out: [string, string][] = [];
  decoder.decode(block, (name, value) => out.push([name, value]));
  return out;
}

describe('HpackDecoder (RFC 7541 Appendix C examples)', () => {
  it('decodes C.3, requests without Huffman coding, keeping the dynamic table across blocks', () => {
    const d = new HpackDecoder();
    expect(decodeAll(d, hex('8286 8441 0f77 7777 2e65 7861 6d70 6c65 2e63 6f6d'))).toEqual([
      [':method', 'GET'],
      [':scheme', 'http'],
      [':path', '/'],
      [':authority', 'www.example.com'],
    ]);
    // C.3.2: index 62 is the :authority entry the first block added.
    expect(decodeAll(d, hex('8286 84be 5808 6e6f 2d63 6163 6865'))).toEqual([
      [':method', 'GET'],
      [':scheme', 'http'],
      [':path', '/'],
      [':authority', 'www.example.com'],
      ['cache-control', 'no-cache'],
    ]);
  });

  it('decodes C.4, the same requests with Huffman-coded strings', () => {
    const d = new HpackDecoder();
    expect(decodeAll(d, hex('8286 8441 8cf1 e3c2 e5f2 3a6b a0ab 90f4 ff'))).toEqual([
      [':method', 'GET'],
      [':scheme', 'http'],
      [':path', '/'],
      [':authority', 'www.example.com'],
    ]);
    expect(decodeAll(d, hex('8286 84be 5886 a8eb 1064 9cbf'))).toEqual([
      [':method', 'GET'],
      [':scheme', 'http'],
      [':path', '/'],
      [':authority', 'www.example.com'],
      ['cache-control', 'no-cache'],
    ]);
    expect(decodeAll(d, hex('8287 85bf 4088 25a8 49e9 5ba9 7d7f 8925 a849 e95b b8e8 b4bf'))).toEqual([
      [':method', 'GET'],
      [':scheme', 'https'],
      [':path', '/index.html'],
      [':authority', 'www.example.com'],
      ['custom-key', 'custom-value'],
    ]);
  });

  it('decodes C.6, responses with Huffman coding and evictions from a 256-octet table', () => {
    const d = new HpackDecoder(256);
    expect(
      decodeAll(
        d,
        hex(
          '4882 6402 5885 aec3 771a 4b61 96d0 7abe 9410 54d4 44a8 2005 9504 0b81 66e0 82a6 2d1b ff6e 919d 29ad 1718 63c7 8f0b 97c8 e9ae 82ae 43d3',
        ),
      ),
    ).toEqual([
      [':status', '302'],
      ['cache-control', 'private'],
      ['date', 'Mon, 21 Oct 2013 20:13:21 GMT'],
      ['location', 'https://www.example.com'],
    ]);
    // ":status: 307" evicts ":status: 302"; the others are now one index further down.
    expect(decodeAll(d, hex('4883 640e ff c1 c0 bf'))).toEqual([
      [':status', '307'],
      ['cache-control', 'private'],
      ['date', 'Mon, 21 Oct 2013 20:13:21 GMT'],
      ['location', 'https://www.example.com'],
    ]);
  });

  it('applies a dynamic table size update, and refuses one above the protocol limit', () => {
    const d = new HpackDecoder();
    decodeAll(d, hex('4088 25a8 49e9 5ba9 7d7f 8925 a849 e95b b8e8 b4bf')); // custom-key: custom-value
    expect(decodeAll(d, hex('be'))).toEqual([['custom-key', 'custom-value']]);
    // Size 0 empties the table: index 62 no longer exists.
    expect(() => decodeAll(d, hex('20 be'))).toThrow(HpackError);
    expect(() => new HpackDecoder(100).decode(hex('3f 46'), () => undefined)).toThrow(HpackError); // 101
  });

  it('rejects truncated blocks, bad indices and invalid Huffman padding', () => {
    const reject = (block: string) => expect(() => new HpackDecoder().decode(hex(block), () => undefined));
    reject('80').toThrow(HpackError); // index 0
    reject('ff 00').toThrow(HpackError); // index 127: beyond both tables
    reject('0f').toThrow(HpackError); // truncated integer
    reject('00 05 61 62').toThrow(HpackError); // name shorter than its length
    reject('00 81 00 00').toThrow(HpackError); // Huffman "0" padding of 8 bits (a symbol and 3 zero bits)
  });
});

describe('HPACK encoding', () => {
  it('encodes prefixed integers as RFC 7541 C.1 does', () => {
    const out: number[] = [];
    encodeInteger(out, 10, 5, 0);
    encodeInteger(out, 1337, 5, 0);
    encodeInteger(out, 42, 8, 0);
    expect(out).toEqual([0x0a, 0x1f, 0x9a, 0x0a, 0x2a]);
  });

  it('writes literals without indexing that the decoder reads back', () => {
    const block = Buffer.concat([encodeLiteral(4, '/3/device/ab'), encodeLiteral('apns-topic', 'com.é')]);
    expect(block.subarray(0, 2)).toEqual(Buffer.from([0x04, 12]));
    const d = new HpackDecoder();
    expect(decodeAll(d, block)).toEqual([
      [':path', '/3/device/ab'],
      ['apns-topic', Buffer.from('com.é').toString('latin1')],
    ]);
    // Nothing was indexed.
    expect(() => decodeAll(d, hex('be'))).toThrow(HpackError);
  });
});
