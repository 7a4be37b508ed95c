/**
 * Binary encoding helpers for every wire and state format: big-endian integers, u16/u32
 * length-prefixed byte strings, exact-length fields. The Reader throws only DecodeError.
 */
import { DecodeError } from './errors.ts';

export function concat(...parts: readonly Uint8Array[]): Uint8Array {
  let n = 0;
  for (const p of parts) n += p.length;
  const out = new Uint8Array(n);
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}

const textEncoder = new TextEncoder();
const textDecoder = new TextDecoder('utf-8', { fatal: true });

export const utf8 = {
  encode: (s: string): Uint8Array => textEncoder.encode(s),
  decode: (b: Uint8Array): string => {
    try {
      return textDecoder.decode(b);
    } catch {
      throw new DecodeError('invalid UTF-8');
    }
  },
};

/** u16 length prefix ‖ bytes (`lp(x)` in the README's formulas). */
export function lp(x: Uint8Array): Uint8Array {
  if (x.length > 0xffff) throw new RangeError('lp: value longer than 65535 bytes');
  const out = new Uint8Array(2 + x.length);
  out[0] = x.length >>> 8;
  out[1] = x.length & 0xff;
  out.set(x, 2);
  return out;
}

const TWO_32 = 2 ** 32;
/** High 32-bit word of Number.MAX_SAFE_INTEGER (2^53 − 1). */
const MAX_SAFE_HIGH_WORD = 0x1f_ffff;

/** Scratch buffers of finished Writers, all zeros, reused by the next ones (records are written on every message). */
const spareBuffers: Uint8Array[] = [];
const MAX_SPARE_BUFFERS = 8;
const MAX_SPARE_BUFFER_BYTES = 64 * 1024;
const INITIAL_CAPACITY = 1024;
/** What a finished Writer holds instead of its scratch buffer (never written: writes throw first). */
const FINISHED = new Uint8Array(0);

/**
 * Builds an encoding in one growing scratch buffer (no allocation per field), then copies it out
 * once. Values are copied in when written. `finish` ends the Writer: its scratch buffer is zeroed
 * (it may have held secrets) and kept for the next Writer.
 */
export class Writer {
  private buf: Uint8Array = spareBuffers.pop() ?? new Uint8Array(INITIAL_CAPACITY);
  private view = new DataView(this.buf.buffer);
  private size = 0;
  private finished = false;

  /** Room for n more bytes; returns the offset to write at. */
  private reserve(n: number): number {
    if (this.finished) throw new Error('Writer: already finished');
    const at = this.size;
    if (at + n > this.buf.length) {
      let capacity = this.buf.length * 2;
      while (capacity < at + n) capacity *= 2;
      const grown = new Uint8Array(capacity);
      grown.set(this.buf.subarray(0, at));
      this.buf = grown;
      this.view = new DataView(grown.buffer);
    }
    this.size = at + n;
    return at;
  }
  u8(v: number): this {
    const at = this.reserve(1); // reserve first: it may replace buf
    this.buf[at] = v & 0xff;
    return this;
  }
  u16(v: number): this {
    const at = this.reserve(2);
    this.view.setUint16(at, v & 0xffff);
    return this;
  }
  u32(v: number): this {
    const at = this.reserve(4);
    this.view.setUint32(at, v >>> 0);
    return this;
  }
  /** Unsigned integer up to 2^53-1 as 8 bytes (timestamps in ms, sequence numbers). */
  u64(v: number): this {
    if (!Number.isSafeInteger(v) || v < 0) throw new RangeError('u64: not a non-negative safe integer');
    const at = this.reserve(8);
    const high = Math.floor(v / TWO_32);
    this.view.setUint32(at, high);
    this.view.setUint32(at + 4, v - high * TWO_32);
    return this;
  }
  bool(v: boolean): this {
    return this.u8(v ? 1 : 0);
  }
  /** Raw bytes; the reader must know the length. */
  fixed(b: Uint8Array): this {
    const at = this.reserve(b.length);
    this.buf.set(b, at);
    return this;
  }
  /** u16 length ‖ bytes. */
  bytes16(b: Uint8Array): this {
    if (b.length > 0xffff) throw new RangeError('lp: value longer than 65535 bytes');
    return this.u16(b.length).fixed(b);
  }
  /** u32 length ‖ bytes. */
  bytes32(b: Uint8Array): this {
    return this.u32(b.length).fixed(b);
  }
  string16(s: string): this {
    return this.bytes16(utf8.encode(s));
  }
  /** The encoding (a fresh buffer of exactly `length` bytes). Call once, last. */
  finish(): Uint8Array {
    if (this.finished) throw new Error('Writer: already finished');
    this.finished = true;
    const out = this.buf.slice(0, this.size);
    this.buf.fill(0, 0, this.size);
    if (spareBuffers.length < MAX_SPARE_BUFFERS && this.buf.length <= MAX_SPARE_BUFFER_BYTES) spareBuffers.push(this.buf);
    this.buf = FINISHED;
    return out;
  }
  get length(): number {
    return this.size;
  }
}

export class Reader {
  private offset = 0;
  private readonly view: DataView;
  constructor(private readonly buf: Uint8Array, private readonly what = 'input') {
    this.view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  }
  private need(n: number): void {
    if (n < 0 || this.offset + n > this.buf.length) throw new DecodeError(`${this.what}: truncated`);
  }
  u8(): number {
    this.need(1);
    return this.view.getUint8(this.offset++);
  }
  u16(): number {
    this.need(2);
    const v = this.view.getUint16(this.offset);
    this.offset += 2;
    return v;
  }
  u32(): number {
    this.need(4);
    const v = this.view.getUint32(this.offset);
    this.offset += 4;
    return v;
  }
  u64(): number {
    this.need(8);
    const high = this.view.getUint32(this.offset);
    const low = this.view.getUint32(this.offset + 4);
    this.offset += 8;
    if (high > MAX_SAFE_HIGH_WORD) throw new DecodeError(`${this.what}: integer out of range`);
    return high * TWO_32 + low;
  }
  bool(): boolean {
    const v = this.u8();
    if (v > 1) throw new DecodeError(`${this.what}: bad boolean`);
    return v === 1;
  }
  /** Exactly n bytes (a copy, so callers may zero it). */
  fixed(n: number): Uint8Array {
    this.need(n);
    const b = this.buf.slice(this.offset, this.offset + n);
    this.offset += n;
    return b;
  }
  /**
   * The next n bytes as a view into the input, not a copy: for a large field (a file chunk) the
   * caller uses at once and does not keep beyond the input's life.
   */
  fixedView(n: number): Uint8Array {
    this.need(n);
    const b = this.buf.subarray(this.offset, this.offset + n);
    this.offset += n;
    return b;
  }
  /**
   * The next n bytes as a view into the input, not a copy: only for handing a length-prefixed field
   * to a nested decoder that copies what it keeps (it saves copying the field twice).
   */
  view32(max: number): Uint8Array {
    const n = this.u32();
    if (n > max) throw new DecodeError(`${this.what}: field too long`);
    return this.fixedView(n);
  }
  bytes16(max = 0xffff): Uint8Array {
    const n = this.u16();
    if (n > max) throw new DecodeError(`${this.what}: field too long`);
    return this.fixed(n);
  }
  bytes32(max: number): Uint8Array {
    const n = this.u32();
    if (n > max) throw new DecodeError(`${this.what}: field too long`);
    return this.fixed(n);
  }
  string16(max = 0xffff): string {
    return utf8.decode(this.bytes16(max));
  }
  /** Everything not yet read. */
  rest(): Uint8Array {
    const b = this.buf.slice(this.offset);
    this.offset = this.buf.length;
    return b;
  }
  get remaining(): number {
    return this.buf.length - this.offset;
  }
  /** Throws unless every byte was consumed (no trailing garbage is accepted). */
  end(): void {
    if (this.offset !== this.buf.length) throw new DecodeError(`${this.what}: trailing bytes`);
  }
}

export function toHex(b: Uint8Array): string {
  return Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString('hex');
}

export function fromHex(s: string): Uint8Array {
  if (!/^(?:[0-9a-f]{2})*$/i.test(s)) throw new DecodeError('invalid hex');
  return new Uint8Array(Buffer.from(s, 'hex'));
}
