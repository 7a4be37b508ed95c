/**
 * The hashes of the last TRANSCRIPT_RECENT_HASHES messages released by the transcript (transcript.ts):
 * a message that reuses one of these seqs with other content is a fork of the peer's transcript.
 *
 * Kept in memory as their stored encoding — per entry seq u64 BE ‖ transcript hash (32), in the order
 * they were released — because the list is full after 32 messages and the peer record holding it is
 * decoded and encoded on every message: one copy instead of an allocation per entry. Immutable.
 */
import { DecodeError } from './errors.ts';
import { Writer, type Reader } from './bytes.ts';

/** Released message hashes remembered (see transcript.ts for why). */
export const TRANSCRIPT_RECENT_HASHES = 32;
const HASH_BYTES = 32;
const ENTRY_BYTES = 8 + HASH_BYTES;

export class RecentHashes {
  static readonly EMPTY = new RecentHashes(new Uint8Array(0));

  private readonly view: DataView;

  private constructor(private readonly entries: Uint8Array) {
    this.view = new DataView(entries.buffer, entries.byteOffset, entries.byteLength);
  }

  get length(): number {
    return this.entries.length / ENTRY_BYTES;
  }

  private seqAt(i: number): number {
    const o = i * ENTRY_BYTES;
    return this.view.getUint32(o) * 2 ** 32 + this.view.getUint32(o + 4);
  }

  /** The hash released under `seq`, if it is still remembered (a copy). */
  hashOf(seq: number): Uint8Array | undefined {
    for (let i = 0; i < this.length; i++) {
      if (this.seqAt(i) === seq) return this.entries.slice(i * ENTRY_BYTES + 8, (i + 1) * ENTRY_BYTES);
    }
    return undefined;
  }

  /** The list with (seq, hash) appended; the oldest entry goes once there are TRANSCRIPT_RECENT_HASHES. */
  with(seq: number, hash: Uint8Array): RecentHashes {
    if (hash.length !== HASH_BYTES) throw new RangeError('recent hashes: a transcript hash is 32 bytes');
    const keep = Math.min(this.length, TRANSCRIPT_RECENT_HASHES - 1);
    const kept = this.entries.subarray(this.entries.length - keep * ENTRY_BYTES);
    return new RecentHashes(new Writer().fixed(kept).u64(seq).fixed(hash).finish());
  }

  /** count u8 ‖ entries */
  write(w: Writer): void {
    w.u8(this.length).fixed(this.entries);
  }

  /** Reads what `write` wrote; every seq must be in 1..maxSeq (the highest seq released). */
  static read(r: Reader, maxSeq: number): RecentHashes {
    const count = r.u8();
    if (count > TRANSCRIPT_RECENT_HASHES) throw new DecodeError('transcript: too many recent hashes');
    const list = new RecentHashes(r.fixed(count * ENTRY_BYTES));
    for (let i = 0; i < count; i++) {
      const seq = list.seqAt(i);
      if (seq === 0 || seq > maxSeq) throw new DecodeError('transcript: bad recent hash');
    }
    return list;
  }
}
