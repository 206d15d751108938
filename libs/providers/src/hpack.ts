/**
 * The parts of HPACK (RFC 7541) an HTTP/2 client needs: a full decoder for the server's header blocks
 * (static and dynamic table, Huffman strings) and literal encoding for requests. The encoder never
 * indexes, so the server's dynamic table for our requests stays empty and needs no bookkeeping here.
 */

/** RFC 7541 Appendix A, indices 1–61. */
const STATIC_TABLE: readonly (readonly [string, string])[] = [
  [':authority', ''],
  [':method', 'GET'],
  [':method', 'POST'],
  [':path', '/'],
  [':path', '/index.html'],
  [':scheme', 'http'],
  [':scheme', 'https'],
  [':status', '200'],
  [':status', '204'],
  [':status', '206'],
  [':status', '304'],
  [':status', '400'],
  [':status', '404'],
  [':status', '500'],
  ['accept-charset', ''],
  ['accept-encoding', 'gzip, deflate'],
  ['accept-language', ''],
  ['accept-ranges', ''],
  ['accept', ''],
  ['access-control-allow-origin', ''],
  ['age', ''],
  ['allow', ''],
  ['authorization', ''],
  ['cache-control', ''],
  ['content-disposition', ''],
  ['content-encoding', ''],
  ['content-language', ''],
  ['content-length', ''],
  ['content-location', ''],
  ['content-range', ''],
  ['content-type', ''],
  ['cookie', ''],
  ['date', ''],
  ['etag', ''],
  ['expect', ''],
  ['expires', ''],
  ['from', ''],
  ['host', ''],
  ['if-match', ''],
  ['if-modified-since', ''],
  ['if-none-match', ''],
  ['if-range', ''],
  ['if-unmodified-since', ''],
  ['last-modified', ''],
  ['link', ''],
  ['location', ''],
  ['max-forwards', ''],
  ['proxy-authenticate', ''],
  ['proxy-authorization', ''],
  ['range', ''],
  ['referer', ''],
  ['refresh', ''],
  ['retry-after', ''],
  ['server', ''],
  ['set-cookie', ''],
  ['strict-transport-security', ''],
  ['transfer-encoding', ''],
  ['user-agent', ''],
  ['vary', ''],
  ['via', ''],
  ['www-authenticate', ''],
];

/** Static table indices the encoder uses. */
export const HPACK_INDEX = { authority: 1, methodPost: 3, path: 4, schemeHttp: 6, schemeHttps: 7 } as const;

/**
 * Code length in bits of each symbol 0–255 and EOS (256) of the Huffman code of RFC 7541 Appendix B.
 * The code is canonical (codes of one length are consecutive, in symbol order), so the lengths alone
 * define it; the decoder's unit test checks it against the RFC's examples.
 */
// prettier-ignore
const HUFFMAN_LENGTHS = [
  13, 23, 28, 28, 28, 28, 28, 28, 28, 24, 30, 28, 28, 30, 28, 28, 28, 28, 28, 28, 28, 28, 30, 28, 28, 28, 28, 28, 28, 28, 28, 28,
  6, 10, 10, 12, 13, 6, 8, 11, 10, 10, 8, 11, 8, 6, 6, 6, 5, 5, 5, 6, 6, 6, 6, 6, 6, 6, 7, 8, 15, 6, 12, 10,
  13, 6, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 8, 7, 8, 13, 19, 13, 14, 6,
  15, 5, 6, 5, 6, 5, 6, 6, 6, 5, 7, 7, 6, 6, 6, 5, 6, 7, 6, 5, 5, 6, 7, 7, 7, 7, 7, 15, 11, 14, 13, 28,
  20, 22, 20, 20, 22, 22, 22, 23, 22, 23, 23, 23, 23, 23, 24, 23, 24, 24, 22, 23, 24, 23, 23, 23, 23, 21, 22, 23, 22, 23, 23, 24,
  22, 21, 20, 22, 22, 23, 23, 21, 23, 22, 22, 24, 21, 22, 23, 23, 21, 21, 22, 21, 23, 22, 23, 23, 20, 22, 22, 22, 23, 22, 22, 23,
  26, 26, 20, 19, 22, 23, 22, 25, 26, 26, 26, 27, 27, 26, 24, 25, 19, 21, 26, 27, 27, 26, 27, 24, 21, 21, 26, 26, 28, 27, 27, 27,
  20, 24, 20, 21, 22, 21, 21, 23, 22, 22, 25, 25, 24, 24, 26, 23, 26, 27, 26, 26, 27, 27, 27, 27, 27, 28, 27, 27, 27, 27, 27, 26,
  30,
];
const EOS = 256;

/** Canonical decoding tables: per length, the first code, how many codes, and where they start. */
const HUFFMAN = (() => {
  const maxLen = 30;
  const count = new Int32Array(maxLen + 1);
  for (const len of HUFFMAN_LENGTHS) count[len] += 1;
  const symbols = HUFFMAN_LENGTHS.map((len, sym) => [len, sym])
    .sort((a, b) => a[0] - b[0] || a[1] - b[1])
    .map(([, sym]) => sym);
  const firstCode = new Int32Array(maxLen + 1);
  const firstIndex = new Int32Array(maxLen + 1);
  let code = 0;
  let index = 0;
  for (let len = 1; len <= maxLen; len++) {
    firstCode[len] = code;
    firstIndex[len] = index;
    code = (code + count[len]) << 1;
    index += count[len];
  }
  return { count, firstCode, firstIndex, symbols: Int32Array.from(symbols) };
})();

export class HpackError extends Error {}

/** Decoded octets land here first, so a string is made once instead of a char at a time. */
let scratch = Buffer.allocUnsafe(1024);

function huffmanDecode(src: Buffer, start: number, end: number): string {
  const { count, firstCode, firstIndex, symbols } = HUFFMAN;
  // The shortest code is 5 bits: at most 8/5 octets out per octet in.
  const most = Math.ceil(((end - start) * 8) / 5);
  if (scratch.length < most) scratch = Buffer.allocUnsafe(most);
  const out = scratch;
  let n = 0;
  let code = 0;
  let len = 0;
  for (let i = start; i < end; i++) {
    const byte = src[i];
    for (let bit = 7; bit >= 0; bit--) {
      code = (code << 1) | ((byte >> bit) & 1);
      len += 1;
      const offset = code - firstCode[len];
      if (offset < count[len]) {
        const sym = symbols[firstIndex[len] + offset];
        if (sym === EOS) throw new HpackError('EOS in a Huffman string');
        out[n++] = sym;
        code = 0;
        len = 0;
      } else if (len === 30) {
        throw new HpackError('invalid Huffman code');
      }
    }
  }
  // Padding: fewer than 8 bits, all ones (a prefix of EOS).
  if (len > 7 || code !== (1 << len) - 1) throw new HpackError('invalid Huffman padding');
  return out.toString('latin1', 0, n);
}

/**
 * Decodes the header blocks of one connection, in order (the dynamic table is the connection's
 * state, so every block must pass through, even one for a stream nobody waits for any more).
 */
export class HpackDecoder {
  /** The dynamic table as a ring, newest entry at `head` (every entry takes at least 32 octets). */
  private readonly ring: ([string, string] | undefined)[];
  private head = 0;
  private count = 0;
  private size = 0;
  private maxSize: number;
  private pos = 0;

  constructor(private readonly protocolMaxSize = 4096) {
    this.maxSize = protocolMaxSize;
    this.ring = new Array<[string, string] | undefined>(Math.floor(protocolMaxSize / 32) + 1).fill(undefined);
  }

  /** Calls `onHeader` for each field of the block, in order. Throws `HpackError` on a malformed block. */
  decode(block: Buffer, onHeader: (name: string, value: string) => void): void {
    this.pos = 0;
    const end = block.length;
    while (this.pos < end) {
      const b = block[this.pos];
      if (b & 0x80) {
        const [name, value] = this.entry(this.integer(block, 7));
        onHeader(name, value);
      } else if (b & 0x40) {
        const [name, value] = this.literal(block, 6);
        this.insert(name, value);
        onHeader(name, value);
      } else if (b & 0x20) {
        const size = this.integer(block, 5);
        if (size > this.protocolMaxSize) throw new HpackError('table size update above the limit');
        this.maxSize = size;
        this.evict(0);
      } else {
        const [name, value] = this.literal(block, 4);
        onHeader(name, value);
      }
    }
  }

  private literal(block: Buffer, prefix: number): [string, string] {
    const index = this.integer(block, prefix);
    const name = index === 0 ? this.string(block) : this.entry(index)[0];
    return [name, this.string(block)];
  }

  private entry(index: number): readonly [string, string] {
    if (index === 0) throw new HpackError('index 0');
    if (index <= STATIC_TABLE.length) return STATIC_TABLE[index - 1];
    const i = index - STATIC_TABLE.length - 1;
    if (i >= this.count) throw new HpackError(`index ${index} beyond the tables`);
    return this.ring[(this.head + i) % this.ring.length]!;
  }

  private insert(name: string, value: string): void {
    const size = name.length + value.length + 32;
    this.evict(size);
    if (size > this.maxSize) return;
    this.head = (this.head + this.ring.length - 1) % this.ring.length;
    this.ring[this.head] = [name, value];
    this.count += 1;
    this.size += size;
  }

  private evict(room: number): void {
    while (this.count > 0 && this.size + room > this.maxSize) {
      const oldest = (this.head + this.count - 1) % this.ring.length;
      const [name, value] = this.ring[oldest]!;
      this.ring[oldest] = undefined;
      this.count -= 1;
      this.size -= name.length + value.length + 32;
    }
  }

  private integer(block: Buffer, prefix: number): number {
    if (this.pos >= block.length) throw new HpackError('truncated integer');
    const max = (1 << prefix) - 1;
    let value = block[this.pos++] & max;
    if (value < max) return value;
    let shift = 0;
    for (;;) {
      if (this.pos >= block.length || shift > 28) throw new HpackError('bad integer');
      const b = block[this.pos++];
      value += (b & 0x7f) * 2 ** shift;
      shift += 7;
      if ((b & 0x80) === 0) return value;
    }
  }

  /** Strings are read as latin1: one char per octet, so table sizes are their lengths. */
  private string(block: Buffer): string {
    if (this.pos >= block.length) throw new HpackError('truncated string');
    const huffman = (block[this.pos] & 0x80) !== 0;
    const length = this.integer(block, 7);
    const start = this.pos;
    const end = start + length;
    if (end > block.length) throw new HpackError('truncated string');
    this.pos = end;
    return huffman ? huffmanDecode(block, start, end) : block.toString('latin1', start, end);
  }
}

/** Appends an HPACK integer with an `prefix`-bit prefix whose high bits are `flags`. */
export function encodeInteger(out: number[], value: number, prefix: number, flags: number): void {
  const max = (1 << prefix) - 1;
  if (value < max) {
    out.push(flags | value);
    return;
  }
  out.push(flags | max);
  let rest = value - max;
  while (rest >= 0x80) {
    out.push((rest % 0x80) | 0x80);
    rest = Math.floor(rest / 0x80);
  }
  out.push(rest);
}

/** A header field as "literal without indexing" (RFC 7541 §6.2.2), name by static index or new. */
export function encodeLiteral(name: string | number, value: string): Buffer {
  const out: number[] = [];
  if (typeof name === 'number') {
    encodeInteger(out, name, 4, 0x00);
  } else {
    out.push(0x00);
    const n = Buffer.from(name, 'latin1');
    encodeInteger(out, n.length, 7, 0x00);
    out.push(...n);
  }
  const v = Buffer.from(value, 'utf8');
  encodeInteger(out, v.length, 7, 0x00);
  return Buffer.concat([Buffer.from(out), v]);
}
