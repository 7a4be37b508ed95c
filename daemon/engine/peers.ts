/**
 * Peer records (the core's per-peer sessions and transcript) and the routing-tag index.
 *
 * The index maps every routing tag of every receiving header key of every session of a peer to the
 * peer's user id (store kind `routingTag`), so an inbound session envelope finds its peer in one
 * lookup whatever the number of contacts. It is rewritten, as a diff, in the same
 * batch as every peer-record write. Tags are computed per Session object and memoised: sessions are
 * immutable, so unchanged archived sessions cost nothing on later writes. The whole index is also
 * held in memory (loadTagIndex at start, then every staged write): a hub hearing from 10,000 peers,
 * each rarely, routes every envelope without a store read (a blinded-key HMAC, a LevelDB get and an
 * unseal each), and an envelope with an unknown tag — anyone can send one — costs no read either.
 * About 100 bytes per tag (a peer holds 2 to 7 per session).
 *
 * The record is stored split (peer-layout.ts): a small head rewritten per write, and archived
 * sessions, skipped-key blocks and held-back messages in records of their own, written only when
 * they change. An LRU keeps recently used records decoded, bounded by the bytes they hold (their
 * encoded size plus a per-peer allowance for the decoded objects), not by a count: a peer holding
 * thousands of skipped keys weighs what it holds. A record that does not decode throws
 * CorruptRecord: that peer fails closed, others are unaffected.
 *
 * Admission: a peer the cache has not seen lately (not among the last GHOST_PEERS peers it let go)
 * is cached only on probation: it stays while a write of it is in flight (the store holds an older
 * record until then) or until it is used again (then it is admitted), and goes once its write is
 * durable. A hub hearing from 10,000 peers, each rarely, would otherwise fill the LRU with records
 * used once, each kept just long enough to be promoted to V8's old generation and die there: that
 * churn cost more CPU (major GCs) and peak RSS than its hits (a few percent) saved. A peer used
 * again while its write is in flight (a burst) or soon after (a conversation) is admitted, and then
 * cached as before.
 *
 * Skipped-key due index: for every peer whose sessions hold skipped message keys, the time the
 * oldest of them expires (SKIPPED_KEY_MAX_AGE_MS after it was skipped). Filled from the disk at start
 * (loadSkippedKeyIndex, from the skipped-key blocks alone) and kept current by every load and write, so the expiry sweep
 * (skipped-key-sweep.ts) reads only the peers that have something to expire.
 */
import type { Logger } from 'pino';
import { toHex, utf8 } from '../../core/bytes.ts';
import type { Crypto } from '../../core/crypto.ts';
import { sessionRoutingTagViews, type PeerRecord, type Session } from '../../core/index.ts';
import { SKIPPED_KEY_MAX_AGE_MS, SKIPPED_KEY_MAX_DH_STEPS } from '../../core/limits.ts';
import type { SkippedStore } from '../../core/skipped-keys.ts';
import { parseUserId, type UserId } from '../../core/user-id.ts';
import type { RecordKind } from '../store/kinds.ts';
import { CorruptRecordError, type Store } from '../store/store.ts';
import { decodePeerHead, deletePeerRecord, newLayout, skippedChunkSummary, writePeerRecord, type PeerLayout, type StoredParts } from './peer-layout.ts';
import type { Transaction } from './transaction.ts';

/** A loaded record, what the store holds for it and the tags currently indexed (the base of the next diff). */
export interface PeerHandle {
  readonly userId: UserId;
  readonly record: PeerRecord | null;
  readonly tags: ReadonlySet<string>;
  /** Null when nothing is stored (the first write picks a parts id). */
  readonly layout: PeerLayout | null;
}

/** Bytes of decoded peer records the cache keeps (encoded size plus PEER_CACHE_OVERHEAD each). */
export const DEFAULT_PEER_CACHE_BYTES = 4 * 1024 * 1024;
/** What the cache charges a peer beyond its encoded bytes: the decoded objects, maps and tags. */
export const PEER_CACHE_OVERHEAD = 8192;

const PARTS_ID_BYTES = 16;
/**
 * Peers let go from probation that are remembered (ids only): one of them seen again is admitted.
 * About twice the records the default budget holds, so "lately" means within the last ~1,000
 * one-time peers: a conversation comes back within that, a hub's 10,000 rare senders mostly do not.
 */
export const GHOST_PEERS = 1024;

export class PeerStore {
  private readonly cache = new Map<UserId, PeerHandle>();
  private cachedBytes = 0;
  private readonly tagMemo = new WeakMap<Session, string[]>();
  /** Hex of a tag array; the arrays are shared by successive states while the header keys last. */
  private readonly hexMemo = new WeakMap<Uint8Array, string>();
  /** Every routing tag in the store → its peer (loadTagIndex, then kept current by every staged write). */
  private readonly tagIndex = new Map<string, UserId>();
  /** Peers with a write still in flight: never evicted (the disk holds an older record until then). */
  private readonly pinned = new Map<UserId, number>();
  /** Cached peers on probation (seen once lately): dropped once their write is durable, unless used again. */
  private readonly probation = new Set<UserId>();
  /** Peers recently let go from probation, oldest first (a Map as an ordered set). */
  private readonly ghosts = new Map<UserId, true>();
  /** Peer → when its oldest skipped key expires (only peers holding skipped keys). */
  private readonly skippedDue = new Map<UserId, number>();
  /** Earliest expiry of one session's skipped keys (Infinity: none), per immutable store. */
  private readonly dueMemo = new WeakMap<SkippedStore, number>();

  constructor(
    private readonly crypto: Crypto,
    private readonly store: Store,
    private readonly log: Logger,
    private readonly capacityBytes = DEFAULT_PEER_CACHE_BYTES,
  ) {}

  /** Peers cached now and the bytes the cache charges them (metrics, tests). */
  cacheUse(): { peers: number; bytes: number } {
    return { peers: this.cache.size, bytes: this.cachedBytes };
  }
  private tagsOf(record: PeerRecord | null): Set<string> {
    const out = new Set<string>();
    if (record === null) return out;
    const sessions = record.active === null ? record.archived : [record.active, ...record.archived];
    for (const s of sessions) {
      let tags = this.tagMemo.get(s);
      if (tags === undefined) {
        tags = sessionRoutingTagViews(s).map((view) => this.hexOf(view));
        this.tagMemo.set(s, tags);
      }
      for (const t of tags) out.add(t);
    }
    return out;
  }

  private hexOf(tag: Uint8Array): string {
    let hex = this.hexMemo.get(tag);
    if (hex === undefined) {
      hex = toHex(tag);
      this.hexMemo.set(tag, hex);
    }
    return hex;
  }

  private dueOfSkipped(skipped: SkippedStore, dhStep: number): number {
    let due = this.dueMemo.get(skipped);
    if (due === undefined) {
      due = Infinity;
      for (const chain of skipped) {
        // A chain this many DH steps old is dropped by the next encrypt/decrypt; due now if one is stored.
        if (dhStep - chain.dhStep >= SKIPPED_KEY_MAX_DH_STEPS) due = -Infinity;
        for (const k of chain.keys) due = Math.min(due, k.at + SKIPPED_KEY_MAX_AGE_MS + 1);
      }
      this.dueMemo.set(skipped, due);
    }
    return due;
  }

  /** When the record's oldest skipped key expires (Infinity: it holds none). */
  private skippedKeysDue(record: PeerRecord | null): number {
    if (record === null) return Infinity;
    let due = record.active === null ? Infinity : this.dueOfSkipped(record.active.ratchet.skipped, record.active.ratchet.dhStep);
    for (const s of record.archived) due = Math.min(due, this.dueOfSkipped(s.ratchet.skipped, s.ratchet.dhStep));
    return due;
  }

  private noteDue(userId: UserId, record: PeerRecord | null): void {
    const due = this.skippedKeysDue(record);
    if (due === Infinity) this.skippedDue.delete(userId);
    else this.skippedDue.set(userId, due);
  }

  /** Peers whose oldest skipped key has expired by `now` (the sweep loads and rewrites them). */
  skippedKeysDueBy(now: number): UserId[] {
    const out: UserId[] = [];
    for (const [userId, due] of this.skippedDue) if (due <= now) out.push(userId);
    return out;
  }

  /** Fills the skipped-key due index from the stored skipped-key blocks (once, at start). */
  async loadSkippedKeyIndex(): Promise<void> {
    for await (const r of this.store.iterate('peerSkipped')) {
      if (!r.ok) continue; // fails closed when that peer is loaded
      let summary;
      try {
        summary = skippedChunkSummary(r.value);
      } catch {
        continue;
      }
      if (this.cache.has(summary.userId)) continue;
      const due = summary.oldestAt + SKIPPED_KEY_MAX_AGE_MS + 1;
      this.skippedDue.set(summary.userId, Math.min(due, this.skippedDue.get(summary.userId) ?? Infinity));
    }
  }

  private static weight(h: PeerHandle): number {
    return PEER_CACHE_OVERHEAD + (h.layout?.bytes ?? 0);
  }

  /**
   * Caches a handle (most recent last). `access`: a load (a use) rather than the state a write
   * leaves, which keeps the standing the peer had: a second use admits a peer on probation.
   */
  private remember(h: PeerHandle, access: boolean): void {
    this.noteDue(h.userId, h.record);
    const previous = this.cache.get(h.userId);
    if (previous !== undefined) {
      this.cachedBytes -= PeerStore.weight(previous);
      if (access) this.probation.delete(h.userId);
    } else if (this.ghosts.delete(h.userId)) {
      // seen lately: admitted
    } else {
      this.probation.add(h.userId);
    }
    this.cache.delete(h.userId);
    this.cache.set(h.userId, h);
    this.cachedBytes += PeerStore.weight(h);
    if (this.cachedBytes <= this.capacityBytes) return;
    for (const oldest of this.cache.values()) {
      if (this.cachedBytes <= this.capacityBytes || oldest === h) break;
      if (this.pinned.has(oldest.userId)) continue;
      this.cache.delete(oldest.userId);
      this.cachedBytes -= PeerStore.weight(oldest);
      this.probation.delete(oldest.userId);
    }
  }

  /** A peer on probation whose writes are all durable leaves the cache (and joins the ghosts). */
  private release(userId: UserId): void {
    if (!this.probation.delete(userId)) return;
    const cached = this.cache.get(userId);
    if (cached !== undefined) {
      this.cache.delete(userId);
      this.cachedBytes -= PeerStore.weight(cached);
    }
    this.ghosts.set(userId, true);
    if (this.ghosts.size > GHOST_PEERS) this.ghosts.delete(this.ghosts.keys().next().value!);
  }

  private async readParts(kind: RecordKind, partsId: string): Promise<Array<readonly [string, Uint8Array]>> {
    const out: Array<readonly [string, Uint8Array]> = [];
    for await (const r of this.store.iterate(kind, { prefix: partsId + '!' })) {
      if (!r.ok) throw r.error;
      out.push([r.key, r.value]);
    }
    return out;
  }

  /** The peer's record (null if none). Call under the peer lock, then write with the handle. */
  async load(userId: UserId): Promise<PeerHandle> {
    const cached = this.cache.get(userId);
    if (cached !== undefined) {
      this.remember(cached, true);
      return cached;
    }
    const stored = await this.store.get('peer', userId);
    let record: PeerRecord | null = null;
    let layout: PeerLayout | null = null;
    if (stored !== undefined) {
      try {
        const head = decodePeerHead(stored);
        const parts: StoredParts = {
          sessions: head.hasArchived ? await this.readParts('peerSession', head.partsId) : [],
          skipped: head.hasSkipped ? await this.readParts('peerSkipped', head.partsId) : [],
          held: head.hasHeld ? await this.readParts('peerHeld', head.partsId) : [],
        };
        ({ record, layout } = head.assemble(parts));
      } catch (cause) {
        if (cause instanceof CorruptRecordError) throw cause;
        throw new CorruptRecordError('peer', 'peer record does not decode', { cause });
      }
      if (record.peerUserId !== userId) throw new CorruptRecordError('peer', 'peer record of another user');
    }
    const h: PeerHandle = { userId, record, tags: this.tagsOf(record), layout };
    this.remember(h, true);
    return h;
  }

  /** Adds the changed parts of the record and the tag-index diff to tx; the cache follows when it is staged. */
  write(tx: Transaction, base: PeerHandle, next: PeerRecord): void {
    const tags = this.tagsOf(next);
    const id = base.userId;
    const added: string[] = [];
    const removed: string[] = [];
    for (const t of tags) if (!base.tags.has(t)) added.push(t);
    for (const t of base.tags) if (!tags.has(t)) removed.push(t);
    if (added.length > 0) {
      const value = utf8.encode(id);
      for (const t of added) tx.put('routingTag', t, value);
    }
    for (const t of removed) tx.del('routingTag', t);
    const layout = writePeerRecord(tx, id, base.layout ?? newLayout(this.crypto.randomBytes(PARTS_ID_BYTES)), next);
    tx.onApply(() => {
      this.pinned.set(id, (this.pinned.get(id) ?? 0) + 1);
      for (const t of removed) this.unindex(t, id);
      for (const t of added) this.tagIndex.set(t, id);
      this.remember({ userId: id, record: next, tags, layout }, false);
    });
    tx.onDurable(() => {
      const n = (this.pinned.get(id) ?? 1) - 1;
      if (n > 0) {
        this.pinned.set(id, n);
      } else {
        this.pinned.delete(id);
        this.release(id);
      }
    });
  }

  /** Deletes the record, its parts and its tags (a changed identity was approved, an idle contact forgotten). */
  remove(tx: Transaction, base: PeerHandle): void {
    for (const t of base.tags) tx.del('routingTag', t);
    if (base.layout !== null) deletePeerRecord(tx, base.userId, base.layout);
    else tx.del('peer', base.userId);
    tx.onApply(() => {
      for (const t of base.tags) this.unindex(t, base.userId);
      const cached = this.cache.get(base.userId);
      if (cached !== undefined) this.cachedBytes -= PeerStore.weight(cached);
      this.cache.delete(base.userId);
      this.probation.delete(base.userId);
      this.skippedDue.delete(base.userId);
    });
  }

  /** Drops a tag from the in-memory index if it still names this peer. */
  private unindex(tag: string, userId: UserId): void {
    if (this.tagIndex.get(tag) === userId) this.tagIndex.delete(tag);
  }

  /**
   * Fills the in-memory routing index from the store (once, at start, before any envelope is
   * handled). A tag record that does not open is left out (logged): an envelope under that tag is
   * then dropped as unknown, as if the record were missing (its sender retransmits, and an outbox
   * stuck on it re-establishes the session, under new tags).
   */
  async loadTagIndex(): Promise<void> {
    const interned = new Map<string, UserId>();
    let corrupt = 0;
    for await (const r of this.store.iterate('routingTag')) {
      if (!r.ok) {
        corrupt += 1;
        continue;
      }
      let userId: UserId;
      try {
        const raw = utf8.decode(r.value);
        userId = interned.get(raw) ?? parseUserId(raw);
        interned.set(raw, userId);
      } catch {
        corrupt += 1;
        continue;
      }
      this.tagIndex.set(r.key, userId);
    }
    if (corrupt > 0) this.log.error({ records: corrupt }, 'routing tag records are corrupt; envelopes under those tags are dropped as unknown');
  }

  /** Routing tags indexed in memory (metrics, tests). */
  get indexedTags(): number {
    return this.tagIndex.size;
  }

  /** The peer a routing tag belongs to, if any (memory only: the whole index is held). */
  lookupTag(tag: Uint8Array): UserId | undefined {
    return this.tagIndex.get(toHex(tag));
  }
}
