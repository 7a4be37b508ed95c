/**
 * What a member has received of one sender in one group, by senderSeq: everything up to `upTo`, and
 * the seqs in `above` (ascending, all > upTo + 1). It gives exactly-once delivery across keys and
 * re-sends (a seq seen twice is a duplicate), the cumulative receipt (upTo), and the holes to ask
 * the sender for. A joiner's log starts below the firstSeq of its first distribution: what was sent
 * before it joined is not missing. Bounded by MAX_GROUP_SEQ_ABOVE: past it the oldest hole is given
 * up (returned, for the log) and upTo moves over it.
 *
 * Stored record: format u8 (= 1) ‖ upTo u64 ‖ count u16 ‖ count × seq u64
 */
import { DecodeError } from '../errors.ts';
import { Reader, Writer } from '../bytes.ts';
import { MAX_GROUP_SEQ_ABOVE } from '../limits.ts';

const LOG_FORMAT = 1;

export interface SeqLog {
  readonly upTo: number;
  readonly above: readonly number[];
}

export interface SeqRange {
  readonly from: number;
  readonly to: number;
}

/** The log of a sender whose first message here is `firstSeq`. */
export function startSeqLog(firstSeq: number): SeqLog {
  if (!Number.isSafeInteger(firstSeq) || firstSeq < 1) throw new RangeError('seq log: firstSeq must be ≥ 1');
  return { upTo: firstSeq - 1, above: [] };
}

export function hasSeq(log: SeqLog, seq: number): boolean {
  return seq <= log.upTo || log.above.includes(seq);
}

export interface Recorded {
  readonly duplicate: boolean;
  readonly next: SeqLog;
  /** holes given up to stay within the bound (empty almost always) */
  readonly givenUp: readonly SeqRange[];
}

/** Records one received seq. */
export function recordSeq(log: SeqLog, seq: number): Recorded {
  if (!Number.isSafeInteger(seq) || seq < 1) throw new RangeError('seq log: bad seq');
  if (hasSeq(log, seq)) return { duplicate: true, next: log, givenUp: [] };
  let upTo = log.upTo;
  let above = [...log.above, seq].sort((a, b) => a - b);
  const givenUp: SeqRange[] = [];
  for (;;) {
    while (above.length > 0 && above[0] === upTo + 1) upTo = above.shift()!;
    if (above.length <= MAX_GROUP_SEQ_ABOVE) break;
    givenUp.push({ from: upTo + 1, to: above[0]! - 1 });
    upTo = above[0]! - 1;
  }
  return { duplicate: false, next: { upTo, above }, givenUp };
}

/** The holes below the highest seq received. */
export function missingSeqs(log: SeqLog): readonly SeqRange[] {
  const out: SeqRange[] = [];
  let expected = log.upTo + 1;
  for (const s of log.above) {
    if (s > expected) out.push({ from: expected, to: s - 1 });
    expected = s + 1;
  }
  return out;
}

export function encodeSeqLog(log: SeqLog): Uint8Array {
  const w = new Writer().u8(LOG_FORMAT).u64(log.upTo).u16(log.above.length);
  for (const s of log.above) w.u64(s);
  return w.finish();
}

export function decodeSeqLog(bytes: Uint8Array): SeqLog {
  const r = new Reader(bytes, 'seq log');
  if (r.u8() !== LOG_FORMAT) throw new DecodeError('seq log: unsupported format', 'UnsupportedVersion');
  const upTo = r.u64();
  const n = r.u16();
  if (n > MAX_GROUP_SEQ_ABOVE) throw new DecodeError('seq log: too many entries');
  const above: number[] = [];
  let previous = upTo + 1;
  for (let i = 0; i < n; i++) {
    const s = r.u64();
    if (s <= previous) throw new DecodeError('seq log: entries not ascending above upTo + 1');
    above.push(s);
    previous = s;
  }
  r.end();
  return { upTo, above };
}
