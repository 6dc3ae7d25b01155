/**
 * Protobuf wire encoding by hand, for the few messages meshfed writes on every push to thousands of
 * proxies (delta responses, their resources, listener heads), where protobufjs's object conversion and
 * growing writer were a visible cost. Sizes first (nested messages are length-prefixed), then one
 * pass of writes into a buffer of exactly that size. Tags are one byte: fields 1 to 15 only. What these
 * write is compared byte for byte with protobufjs in the tests of each encoder.
 */
export function varintSize(v: number): number {
  let n = 1;
  while (v > 0x7f) {
    v = Math.floor(v / 128);
    n++;
  }
  return n;
}

/** A length-delimited field of `len` payload bytes: tag, length, payload. */
export const fieldSize = (len: number): number => 1 + varintSize(len) + len;

/** A string field, UTF-8. */
export const stringFieldSize = (s: string): number => fieldSize(Buffer.byteLength(s));

/** Writes fields into one buffer sized beforehand; `end` checks that exactly that much was written. */
export class ProtoWriter {
  buf: Buffer;
  off = 0;

  constructor(buf: Buffer) {
    this.buf = buf;
  }

  /** Starts over on another buffer (a writer kept for a hot path, not one per message). */
  reset(buf: Buffer): this {
    this.buf = buf;
    this.off = 0;
    return this;
  }

  varint(v: number): void {
    const b = this.buf;
    let off = this.off;
    while (v > 0x7f) {
      b[off++] = (v & 0x7f) | 0x80;
      v = Math.floor(v / 128);
    }
    b[off++] = v;
    this.off = off;
  }

  /** A tag byte and a length: what precedes a nested message or bytes of that length. */
  header(tag: number, len: number): void {
    this.buf[this.off++] = tag;
    this.varint(len);
  }

  string(tag: number, s: string): void {
    const len = Buffer.byteLength(s);
    this.header(tag, len);
    this.off += this.buf.write(s, this.off, len, 'utf8');
  }

  /** A bytes field; returns where its payload starts. */
  bytes(tag: number, b: Uint8Array): number {
    this.header(tag, b.length);
    const at = this.off;
    this.raw(b);
    return at;
  }

  /** Bytes as they are (an already encoded message or field). */
  raw(b: Uint8Array): void {
    this.buf.set(b, this.off);
    this.off += b.length;
  }

  /** A varint field (wire type 0). */
  uint(tag: number, v: number): void {
    this.buf[this.off++] = tag;
    this.varint(v);
  }

  end(what: string): Buffer {
    if (this.off !== this.buf.length) throw new Error(`${what} encoding: wrote ${this.off} bytes of ${this.buf.length}`);
    return this.buf;
  }
}
