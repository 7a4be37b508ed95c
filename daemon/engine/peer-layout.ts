/**
 * How a peer record (core/session.ts PeerRecord) is laid out in the store since schema v2, and the
 * diff that writes a new version of it. A message changes the active session's ratchet and the
 * transcript; it must not rewrite what the record holds besides (up to 40 archived sessions, 2,000
 * skipped keys per session, 8 MiB of held-back bodies), so those live in records of their own:
 *
 *   peer        key userId                          the head: everything else (below), rewritten per write
 *   peerSession key P!no                            an archived session, without its skipped keys
 *   peerSkipped key P!no!chain!chunk                up to SKIPPED_CHUNK_KEYS skipped keys of one chain
 *                                                   of session `no` (those with N in one 64-aligned block)
 *   peerHeld    key P!seq                           one held-back message (transcript pending)
 *
 * P is the peer's parts id: 16 random bytes (hex) in its head, so the keys of the parts tell nothing
 * of who the peer is while the parts of one peer still iterate together. `no` numbers a session
 * within the peer, `chain` a skipped chain (both 8 hex digits, given in creation order, so chains
 * iterate oldest first), `chunk` = N >> 6, seq 16 digits: every list comes back in its order.
 * A write puts only the parts whose content changed — objects of the immutable record are compared
 * by identity, so an untouched archived session, chain block or held message costs nothing — and
 * deletes the parts that went. The head lists what the parts must hold (archived session numbers,
 * skipped keys per session, held-back count); a load that finds anything else is CorruptRecord.
 *
 * Head (v2): u8 2 ‖ parts id 16 ‖ u32 next session no ‖ u32 next chain no ‖ peerUserId (u16 ‖ ASCII)
 *   ‖ identity key 32 ‖ maxEpoch u64 ‖ peerBundleVersion u32 ‖ hasActive u8 ‖ [u32 no ‖ session]
 *   ‖ u8 archived count ‖ u32 no × count ‖ u8 sessions with skipped keys ‖ (u32 no ‖ u16 keys) × n
 *   ‖ u16 held-back count ‖ transcript without held-back messages (core/transcript.ts)
 * session = the core's session encoding with an empty skipped-key store.
 * peerSession: u8 1 ‖ session.   peerHeld: u8 1 ‖ receivedAt u64 ‖ u32 length ‖ content.
 * peerSkipped: u8 1 ‖ peerUserId ‖ chain dhStep u32 ‖ chain header key 32 ‖ u16 count
 *   ‖ (N u32 ‖ skippedAt u64 ‖ MK 32) × count   (the user id lets the expiry index find the peer).
 */
import { Reader, Writer, fromHex, toHex } from '../../core/bytes.ts';
import { decodeContent, encodeContent, isSequenced } from '../../core/content.ts';
import { DecodeError } from '../../core/errors.ts';
import { MAX_DESCRIPTOR_BYTES } from '../../core/file/descriptor.ts';
import { MAX_ARCHIVED_SESSIONS, MAX_BODY_BYTES, MAX_SKIPPED_KEYS_PER_SESSION } from '../../core/limits.ts';
import { peerRecord, readSession, writeSession, type PeerRecord, type Session } from '../../core/session.ts';
import { EMPTY_STORE, type SkippedChain, type SkippedKey, type SkippedStore } from '../../core/skipped-keys.ts';
import { readTranscript, TRANSCRIPT_MAX_PENDING, writeTranscript, type PendingMessage } from '../../core/transcript.ts';
import { parseUserId, type UserId } from '../../core/user-id.ts';
import { counterKey } from '../store/kinds.ts';
import type { RecordKind } from '../store/kinds.ts';

const HEAD_VERSION = 2;
const PART_VERSION = 1;
const PARTS_ID_BYTES = 16;
/** Skipped keys per peerSkipped record at most: consuming one key rewrites at most this many. */
export const SKIPPED_CHUNK_KEYS = 64;
const CHUNK_SHIFT = 6;
const SKIPPED_KEY_BYTES = 4 + 8 + 32;

/** Written skipped keys of one session: the store object as written and its blocks by part key. */
interface WrittenSkipped {
  readonly store: SkippedStore;
  readonly chunks: ReadonlyMap<string, readonly SkippedKey[]>;
  /** Chain header key (by identity: the core keeps the array while the chain lives) → chain number. */
  readonly chains: ReadonlyMap<Uint8Array, number>;
  readonly count: number;
  readonly bytes: number;
}

/** What the store holds for a peer, as of its last load or write (the base of the next diff). */
export interface PeerLayout {
  readonly partsId: string;
  readonly nextSessionNo: number;
  readonly nextChainNo: number;
  /** Session id (the array, by identity: sessions derived from one keep it) → its number, for every session of the record. */
  readonly sessionNos: ReadonlyMap<Uint8Array, number>;
  /** The record's archived list and its numbers as written (unchanged list: nothing to compare). */
  readonly archivedList: readonly Session[];
  readonly archivedNos: readonly number[];
  readonly archivedBytes: number;
  /** The transcript's held-back list as written. */
  readonly pendingList: readonly PendingMessage[];
  readonly heldBytes: number;
  /** Archived session parts: number → the session as written, and its encoded size. */
  readonly archived: ReadonlyMap<number, { readonly session: Session; readonly bytes: number }>;
  readonly skipped: ReadonlyMap<number, WrittenSkipped>;
  /** Held-back messages by seq, as written. */
  readonly held: ReadonlyMap<number, PendingMessage>;
  /** Encoded bytes of the head and every part (the peer cache's budget counts these). */
  readonly bytes: number;
}

export interface PartSink {
  put(kind: RecordKind, key: string, value: Uint8Array): unknown;
  del(kind: RecordKind, key: string): unknown;
}

const hex8 = (n: number): string => n.toString(16).padStart(8, '0');
const sessionKey = (partsId: string, no: number): string => `${partsId}!${hex8(no)}`;
const chunkKey = (partsId: string, no: number, chain: number, chunk: number): string => `${partsId}!${hex8(no)}!${hex8(chain)}!${hex8(chunk)}`;
const heldKey = (partsId: string, seq: number): string => `${partsId}!${counterKey(seq)}`;

export function newLayout(partsId: Uint8Array): PeerLayout {
  if (partsId.length !== PARTS_ID_BYTES) throw new RangeError('parts id: 16 bytes');
  return { partsId: toHex(partsId), nextSessionNo: 1, nextChainNo: 1, sessionNos: new Map(), archivedList: [], archivedNos: [], archivedBytes: 0, pendingList: [], heldBytes: 0, archived: new Map(), skipped: new Map(), held: new Map(), bytes: 0 };
}

const stripped = (s: Session): Session => (s.ratchet.skipped.length === 0 ? s : { ...s, ratchet: s.ratchet.with({ skipped: EMPTY_STORE }) });

function encodeArchived(s: Session): Uint8Array {
  const w = new Writer().u8(PART_VERSION);
  writeSession(w, stripped(s));
  return w.finish();
}

function encodeChunk(userId: UserId, chain: SkippedChain, keys: readonly SkippedKey[]): Uint8Array {
  const w = new Writer().u8(PART_VERSION).string16(userId).u32(chain.dhStep).fixed(chain.headerKey).u16(keys.length);
  for (const k of keys) w.u32(k.n).u64(k.at).fixed(k.mk);
  return w.finish();
}

/** What a held-back message (or file descriptor) counts for in the peer cache's budget. */
function heldPartBytes(p: PendingMessage): number {
  return 64 + (p.content.kind === 'message' ? p.content.body.length : MAX_DESCRIPTOR_BYTES);
}

function encodeHeld(p: PendingMessage): Uint8Array {
  return new Writer().u8(PART_VERSION).u64(p.receivedAt).bytes32(encodeContent(p.content)).finish();
}

/** The blocks of one session's skipped keys, by part key (chain numbers given to new chains). */
function chunksOf(
  partsId: string,
  no: number,
  store: SkippedStore,
  known: ReadonlyMap<Uint8Array, number> | undefined,
  chains: Map<Uint8Array, number>,
  nextChain: () => number,
): Map<string, { chain: SkippedChain; keys: SkippedKey[] }> {
  const out = new Map<string, { chain: SkippedChain; keys: SkippedKey[] }>();
  for (const chain of store) {
    const chainNo = known?.get(chain.headerKey) ?? nextChain();
    chains.set(chain.headerKey, chainNo);
    for (const k of chain.keys) {
      const key = chunkKey(partsId, no, chainNo, k.n >>> CHUNK_SHIFT);
      let block = out.get(key);
      if (block === undefined) {
        block = { chain, keys: [] };
        out.set(key, block);
      }
      block.keys.push(k);
    }
  }
  return out;
}

const sameKeys = (a: readonly SkippedKey[] | undefined, b: readonly SkippedKey[]): boolean =>
  a !== undefined && a.length === b.length && a.every((k, i) => k === b[i]);

/**
 * Adds to `sink` the ops that turn what `layout` says is stored into `next` (the head always, the
 * parts that changed); returns the layout after them.
 */
export function writePeerRecord(sink: PartSink, userId: UserId, layout: PeerLayout, next: PeerRecord): PeerLayout {
  const { partsId } = layout;
  let nextSessionNo = layout.nextSessionNo;
  let nextChainNo = layout.nextChainNo;
  // The usual write (a message on the active session): the same sessions, the same archived list.
  const sameSessions =
    next.archived === layout.archivedList &&
    layout.sessionNos.size === next.archived.length + (next.active === null ? 0 : 1) &&
    (next.active === null || layout.sessionNos.has(next.active.id));
  let sessionNos = layout.sessionNos;
  let activeNo: number;
  let archivedNos = layout.archivedNos;
  let archived = layout.archived;
  let archivedBytes = layout.archivedBytes;
  if (sameSessions) {
    activeNo = next.active === null ? 0 : layout.sessionNos.get(next.active.id)!;
  } else {
    const numbers = new Map<Uint8Array, number>();
    const numberOf = (s: Session): number => {
      let no = numbers.get(s.id) ?? layout.sessionNos.get(s.id);
      if (no === undefined) no = nextSessionNo++;
      numbers.set(s.id, no);
      return no;
    };
    activeNo = next.active === null ? 0 : numberOf(next.active);
    archivedNos = next.archived.map(numberOf);
    sessionNos = numbers;
    const parts = new Map<number, { session: Session; bytes: number }>();
    archivedBytes = 0;
    next.archived.forEach((s, i) => {
      const no = archivedNos[i]!;
      const before = layout.archived.get(no);
      if (before !== undefined && before.session === s) {
        parts.set(no, before);
      } else {
        const value = encodeArchived(s);
        sink.put('peerSession', sessionKey(partsId, no), value);
        parts.set(no, { session: s, bytes: value.length });
      }
      archivedBytes += parts.get(no)!.bytes;
    });
    for (const no of layout.archived.keys()) if (!parts.has(no)) sink.del('peerSession', sessionKey(partsId, no));
    archived = parts;
  }
  let bytes = archivedBytes;

  const skipped = new Map<number, WrittenSkipped>();
  const sessions: Array<[number, Session]> = next.archived.map((s, i) => [archivedNos[i]!, s]);
  if (next.active !== null) sessions.unshift([activeNo, next.active]);
  for (const [no, s] of sessions) {
    const store = s.ratchet.skipped;
    const before = layout.skipped.get(no);
    if (before !== undefined && before.store === store) {
      skipped.set(no, before);
      bytes += before.bytes;
      continue;
    }
    const chains = new Map<Uint8Array, number>();
    const blocks = chunksOf(partsId, no, store, before?.chains, chains, () => nextChainNo++);
    const chunks = new Map<string, readonly SkippedKey[]>();
    let count = 0;
    let size = 0;
    for (const [key, block] of blocks) {
      if (!sameKeys(before?.chunks.get(key), block.keys)) sink.put('peerSkipped', key, encodeChunk(userId, block.chain, block.keys));
      chunks.set(key, block.keys);
      count += block.keys.length;
      size += 48 + userId.length + SKIPPED_KEY_BYTES * block.keys.length;
    }
    if (before !== undefined) for (const key of before.chunks.keys()) if (!chunks.has(key)) sink.del('peerSkipped', key);
    if (count > 0) skipped.set(no, { store, chunks, chains, count, bytes: size });
    bytes += size;
  }
  for (const [no, before] of layout.skipped) {
    if (skipped.has(no) || sessions.some(([n]) => n === no)) continue;
    for (const key of before.chunks.keys()) sink.del('peerSkipped', key);
  }

  const pendingList = next.transcript.pending;
  let held = layout.held;
  let heldBytes = layout.heldBytes;
  if (pendingList !== layout.pendingList) {
    held = new Map<number, PendingMessage>();
    heldBytes = 0;
    for (const p of pendingList) {
      const seq = p.content.seq;
      (held as Map<number, PendingMessage>).set(seq, p);
      heldBytes += heldPartBytes(p);
      if (layout.held.get(seq) !== p) sink.put('peerHeld', heldKey(partsId, seq), encodeHeld(p));
    }
    for (const seq of layout.held.keys()) if (!held.has(seq)) sink.del('peerHeld', heldKey(partsId, seq));
  }
  bytes += heldBytes;

  const skippedCounts = new Map<number, number>();
  for (const [no, s] of skipped) skippedCounts.set(no, s.count);
  const head = encodeHead({ partsId, nextSessionNo, nextChainNo, record: next, activeNo, archivedNos, skippedCounts, heldCount: held.size });
  sink.put('peer', userId, head);
  return { partsId, nextSessionNo, nextChainNo, sessionNos, archivedList: next.archived, archivedNos, archivedBytes, pendingList, heldBytes, archived, skipped, held, bytes: bytes + head.length };
}

interface HeadFields {
  readonly partsId: string;
  readonly nextSessionNo: number;
  readonly nextChainNo: number;
  /** Its archived sessions and held-back messages are not read (they are parts). */
  readonly record: PeerRecord;
  readonly activeNo: number;
  readonly archivedNos: readonly number[];
  readonly skippedCounts: ReadonlyMap<number, number>;
  readonly heldCount: number;
}

function encodeHead(f: HeadFields): Uint8Array {
  const { record } = f;
  const w = new Writer()
    .u8(HEAD_VERSION)
    .fixed(fromHex(f.partsId))
    .u32(f.nextSessionNo)
    .u32(f.nextChainNo)
    .string16(record.peerUserId)
    .fixed(record.peerIdentityKey)
    .u64(record.maxEpoch)
    .u32(record.peerBundleVersion)
    .bool(record.active !== null);
  if (record.active !== null) writeSession(w.u32(f.activeNo), stripped(record.active));
  w.u8(f.archivedNos.length);
  for (const no of f.archivedNos) w.u32(no);
  w.u8(f.skippedCounts.size);
  for (const [no, n] of f.skippedCounts) w.u32(no).u16(n);
  w.u16(f.heldCount);
  writeTranscript(w, { ...record.transcript, pending: [] });
  return w.finish();
}

/** The ops that delete everything `layout` says is stored for the peer. */
export function deletePeerRecord(sink: PartSink, userId: UserId, layout: PeerLayout): void {
  for (const no of layout.archived.keys()) sink.del('peerSession', sessionKey(layout.partsId, no));
  for (const s of layout.skipped.values()) for (const key of s.chunks.keys()) sink.del('peerSkipped', key);
  for (const seq of layout.held.keys()) sink.del('peerHeld', heldKey(layout.partsId, seq));
  sink.del('peer', userId);
}

// ---- reading -------------------------------------------------------------------------------

export interface PeerHead {
  readonly partsId: string;
  readonly hasArchived: boolean;
  readonly hasSkipped: boolean;
  readonly hasHeld: boolean;
  /** The active session as the head holds it (without its skipped keys, which are parts). */
  readonly active: Session | null;
  /** For tests: this head with another active session in its place (a session with no skipped keys). */
  withActive(s: Session): Uint8Array;
  /** Assembles the record from the parts (each list: [key, value] in key order). */
  assemble(parts: StoredParts): { record: PeerRecord; layout: PeerLayout };
}

export interface StoredParts {
  readonly sessions: ReadonlyArray<readonly [string, Uint8Array]>;
  readonly skipped: ReadonlyArray<readonly [string, Uint8Array]>;
  readonly held: ReadonlyArray<readonly [string, Uint8Array]>;
}

/** Decodes a head (DecodeError if it is not one); the parts are read by the caller. */
export function decodePeerHead(bytes: Uint8Array): PeerHead {
  const r = new Reader(bytes, 'peer record head');
  if (r.u8() !== HEAD_VERSION) throw new DecodeError('peer record head: unsupported version', 'UnsupportedVersion');
  const partsId = toHex(r.fixed(PARTS_ID_BYTES));
  const nextSessionNo = r.u32();
  const nextChainNo = r.u32();
  const peerUserId = parseUserId(r.string16(64));
  const peerIdentityKey = r.fixed(32);
  const maxEpoch = r.u64();
  const peerBundleVersion = r.u32();
  let activeNo = 0;
  let active: Session | null = null;
  if (r.bool()) {
    activeNo = r.u32();
    active = readSession(r);
  }
  const archivedCount = r.u8();
  if (archivedCount > MAX_ARCHIVED_SESSIONS) throw new DecodeError('peer record head: too many archived sessions');
  const archivedNos: number[] = [];
  for (let i = 0; i < archivedCount; i++) archivedNos.push(r.u32());
  const skippedCount = r.u8();
  const skippedCounts = new Map<number, number>();
  for (let i = 0; i < skippedCount; i++) skippedCounts.set(r.u32(), r.u16());
  const heldCount = r.u16();
  if (heldCount > TRANSCRIPT_MAX_PENDING) throw new DecodeError('peer record head: too many held-back messages');
  const transcript = readTranscript(r);
  r.end();
  const all = active === null ? archivedNos : [activeNo, ...archivedNos];
  if (new Set(all).size !== all.length || all.some((no) => no === 0 || no >= nextSessionNo)) throw new DecodeError('peer record head: bad session numbers');
  for (const [no, n] of skippedCounts) if (!all.includes(no) || n === 0 || n > MAX_SKIPPED_KEYS_PER_SESSION) throw new DecodeError('peer record head: bad skipped-key count');
  if (transcript.pending.length !== 0) throw new DecodeError('peer record head: held-back messages inline');

  return {
    partsId,
    hasArchived: archivedCount > 0,
    hasSkipped: skippedCount > 0,
    hasHeld: heldCount > 0,
    active,
    withActive(s) {
      const record = peerRecord({ peerUserId, peerIdentityKey, maxEpoch, peerBundleVersion, active: s, archived: [], transcript });
      return encodeHead({ partsId, nextSessionNo, nextChainNo, record, activeNo, archivedNos, skippedCounts, heldCount });
    },
    assemble(parts) {
      const prefix = partsId + '!';
      // archived sessions
      const stored = new Map<number, { session: Session; bytes: number }>();
      for (const [key, value] of parts.sessions) {
        const no = parseNo(key, prefix);
        const pr = new Reader(value, 'archived session');
        if (pr.u8() !== PART_VERSION) throw new DecodeError('archived session: unsupported version', 'UnsupportedVersion');
        const s = readSession(pr);
        pr.end();
        stored.set(no, { session: s, bytes: value.length });
      }
      // skipped keys: per session, chains in number order, keys in N order
      const chains = new Map<number, Map<number, { chain: { headerKey: Uint8Array; dhStep: number }; keys: SkippedKey[] }>>();
      const chunks = new Map<number, Map<string, SkippedKey[]>>();
      const sizes = new Map<number, number>();
      for (const [key, value] of parts.skipped) {
        const [no, chainNo] = parseChunkKey(key, prefix);
        if (chainNo >= nextChainNo) throw new DecodeError('skipped keys: bad chain number');
        const cr = new Reader(value, 'skipped keys');
        if (cr.u8() !== PART_VERSION) throw new DecodeError('skipped keys: unsupported version', 'UnsupportedVersion');
        if (cr.string16(64) !== peerUserId) throw new DecodeError('skipped keys of another peer');
        const dhStep = cr.u32();
        const headerKey = cr.fixed(32);
        const count = cr.u16();
        if (count === 0 || count > SKIPPED_CHUNK_KEYS) throw new DecodeError('skipped keys: bad count');
        const keys: SkippedKey[] = [];
        for (let i = 0; i < count; i++) keys.push({ n: cr.u32(), at: cr.u64(), mk: cr.fixed(32) });
        cr.end();
        let perSession = chains.get(no);
        if (perSession === undefined) chains.set(no, (perSession = new Map()));
        let c = perSession.get(chainNo);
        if (c === undefined) perSession.set(chainNo, (c = { chain: { headerKey, dhStep }, keys: [] }));
        else if (c.chain.dhStep !== dhStep || !equalBytes(c.chain.headerKey, headerKey)) throw new DecodeError('skipped keys: chain differs between blocks');
        const last = c.keys[c.keys.length - 1];
        if (last !== undefined && keys[0]!.n <= last.n) throw new DecodeError('skipped keys: out of order');
        for (let i = 1; i < keys.length; i++) if (keys[i]!.n <= keys[i - 1]!.n) throw new DecodeError('skipped keys: out of order');
        c.keys.push(...keys);
        let perChunks = chunks.get(no);
        if (perChunks === undefined) chunks.set(no, (perChunks = new Map()));
        perChunks.set(key, keys);
        sizes.set(no, (sizes.get(no) ?? 0) + 48 + peerUserId.length + SKIPPED_KEY_BYTES * keys.length);
      }
      const skipped = new Map<number, WrittenSkipped>();
      const storeOf = (no: number): SkippedStore => {
        const perSession = chains.get(no);
        if (perSession === undefined) {
          if (skippedCounts.has(no)) throw new DecodeError('skipped keys missing');
          return EMPTY_STORE;
        }
        const chainNumbers = new Map<Uint8Array, number>();
        const store: SkippedChain[] = [...perSession.entries()]
          .sort((a, b) => a[0] - b[0])
          .map(([chainNo, c]) => {
            chainNumbers.set(c.chain.headerKey, chainNo);
            return { headerKey: c.chain.headerKey, dhStep: c.chain.dhStep, keys: c.keys };
          });
        const count = store.reduce((n, c) => n + c.keys.length, 0);
        if (skippedCounts.get(no) !== count) throw new DecodeError('skipped keys: count differs from the head');
        skipped.set(no, { store, chunks: chunks.get(no)!, chains: chainNumbers, count, bytes: sizes.get(no)! });
        return store;
      };
      for (const no of chains.keys()) if (!all.includes(no)) throw new DecodeError('skipped keys of an unknown session');
      const withSkipped = (s: Session, no: number): Session => {
        const store = storeOf(no);
        return store.length === 0 ? s : { ...s, ratchet: s.ratchet.with({ skipped: store }) };
      };
      const fullActive = active === null ? null : withSkipped(active, activeNo);
      const archivedMap = new Map<number, { session: Session; bytes: number }>();
      const archived = archivedNos.map((no) => {
        const part = stored.get(no);
        if (part === undefined) throw new DecodeError('archived session missing');
        const s = withSkipped(part.session, no);
        archivedMap.set(no, { session: s, bytes: part.bytes });
        return s;
      });
      if (stored.size !== archivedNos.length) throw new DecodeError('archived session not listed in the head');
      // held-back messages
      const held = new Map<number, PendingMessage>();
      const pending: PendingMessage[] = [];
      let last = transcript.recvSeq;
      for (const [key, value] of parts.held) {
        const hr = new Reader(value, 'held-back message');
        if (hr.u8() !== PART_VERSION) throw new DecodeError('held-back message: unsupported version', 'UnsupportedVersion');
        const receivedAt = hr.u64();
        const content = decodeContent(hr.bytes32(MAX_BODY_BYTES));
        hr.end();
        if (!isSequenced(content) || content.seq <= last || key !== heldKey(partsId, content.seq)) throw new DecodeError('held-back message: bad seq');
        const p: PendingMessage = { content, receivedAt };
        pending.push(p);
        held.set(content.seq, p);
        last = content.seq;
      }
      if (pending.length !== heldCount) throw new DecodeError('held-back messages: count differs from the head');

      const sessionNos = new Map<Uint8Array, number>();
      const ids = new Set<string>();
      if (fullActive !== null) {
        sessionNos.set(fullActive.id, activeNo);
        ids.add(toHex(fullActive.id));
      }
      archived.forEach((s, i) => {
        sessionNos.set(s.id, archivedNos[i]!);
        ids.add(toHex(s.id));
      });
      if (ids.size !== all.length) throw new DecodeError('peer record: a session twice');
      const record = peerRecord({ peerUserId, peerIdentityKey, maxEpoch, peerBundleVersion, active: fullActive, archived, transcript: { ...transcript, pending } });
      let archivedBytes = 0;
      for (const a of archivedMap.values()) archivedBytes += a.bytes;
      let heldBytes = 0;
      for (const p of pending) heldBytes += heldPartBytes(p);
      let bytesTotal = bytes.length + archivedBytes + heldBytes;
      for (const s of skipped.values()) bytesTotal += s.bytes;
      const layout: PeerLayout = {
        partsId,
        nextSessionNo,
        nextChainNo,
        sessionNos,
        archivedList: record.archived,
        archivedNos,
        archivedBytes,
        pendingList: record.transcript.pending,
        heldBytes,
        archived: archivedMap,
        skipped,
        held,
        bytes: bytesTotal,
      };
      return { record, layout };
    },
  };
}

function parseNo(key: string, prefix: string): number {
  if (!key.startsWith(prefix) || !/^[0-9a-f]{8}$/.test(key.slice(prefix.length))) throw new DecodeError('peer part: bad key');
  return parseInt(key.slice(prefix.length), 16);
}

function parseChunkKey(key: string, prefix: string): [number, number] {
  const m = key.startsWith(prefix) ? /^([0-9a-f]{8})!([0-9a-f]{8})!([0-9a-f]{8})$/.exec(key.slice(prefix.length)) : null;
  if (m === null) throw new DecodeError('skipped keys: bad key');
  return [parseInt(m[1]!, 16), parseInt(m[2]!, 16)];
}

function equalBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/** The user id a peerSkipped record belongs to and when its oldest key was skipped (the expiry index). */
export function skippedChunkSummary(value: Uint8Array): { userId: UserId; oldestAt: number } {
  const r = new Reader(value, 'skipped keys');
  if (r.u8() !== PART_VERSION) throw new DecodeError('skipped keys: unsupported version', 'UnsupportedVersion');
  const userId = parseUserId(r.string16(64));
  r.u32();
  r.fixed(32);
  const count = r.u16();
  let oldestAt = Infinity;
  for (let i = 0; i < count; i++) {
    r.u32();
    oldestAt = Math.min(oldestAt, r.u64());
    r.fixed(32);
  }
  return { userId, oldestAt };
}
