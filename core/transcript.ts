/**
 * Transcript integrity per peer. Outgoing messages get seq = previous + 1 and
 * prevHash = transcriptHash(previous). Incoming messages are released to the daemon in seq order:
 *
 * - seq already released (and not a known gap) or already buffered → duplicate, dropped. This is what
 *   happens to a retransmission (same id and seq, re-encrypted, perhaps over another session). If the
 *   content differs from what was released or held under that seq (checked against the last
 *   TRANSCRIPT_RECENT_HASHES), the peer's transcript forked: TranscriptBroken, nothing changes.
 * - seq = next expected → its prevHash must equal the hash of the last released message, else
 *   TranscriptError 'TranscriptBroken' and nothing changes; then buffered successors follow.
 * - seq further ahead → buffered (bounded by TRANSCRIPT_MAX_PENDING messages / _BYTES bytes).
 *   When the buffer would overflow, or when the daemon calls `releaseStalled` after waiting
 *   TRANSCRIPT_MAX_WAIT_MS, the buffer is released across the holes; the holes are reported as `gaps`
 *   (the relay dropped or is withholding those messages) and remembered in `missing`, so a late copy
 *   is still delivered once (for TRANSCRIPT_GAP_MAX_AGE_MS). Across a gap the hash chain cannot be
 *   checked. A held-back message that does not link to the message released just before it is
 *   reported in `brokenLinks` instead of blocking (only the arriving message's own link throws).
 * - Receipts and resets are outside the sequence and released at once.
 * - A reset may carry a rebase (the sender was restored from a backup and its transcript restarts
 *   from an older point than the one we reached): see rebaseReceive.
 * `receiptSeq` is the highest seq below which nothing is missing: what a cumulative receipt may claim,
 * so a sender keeps retransmitting what fell into a gap.
 *
 * Encoding (inside the peer record):
 *   sendSeq u64 ‖ sendHash 32 ‖ recvSeq u64 ‖ recvHash 32
 *   ‖ missingCount u8 ‖ × (from u64 ‖ to u64 ‖ declaredAt u64) ‖ recentCount u8 ‖ × (seq u64 ‖ hash 32)
 *   ‖ pendingCount u16 ‖ × (receivedAt u64 ‖ u32 length ‖ content)
 */
import type { Crypto } from './crypto.ts';
import { DecodeError, RatchetError } from './errors.ts';
import { Reader, type Writer } from './bytes.ts';
import { RecentHashes } from './transcript-recent.ts';
import { MAX_BODY_BYTES } from './limits.ts';
import {
  TRANSCRIPT_HASH_BYTES,
  isSequenced,
  ZERO_HASH,
  decodeContent,
  encodeContent,
  sealContent,
  transcriptHash,
  transcriptHashOfEncoding,
  type Content,
  type ContentInput,
  type SequencedContent,
} from './content.ts';

/** Out-of-order messages held back per peer: bounds memory; past it, holes are declared gaps. */
export const TRANSCRIPT_MAX_PENDING = 2000;
/** Bytes of held-back bodies per peer (the count alone would allow 2000 × 256 KiB). */
export const TRANSCRIPT_MAX_PENDING_BYTES = 8 * 1024 * 1024;
/** How long a hole may hold back later messages before `releaseStalled` declares it a gap (ms). */
export const TRANSCRIPT_MAX_WAIT_MS = 2 * 60 * 1000;
/** Gaps remembered for late copies; the oldest are forgotten (and count as lost). */
export const TRANSCRIPT_MAX_MISSING_RANGES = 64;
/**
 * A gap is given up this long after it was declared (ms): the sender's outbox retransmits within it
 * if it still has the message; after it, receipts move past the gap (else a sender that no longer has
 * the message would retransmit everything after it forever).
 */
export const TRANSCRIPT_GAP_MAX_AGE_MS = 24 * 3600 * 1000;
/**
 * TRANSCRIPT_RECENT_HASHES released message hashes are remembered (transcript-recent.ts): a message
 * reusing one of these seqs with other content is a fork of the peer's transcript (state restored from
 * an old backup, two devices on one identity) and is reported, not silently dropped as a duplicate.
 */
export { TRANSCRIPT_RECENT_HASHES } from './transcript-recent.ts';

export class TranscriptError extends RatchetError {}

export interface SeqRange {
  readonly from: number;
  readonly to: number;
}

/** A hole released past, remembered until TRANSCRIPT_GAP_MAX_AGE_MS after it was declared. */
export interface MissingRange extends SeqRange {
  readonly declaredAt: number;
}

export interface PendingMessage {
  readonly content: SequencedContent;
  readonly receivedAt: number;
}

export interface TranscriptState {
  /** Last seq given to an outgoing message (0: none yet). */
  readonly sendSeq: number;
  /** transcriptHash of that message (zeros before the first). */
  readonly sendHash: Uint8Array;
  /** Highest seq released to the daemon. */
  readonly recvSeq: number;
  /** transcriptHash of the message released at recvSeq (zeros before the first). */
  readonly recvHash: Uint8Array;
  /** Held back, increasing seq, all > recvSeq. */
  readonly pending: readonly PendingMessage[];
  /** Hashes of the last TRANSCRIPT_RECENT_HASHES released messages: tells a copy from a fork. */
  readonly recent: RecentHashes;
  /** Holes released past, increasing, disjoint, all ≤ recvSeq. */
  readonly missing: readonly MissingRange[];
}

export interface AcceptResult {
  /** Contents now deliverable, in order. */
  readonly deliver: readonly Content[];
  readonly duplicate: boolean;
  /** Holes declared by this call. */
  readonly gaps: readonly SeqRange[];
  /** Seqs released across a gap whose prevHash did not link to the message released before them. */
  readonly brokenLinks: readonly number[];
  readonly next: TranscriptState;
}

export function emptyTranscript(): TranscriptState {
  return { sendSeq: 0, sendHash: ZERO_HASH, recvSeq: 0, recvHash: ZERO_HASH, pending: [], missing: [], recent: RecentHashes.EMPTY };
}

/** Gives an outgoing content its place in the transcript; `encoded` is encodeContent(content), made once. */
export function nextOutgoing(
  crypto: Crypto,
  t: TranscriptState,
  input: ContentInput,
  now: number,
): { content: Content; encoded: Uint8Array; next: TranscriptState } {
  if (input.kind !== 'message' && input.kind !== 'file') {
    const content = sealContent(crypto, input, 0, ZERO_HASH, now);
    return { content, encoded: encodeContent(content), next: t };
  }
  const content = sealContent(crypto, input, t.sendSeq + 1, t.sendHash, now);
  const encoded = encodeContent(content);
  return { content, encoded, next: { ...t, sendSeq: content.seq, sendHash: transcriptHashOfEncoding(crypto, encoded) } };
}

/** Cumulative receipt value: every message up to it was released (none lies in a gap). */
export function receiptSeq(t: TranscriptState, now: number): number {
  const first = expireGaps(t, now).missing[0];
  return first === undefined ? t.recvSeq : first.from - 1;
}

function inMissing(missing: readonly SeqRange[], seq: number): boolean {
  return missing.some((m) => seq >= m.from && seq <= m.to);
}

function removeFromMissing(missing: readonly MissingRange[], seq: number): MissingRange[] {
  const out: MissingRange[] = [];
  for (const m of missing) {
    if (seq < m.from || seq > m.to) out.push(m);
    else {
      if (m.from < seq) out.push({ from: m.from, to: seq - 1, declaredAt: m.declaredAt });
      if (seq < m.to) out.push({ from: seq + 1, to: m.to, declaredAt: m.declaredAt });
    }
  }
  return out;
}

/** Forgets gaps older than TRANSCRIPT_GAP_MAX_AGE_MS (same object when none expired). */
function expireGaps(t: TranscriptState, now: number): TranscriptState {
  const missing = t.missing.filter((m) => now - m.declaredAt < TRANSCRIPT_GAP_MAX_AGE_MS);
  return missing.length === t.missing.length ? t : { ...t, missing };
}

function pendingBytes(pending: readonly PendingMessage[]): number {
  let n = 0;
  for (const p of pending) n += p.content.kind === 'message' ? p.content.body.length : 0;
  return n;
}

/**
 * Releases the in-order successors of recvSeq from the buffer. The first one is the message that just
 * arrived: a broken link there throws. Later ones were buffered earlier; a broken link among them is
 * reported (they are authentic messages of the peer; holding them back would block the transcript).
 */
function drain(
  crypto: Crypto,
  t: TranscriptState,
  arrived: { readonly content: Content; readonly hash: Uint8Array },
  out: Content[],
  brokenLinks: number[],
): TranscriptState {
  let { recvSeq, recvHash, recent } = t;
  let i = 0;
  for (; i < t.pending.length && t.pending[i]!.content.seq === recvSeq + 1; i++) {
    const c = t.pending[i]!.content;
    if (!crypto.equal(c.prevHash, recvHash)) {
      if (i === 0) throw new TranscriptError('TranscriptBroken', 'transcript: a message does not link to its predecessor');
      brokenLinks.push(c.seq);
    }
    out.push(c);
    recvSeq = c.seq;
    recvHash = c === arrived.content ? arrived.hash : transcriptHash(crypto, c);
    recent = recent.with(recvSeq, recvHash);
  }
  return { ...t, recvSeq, recvHash, recent, pending: t.pending.slice(i) };
}

/** Releases the whole buffer across its holes (declared gaps). Never throws on a broken link. */
function releaseAcross(
  crypto: Crypto,
  t: TranscriptState,
  out: Content[],
  now: number,
): { next: TranscriptState; gaps: SeqRange[]; brokenLinks: number[] } {
  let { recvSeq, recvHash, recent } = t;
  const gaps: SeqRange[] = [];
  const brokenLinks: number[] = [];
  for (const { content: c } of t.pending) {
    if (c.seq > recvSeq + 1) gaps.push({ from: recvSeq + 1, to: c.seq - 1 });
    else if (!crypto.equal(c.prevHash, recvHash)) brokenLinks.push(c.seq);
    out.push(c);
    recvSeq = c.seq;
    recvHash = transcriptHash(crypto, c);
    recent = recent.with(recvSeq, recvHash);
  }
  const declared = gaps.map((g) => ({ ...g, declaredAt: now }));
  const missing = [...t.missing, ...declared].slice(-TRANSCRIPT_MAX_MISSING_RANGES);
  return { next: { ...t, recvSeq, recvHash, recent, pending: [], missing }, gaps, brokenLinks };
}

/** Another content was already released or held under this seq. */
function isFork(crypto: Crypto, known: Uint8Array | undefined, hash: Uint8Array): boolean {
  return known !== undefined && !crypto.equal(known, hash);
}

function forkError(): TranscriptError {
  return new TranscriptError('TranscriptBroken', 'transcript: the peer reused a sequence number for another message (restored or forked state)');
}

/**
 * Takes one decrypted content; returns what is now deliverable in order. `encoded` is the content's
 * encoding when the caller has it (the decrypted plaintext), so that it is not encoded again to hash it.
 */
export function acceptInOrder(
  crypto: Crypto,
  current: TranscriptState,
  content: Content,
  now: number,
  encoded?: Uint8Array,
): AcceptResult {
  const none = { gaps: [], brokenLinks: [] };
  const t = expireGaps(current, now);
  if (!isSequenced(content)) return { deliver: [content], duplicate: false, ...none, next: t };
  const seq = content.seq;
  const hash = encoded === undefined ? transcriptHash(crypto, content) : transcriptHashOfEncoding(crypto, encoded);
  if (seq <= t.recvSeq) {
    if (!inMissing(t.missing, seq)) {
      if (isFork(crypto, t.recent.hashOf(seq), hash)) throw forkError();
      return { deliver: [], duplicate: true, ...none, next: t };
    }
    const next = { ...t, missing: removeFromMissing(t.missing, seq), recent: t.recent.with(seq, hash) };
    return { deliver: [content], duplicate: false, ...none, next };
  }
  const held = t.pending.find((p) => p.content.seq === seq);
  if (held !== undefined) {
    if (isFork(crypto, transcriptHash(crypto, held.content), hash)) throw forkError();
    return { deliver: [], duplicate: true, ...none, next: t };
  }
  const pending = [...t.pending, { content, receivedAt: now }].sort((a, b) => a.content.seq - b.content.seq);
  const out: Content[] = [];
  if (seq === t.recvSeq + 1) {
    const brokenLinks: number[] = [];
    const next = drain(crypto, { ...t, pending }, { content, hash }, out, brokenLinks);
    return { deliver: out, duplicate: false, gaps: [], brokenLinks, next };
  }
  const overflow =
    pending.length > TRANSCRIPT_MAX_PENDING ||
    pendingBytes(pending) > TRANSCRIPT_MAX_PENDING_BYTES ||
    seq - t.recvSeq > TRANSCRIPT_MAX_PENDING + 1;
  if (!overflow) return { deliver: [], duplicate: false, ...none, next: { ...t, pending } };
  const released = releaseAcross(crypto, { ...t, pending }, out, now);
  return { deliver: out, duplicate: false, gaps: released.gaps, brokenLinks: released.brokenLinks, next: released.next };
}

/** Declares the holes gaps and releases the buffer once its oldest entry waited `maxWaitMs`. */
export function releaseStalled(
  crypto: Crypto,
  current: TranscriptState,
  now: number,
  maxWaitMs: number = TRANSCRIPT_MAX_WAIT_MS,
): Omit<AcceptResult, 'duplicate'> {
  const t = expireGaps(current, now);
  const oldest = Math.min(...t.pending.map((p) => p.receivedAt));
  if (t.pending.length === 0 || now - oldest < maxWaitMs) return { deliver: [], gaps: [], brokenLinks: [], next: t };
  const out: Content[] = [];
  const released = releaseAcross(crypto, t, out, now);
  return { deliver: out, gaps: released.gaps, brokenLinks: released.brokenLinks, next: released.next };
}

/**
 * The peer says its transcript now stands at `at` (a reset from a daemon restored from a backup;
 * authenticated: it decrypted under the peer's session). When we have released more of its messages
 * than that, or another message at that seq, its next messages would reuse seqs we hold for other
 * content (a fork, TranscriptBroken for good): the receive side is rebased on `at` instead — held-back
 * messages are released first (across their holes), then recvSeq/recvHash become `at`, and the gaps
 * and recent hashes of the old line are forgotten. When we are behind `at` (or at it with the same
 * hash), nothing changes: the peer re-sends what we lack and the normal rules apply. Only the peer's
 * own line is affected: it could fork it anyway; the relay cannot produce a rebase.
 */
export function rebaseReceive(
  crypto: Crypto,
  current: TranscriptState,
  at: { readonly seq: number; readonly hash: Uint8Array },
  now: number,
): { deliver: readonly Content[]; gaps: readonly SeqRange[]; rebased: boolean; next: TranscriptState } {
  const behind = current.recvSeq < at.seq || (current.recvSeq === at.seq && crypto.equal(current.recvHash, at.hash));
  if (behind) return { deliver: [], gaps: [], rebased: false, next: current };
  const out: Content[] = [];
  const released = current.pending.length === 0 ? { next: current, gaps: [] } : releaseAcross(crypto, current, out, now);
  return {
    deliver: out,
    gaps: released.gaps,
    rebased: true,
    next: { ...released.next, recvSeq: at.seq, recvHash: at.hash.slice(), pending: [], missing: [], recent: RecentHashes.EMPTY },
  };
}

export function writeTranscript(w: Writer, t: TranscriptState): void {
  w.u64(t.sendSeq).fixed(t.sendHash).u64(t.recvSeq).fixed(t.recvHash);
  w.u8(t.missing.length);
  for (const m of t.missing) w.u64(m.from).u64(m.to).u64(m.declaredAt);
  t.recent.write(w);
  w.u16(t.pending.length);
  for (const p of t.pending) w.u64(p.receivedAt).bytes32(encodeContent(p.content));
}

export function readTranscript(r: Reader): TranscriptState {
  const sendSeq = r.u64();
  const sendHash = r.fixed(TRANSCRIPT_HASH_BYTES);
  const recvSeq = r.u64();
  const recvHash = r.fixed(TRANSCRIPT_HASH_BYTES);
  const missingCount = r.u8();
  if (missingCount > TRANSCRIPT_MAX_MISSING_RANGES) throw new DecodeError('transcript: too many gaps');
  const missing: MissingRange[] = [];
  let floor = 0;
  for (let i = 0; i < missingCount; i++) {
    const from = r.u64();
    const to = r.u64();
    const declaredAt = r.u64();
    if (from <= floor || to < from || to > recvSeq) throw new DecodeError('transcript: bad gap');
    missing.push({ from, to, declaredAt });
    floor = to;
  }
  const recent = RecentHashes.read(r, recvSeq);
  const pendingCount = r.u16();
  if (pendingCount > TRANSCRIPT_MAX_PENDING) throw new DecodeError('transcript: too many held-back messages');
  const pending: PendingMessage[] = [];
  let last = recvSeq;
  for (let i = 0; i < pendingCount; i++) {
    const receivedAt = r.u64();
    const content = decodeContent(r.bytes32(MAX_BODY_BYTES));
    if (!isSequenced(content) || content.seq <= last) throw new DecodeError('transcript: bad held-back message');
    pending.push({ content, receivedAt });
    last = content.seq;
  }
  return { sendSeq, sendHash, recvSeq, recvHash, pending, missing, recent };
}

/** For tests and tools: a reader over a standalone transcript encoding. */
export function decodeTranscript(bytes: Uint8Array): TranscriptState {
  const r = new Reader(bytes, 'transcript');
  const t = readTranscript(r);
  r.end();
  return t;
}
