import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { Reader, Writer, toHex } from './bytes.ts';
import { DecodeError } from './errors.ts';

describe('Writer / Reader', () => {
  it('writes big-endian integers at their exact byte positions', () => {
    const b = new Writer().u8(0x1ff).u16(0x1_0203).u32(0x0405_0607).u64(0x0008_090a_0b0c_0d0e).bool(true).finish();
    expect(toHex(b)).toBe('ff' + '0203' + '04050607' + '0008090a0b0c0d0e' + '01');
  });

  it('u64 round-trips 0, 2^32 − 1, 2^32 and 2^53 − 1; the reader refuses 2^53', () => {
    for (const v of [0, 2 ** 32 - 1, 2 ** 32, Number.MAX_SAFE_INTEGER]) {
      expect(new Reader(new Writer().u64(v).finish()).u64()).toBe(v);
    }
    expect(toHex(new Writer().u64(Number.MAX_SAFE_INTEGER).finish())).toBe('001fffffffffffff');
    expect(() => new Reader(Uint8Array.of(0, 0x20, 0, 0, 0, 0, 0, 0)).u64()).toThrow(DecodeError);
    expect(() => new Writer().u64(2 ** 53)).toThrow(RangeError);
    expect(() => new Writer().u64(-1)).toThrow(RangeError);
    expect(() => new Writer().u64(1.5)).toThrow(RangeError);
  });

  it('keeps every byte when the buffer grows past its initial size, and copies values in', () => {
    const chunk = Uint8Array.from({ length: 100 }, (_, i) => i);
    const w = new Writer();
    for (let i = 0; i < 50; i++) w.u8(i).fixed(chunk).u32(i);
    chunk.fill(0xee); // written values were copied: later changes do not leak into the encoding
    const out = w.finish();
    expect(out.length).toBe(50 * 105);
    expect(w.length).toBe(out.length);
    const r = new Reader(out);
    for (let i = 0; i < 50; i++) {
      expect(r.u8()).toBe(i);
      expect(Array.from(r.fixed(100))).toEqual(Array.from({ length: 100 }, (_, j) => j));
      expect(r.u32()).toBe(i);
    }
    r.end();
  });

  it('finished encodings never alias a later Writer’s scratch buffer; a Writer is finished once', () => {
    const first = new Writer().fixed(new Uint8Array(40).fill(0xaa)).finish();
    const nested = new Writer().u8(1);
    const inner = new Writer().fixed(new Uint8Array(300).fill(0xbb)).finish(); // a Writer used inside another
    const outer = nested.fixed(inner).finish();
    const later = new Writer().fixed(new Uint8Array(2000).fill(0xcc)).finish();
    expect(first.every((b) => b === 0xaa) && first.length === 40).toBe(true);
    expect(inner.every((b) => b === 0xbb) && inner.length === 300).toBe(true);
    expect(outer[0]).toBe(1);
    expect(outer.subarray(1).every((b) => b === 0xbb) && outer.length === 301).toBe(true);
    expect(later.every((b) => b === 0xcc)).toBe(true);
    const w = new Writer().u8(7);
    w.finish();
    expect(() => w.finish()).toThrow();
    expect(() => w.u8(1)).toThrow();
    expect(w.length).toBe(1);
  });

  it('view32 hands out the field without copying it, and checks its bound and the input length', () => {
    const bytes = new Writer().bytes32(Uint8Array.of(5, 6, 7)).u8(9).finish();
    const r = new Reader(bytes);
    const v = r.view32(3);
    expect(Array.from(v)).toEqual([5, 6, 7]);
    expect(v.buffer).toBe(bytes.buffer);
    expect(r.u8()).toBe(9);
    expect(() => new Reader(bytes).view32(2)).toThrow(DecodeError);
    expect(() => new Reader(bytes.subarray(0, 6)).view32(3)).toThrow(DecodeError);
  });

  it('round-trips arbitrary field sequences (seed 42)', () => {
    const field = fc.oneof(
      fc.record({ t: fc.constant('u8' as const), v: fc.integer({ min: 0, max: 255 }) }),
      fc.record({ t: fc.constant('u16' as const), v: fc.integer({ min: 0, max: 0xffff }) }),
      fc.record({ t: fc.constant('u32' as const), v: fc.integer({ min: 0, max: 0xffff_ffff }) }),
      fc.record({ t: fc.constant('u64' as const), v: fc.maxSafeNat() }),
      fc.record({ t: fc.constant('bytes16' as const), v: fc.uint8Array({ maxLength: 600 }) }),
      fc.record({ t: fc.constant('string16' as const), v: fc.string({ unit: 'grapheme', maxLength: 40 }) }),
    );
    fc.assert(
      fc.property(fc.array(field, { maxLength: 40 }), (fields) => {
        const w = new Writer();
        for (const f of fields) {
          if (f.t === 'bytes16') w.bytes16(f.v);
          else if (f.t === 'string16') w.string16(f.v);
          else w[f.t](f.v);
        }
        const r = new Reader(w.finish());
        for (const f of fields) {
          if (f.t === 'bytes16') expect(toHex(r.bytes16())).toBe(toHex(f.v));
          else if (f.t === 'string16') expect(r.string16()).toBe(f.v);
          else expect(r[f.t]()).toBe(f.v);
        }
        r.end();
      }),
      { seed: 42, numRuns: 300 },
    );
  });
});
