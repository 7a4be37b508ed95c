/** The download's Range header (RFC 9110 §14): one range, 206; past the end, 416; anything else, the whole file. */
import { describe, expect, it } from 'vitest';
import { attachmentEtag, parseByteRange, rangeStillApplies } from './byte-range.ts';

describe('parseByteRange', () => {
  it('takes one range of each form, clamped to the file', () => {
    expect(parseByteRange('bytes=0-99', 1000)).toEqual({ kind: 'part', first: 0, last: 99 });
    expect(parseByteRange('bytes=500-', 1000)).toEqual({ kind: 'part', first: 500, last: 999 });
    expect(parseByteRange('bytes=990-5000', 1000)).toEqual({ kind: 'part', first: 990, last: 999 });
    expect(parseByteRange('bytes=-10', 1000)).toEqual({ kind: 'part', first: 990, last: 999 });
    expect(parseByteRange('bytes=-5000', 1000)).toEqual({ kind: 'part', first: 0, last: 999 });
    expect(parseByteRange('Bytes = 7-7', 1000)).toEqual({ kind: 'part', first: 7, last: 7 });
  });

  it('a range that starts at or past the end, or an empty suffix, is unsatisfiable (a file of 0 bytes has none)', () => {
    for (const [h, size] of [['bytes=1000-', 1000], ['bytes=1000-2000', 1000], ['bytes=-0', 1000], ['bytes=0-', 0], ['bytes=-5', 0]] as const) {
      expect([h, size, parseByteRange(h, size).kind]).toEqual([h, size, 'unsatisfiable']);
    }
  });

  it('ignores what it does not serve: no header, several ranges, another unit, bad syntax, last before first', () => {
    for (const h of [undefined, 'bytes=0-1,5-6', 'items=0-1', 'bytes=', 'bytes=-', 'bytes=a-b', 'bytes=5-1', 'bytes 0-1', 'bytes=0-1;x', `bytes=${'9'.repeat(17)}-`]) {
      expect([h, parseByteRange(h, 1000).kind]).toEqual([h, 'whole']);
    }
  });
});

describe('If-Range', () => {
  const etag = attachmentEtag(Uint8Array.of(0xab, 0x01));
  it('the ETag is the quoted hex of the SHA-256', () => {
    expect(etag).toBe('"ab01"');
  });
  it('the Range applies without If-Range, or while If-Range names the ETag; a date or another tag gets the whole file', () => {
    expect(rangeStillApplies(undefined, etag)).toBe(true);
    expect(rangeStillApplies(' "ab01" ', etag)).toBe(true);
    expect(rangeStillApplies('"ab02"', etag)).toBe(false);
    expect(rangeStillApplies('Tue, 01 Dec 2026 10:00:00 GMT', etag)).toBe(false);
    expect(rangeStillApplies(['"ab01"', '"ab01"'], etag)).toBe(false);
  });
});
