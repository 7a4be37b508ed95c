import { describe, expect, it } from 'vitest';
import { Reader, Writer, toHex } from './bytes.ts';
import { DecodeError } from './errors.ts';
import { RecentHashes, TRANSCRIPT_RECENT_HASHES } from './transcript-recent.ts';

const hashFor = (seq: number): Uint8Array => new Uint8Array(32).fill(seq & 0xff);

function encode(list: RecentHashes): Uint8Array {
  const w = new Writer();
  list.write(w);
  return w.finish();
}

describe('recent transcript hashes', () => {
  it('remembers the last TRANSCRIPT_RECENT_HASHES (seq, hash) pairs, oldest dropped first', () => {
    let list = RecentHashes.EMPTY;
    for (let seq = 1; seq <= TRANSCRIPT_RECENT_HASHES + 5; seq++) list = list.with(seq, hashFor(seq));
    expect(list.length).toBe(TRANSCRIPT_RECENT_HASHES);
    for (let seq = 1; seq <= 5; seq++) expect(list.hashOf(seq)).toBeUndefined();
    for (let seq = 6; seq <= TRANSCRIPT_RECENT_HASHES + 5; seq++) expect(toHex(list.hashOf(seq)!)).toBe(toHex(hashFor(seq)));
    expect(RecentHashes.EMPTY.length).toBe(0); // `with` never changes the list it is called on
  });

  it('handles seqs above 2^32 and hands out copies', () => {
    const big = 2 ** 40 + 3;
    const list = RecentHashes.EMPTY.with(big, hashFor(7)).with(2, hashFor(2));
    const h = list.hashOf(big)!;
    expect(toHex(h)).toBe(toHex(hashFor(7)));
    h.fill(0);
    expect(toHex(list.hashOf(big)!)).toBe(toHex(hashFor(7)));
    expect(list.hashOf(3)).toBeUndefined();
  });

  it('encodes as count u8 ‖ (seq u64 ‖ hash) in release order, and round-trips byte for byte', () => {
    const list = RecentHashes.EMPTY.with(5, hashFor(5)).with(3, hashFor(3));
    const bytes = encode(list);
    expect(toHex(bytes)).toBe('02' + '0000000000000005' + toHex(hashFor(5)) + '0000000000000003' + toHex(hashFor(3)));
    const r = new Reader(bytes);
    expect(toHex(encode(RecentHashes.read(r, 5)))).toBe(toHex(bytes));
    r.end();
  });

  it('the decoder refuses seq 0, a seq above the highest released, a count above the bound, truncation', () => {
    const read = (bytes: Uint8Array, maxSeq: number): RecentHashes => RecentHashes.read(new Reader(bytes), maxSeq);
    const ok = encode(RecentHashes.EMPTY.with(4, hashFor(4)));
    expect(read(ok, 4).length).toBe(1);
    expect(() => read(ok, 3)).toThrow(DecodeError);
    expect(() => read(encode(RecentHashes.EMPTY.with(0, hashFor(0))), 10)).toThrow(DecodeError);
    const tooMany = new Uint8Array(1 + (TRANSCRIPT_RECENT_HASHES + 1) * 40);
    tooMany[0] = TRANSCRIPT_RECENT_HASHES + 1;
    expect(() => read(tooMany, 10)).toThrow(DecodeError);
    expect(() => read(ok.subarray(0, ok.length - 1), 4)).toThrow(DecodeError);
    const huge = ok.slice();
    huge.fill(0xff, 1, 9); // seq = 2^64 − 1
    expect(() => read(huge, Number.MAX_SAFE_INTEGER)).toThrow(DecodeError);
  });
});
