import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { DecodeError, RatchetError } from './errors.ts';
import { BODY_SIZE_BUCKETS } from './limits.ts';
import { MAX_PADDABLE_BYTES, pad, paddedLength, unpad } from './padding.ts';

describe('body padding (ISO/IEC 7816-4 to size buckets)', () => {
  it('pads to the smallest bucket strictly larger than the plaintext', () => {
    expect(paddedLength(0)).toBe(256);
    expect(paddedLength(255)).toBe(256);
    expect(paddedLength(256)).toBe(512);
    expect(paddedLength(511)).toBe(512);
    expect(paddedLength(512)).toBe(1024);
    expect(paddedLength(1023)).toBe(1024);
    expect(paddedLength(1024)).toBe(4096);
    expect(paddedLength(MAX_PADDABLE_BYTES)).toBe(BODY_SIZE_BUCKETS[BODY_SIZE_BUCKETS.length - 1]);
  });

  it('refuses a body larger than the largest bucket with MessageTooLarge', () => {
    let caught: unknown;
    try {
      pad(new Uint8Array(MAX_PADDABLE_BYTES + 1));
    } catch (e) {
      caught = e;
    }
    expect(caught).toBeInstanceOf(RatchetError);
    expect((caught as RatchetError).code).toBe('MessageTooLarge');
  });

  it('round-trips any plaintext, including ones ending in 0x80 or zeros', () => {
    for (const p of [new Uint8Array(0), Uint8Array.of(0x80), Uint8Array.of(0, 0, 0), Uint8Array.of(1, 0x80, 0), new Uint8Array(255).fill(0x80)]) {
      const padded = pad(p);
      expect(BODY_SIZE_BUCKETS as readonly number[]).toContain(padded.length);
      expect(Array.from(unpad(padded))).toEqual(Array.from(p));
    }
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 5000 }), (p) => {
        expect(Array.from(unpad(pad(p)))).toEqual(Array.from(p));
      }),
      { seed: 42, numRuns: 300 },
    );
  });

  it('unpad rejects anything without a marker or of a non-bucket length, with DecodeError only', () => {
    expect(() => unpad(new Uint8Array(256))).toThrow(DecodeError);
    expect(() => unpad(Uint8Array.of(0x80))).toThrow(DecodeError);
    const bad = new Uint8Array(256);
    bad[10] = 0x81;
    expect(() => unpad(bad)).toThrow(DecodeError);
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 2000 }), (b) => {
        try {
          unpad(b);
        } catch (e) {
          expect(e).toBeInstanceOf(DecodeError);
        }
      }),
      { seed: 42, numRuns: 500 },
    );
  });
});
