/**
 * Everything that encrypts towards a peer:
 * Send, the session set-up it may need (bundle fetch → verifyBundle → startSession), and receipts.
 * Resets and re-sends (session-repair.ts) use the same session set-up.
 *
 * Each runs under the peer lock: load → core → ONE batch (peer record + tag index + outbox entry +
 * idempotency record (idempotency.ts) + new or touched contact) → publish once durable. Send
 * releases the lock when its batch is queued (transaction.ts); batches become durable in queue
 * order, so its envelopes still leave in the order they were encrypted. Receipts, resets and re-sends wait for durability in the lock.
 *
 * Nothing here awaits the relay while holding a peer lock: the relay's inbound handler may be
 * waiting for that lock while it holds the connection's (serial) packet pump, so a SUBACK or PUBACK
 * awaited inside the lock would never arrive. Bundles are fetched before taking the lock
 * (withSession), and publishes are started, not awaited.
 */
import type { DirectSendRequest } from './types.ts';
import { GROUP_CONTENT_TYPE } from './groups/group-pairwise.ts';
import { EngineError } from './errors.ts';
import { concat, toHex, utf8 } from '../../core/bytes.ts';
import { encodeContent } from '../../core/content.ts';
import {
  DecodeError,
  HandshakeError,
  checkBundleNotDowngraded,
  MAX_MESSAGE_BODY_BYTES,
  TrustError,
  encryptForPeer,
  hasUsableSession,
  lastSeenBundleVersion,
  receiptUpTo,
  startSession,
  verifyBundle,
  type PeerRecord,
  type VerifiedBundle,
} from '../../core/index.ts';
import type { UserId } from '../../core/user-id.ts';
import type { EngineContext } from './context.ts';
import { KeyedLock } from './keyed-lock.ts';
import type { PeerHandle } from './peers.ts';
import type { IdempotencyScope } from './idempotency.ts';
import type { ContactRecord } from './records.ts';
import { Transaction } from './transaction.ts';
import { PqPins } from './pq-pins.ts';
import { PerPeerInterval } from './per-peer-interval.ts';

export const DEFAULT_CONTENT_TYPE = 'text/plain';
/** Delay before asking again for a bundle the broker did not have (ms). */
const BUNDLE_REFETCH_DELAY_MS = 250;

export class Sender {
  private readonly idempotencyLocks = new KeyedLock();
  private readonly receiptTimers = new Map<UserId, NodeJS.Timeout>();
  /** When a receipt last left for each peer (bounded; paces scheduleReceipt). */
  private readonly receiptsSent: PerPeerInterval;
  private readonly background = new Set<Promise<void>>();
  private closed = false;
  /** Peers pinned to PQXDH (no downgrade). */
  readonly pqPins: PqPins;
  /** Bundles refused because a peer pinned to PQ published one without PQ prekeys. */
  downgradesRefused = 0;

  constructor(private readonly ctx: EngineContext) {
    this.pqPins = new PqPins(ctx.store);
    this.receiptsSent = new PerPeerInterval(ctx.timing.receiptIntervalMs);
  }

  // ---- Send ---------------------------------------------------------------------------------

  async send(req: DirectSendRequest): Promise<{ messageId: string }> {
    const { to } = req;
    if (to === this.ctx.identity.userId) throw new EngineError('InvalidArgument', 'cannot send a message to yourself');
    if (req.body.length > MAX_MESSAGE_BODY_BYTES) {
      throw new EngineError('InvalidArgument', `body too large (at most ${MAX_MESSAGE_BODY_BYTES} bytes)`);
    }
    const contentType = req.contentType === undefined || req.contentType === '' ? DEFAULT_CONTENT_TYPE : req.contentType;
    if (contentType === GROUP_CONTENT_TYPE) throw new EngineError('InvalidArgument', 'that content type is reserved for the daemon\'s group contents');
    return this.runIdempotent(req.idempotencyKey, req.replyTo, (scope) => this.sendNow(to, req.body, contentType, scope));
  }

  /** Runs a Send under its idempotency key's scope (group sends too: one table, one lock per key). */
  async runIdempotent<T>(idempotencyKey: string | undefined, replyTo: string | undefined, fn: (scope: IdempotencyScope | undefined) => Promise<T>): Promise<T> {
    const key = idempotencyKey === undefined || idempotencyKey === '' ? undefined : idempotencyKey;
    if (key === undefined) return fn(undefined);
    return this.idempotencyLocks.run(key, async () => {
      const scope = await this.ctx.idempotency.open(key, replyTo);
      try {
        return await fn(scope);
      } finally {
        this.ctx.idempotency.close(scope);
      }
    });
  }

  private async sendNow(to: UserId, body: Uint8Array, contentType: string, scope: IdempotencyScope | undefined): Promise<{ messageId: string }> {
    const { crypto, store, idempotency } = this.ctx;
    // What an idempotency key is bound to: the same key with another request is a conflict.
    const requestHash = scope === undefined ? undefined : crypto.sha256(concat(utf8.encode(to), Uint8Array.of(0), utf8.encode(contentType), Uint8Array.of(0), body));
    if (scope !== undefined && requestHash !== undefined) {
      const existing = await idempotency.find(scope);
      if (existing !== undefined) {
        if (existing.to === to && crypto.equal(existing.requestHash, requestHash)) return { messageId: toHex(existing.messageId) };
        throw new EngineError('IdempotencyConflict', 'this idempotency key was already used for another message');
      }
    }
    // Pipelined: the peer lock is held until the batch is queued, not until it is written, so the
    // next Send to this peer encrypts while this one is on its way to disk; the envelope leaves
    // only once its batch is durable, in encryption order (batches are written
    // and acknowledged in the order they were queued).
    const { messageId, seq, durable } = await this.withSession(to, false, async ({ handle, record, tx }) => {
      const { peers, outbox, identity, contacts } = this.ctx;
      const now = this.ctx.now();
      const { envelope, next, content } = encryptForPeer(crypto, identity, record, { kind: 'message', body, contentType }, now);
      peers.write(tx, handle, next);
      const seq = outbox.add(tx, {
        to,
        messageId: content.messageId,
        contentSeq: content.seq,
        content: encodeContent(content),
        createdAt: now,
        envelope,
      });
      contacts.touch(tx, to, now);
      if (scope !== undefined && requestHash !== undefined) idempotency.record(tx, scope, { messageId: content.messageId, to, requestHash }, now);
      return { messageId: toHex(content.messageId), seq, durable: tx.stage(store, this.ctx.fatal) };
    });
    await durable;
    void this.ctx.outbox.publish(seq);
    return { messageId };
  }

  /**
   * Runs `body` under the peer lock with a usable session: the stored one, or (when there is none,
   * or `fresh`) a new one from the peer's bundle, fetched and verified BEFORE the lock is taken (see
   * the top of this file). A contact whose identity changed is refused (UntrustedIdentity).
   */
  async withSession<T>(peer: UserId, fresh: boolean, body: (s: SessionStep) => Promise<T>): Promise<T> {
    let bundle: Uint8Array | undefined;
    for (let attempt = 0; ; attempt++) {
      const outcome = await this.ctx.peerLocks.run(peer, async (): Promise<{ done: true; value: T } | { done: false }> => {
        const contact = await this.ctx.contacts.lookup(peer);
        refuseChanged(contact);
        const handle = await this.ctx.peers.load(peer);
        const tx = new Transaction();
        let record = handle.record;
        if (fresh || !usable(record, this.ctx.now())) {
          if (bundle === undefined) return { done: false };
          record = this.startFromBundle(tx, peer, record, contact, bundle, await this.pqPins.isPinned(peer));
        }
        return { done: true, value: await body({ handle, record, tx, contact }) };
      });
      if (outcome.done) return outcome.value;
      if (attempt >= 2) throw new EngineError('SessionSetupRaced', 'could not set up a session: the peer\'s bundle changed while it was fetched; retry');
      bundle = await this.fetchBundle(peer);
    }
  }

  /**
   * The peer's retained bundle. A miss is asked once more after a moment: a bundle published an
   * instant ago may not have reached the broker's store yet (Aedes acks before it persists, and a
   * cluster node reads retained messages from the shared store).
   */
  async fetchBundle(peer: UserId): Promise<Uint8Array> {
    for (let attempt = 0; attempt < 2; attempt++) {
      const fetched = await this.ctx.relay.fetchBundle(peer);
      if (fetched !== null) return fetched;
      if (attempt === 0) await new Promise((resolve) => setTimeout(resolve, BUNDLE_REFETCH_DELAY_MS));
    }
    throw new EngineError('UnknownPeer', `no published prekey bundle for ${peer}`);
  }

  /**
   * Verifies the peer's bundle and runs X3DH (a new active session). A first contact is trusted on
   * first use ('unverified') in the same transaction. Call under the peer lock.
   */
  private startFromBundle(tx: Transaction, to: UserId, record: PeerRecord | null, contact: ContactRecord | undefined, bytes: Uint8Array, pqPinned: boolean): PeerRecord {
    return this.startVerified(tx, to, record, contact, this.verifyPeerBundle(to, record, contact, bytes, pqPinned));
  }

  /**
   * verifyBundle (signature, owner, age, no rollback), the contact's pinned identity key, and no
   * downgrade: a peer pinned to PQ (`pqPinned`, PqPins) must offer PQ prekeys (DowngradedBundle,
   * logged as a warning and counted in downgradesRefused).
   */
  verifyPeerBundle(to: UserId, record: PeerRecord | null, contact: ContactRecord | undefined, bytes: Uint8Array, pqPinned: boolean): VerifiedBundle {
    const { crypto } = this.ctx;
    let bundle;
    try {
      bundle = verifyBundle(crypto, bytes, to, this.ctx.now(), lastSeenBundleVersion(record));
    } catch (e) {
      if (e instanceof DecodeError) throw new HandshakeError('BadSignature', `the published bundle of ${to} is malformed`);
      throw e;
    }
    if (contact !== undefined && !crypto.equal(contact.identityKey, bundle.identityKey)) {
      throw new TrustError('UntrustedIdentity', `the identity key of ${to} changed: verify it first`);
    }
    try {
      checkBundleNotDowngraded(bundle, pqPinned);
    } catch (e) {
      this.downgradesRefused += 1;
      this.ctx.log.warn({ peer: to, code: 'DowngradedBundle' }, 'bundle without PQ prekeys from a peer seen with them: refused (downgrade)');
      throw e;
    }
    return bundle;
  }

  /**
   * PQXDH (or X3DH from a format-1 bundle) from a bundle verifyPeerBundle accepted; the contact (new
   * or newer bundle) and, for a PQ bundle, the peer's PQ pin go in tx.
   */
  startVerified(tx: Transaction, to: UserId, record: PeerRecord | null, contact: ContactRecord | undefined, bundle: VerifiedBundle): PeerRecord {
    const { crypto, identity, contacts } = this.ctx;
    const now = this.ctx.now();
    const next = startSession(crypto, identity, record, bundle, now);
    if (bundle.pq !== null) this.pqPins.pin(tx, to, 'bundle');
    if (contact === undefined) {
      contacts.put(tx, { userId: to, identityKey: bundle.identityKey.slice(), trust: 'unverified', lastBundleVersion: bundle.bundleVersion, addedAt: now });
    } else if ((contact.lastBundleVersion ?? 0) < bundle.bundleVersion) {
      contacts.put(tx, { ...contact, lastBundleVersion: bundle.bundleVersion });
    }
    return next;
  }

  // ---- receipts (coalesced per peer) ---------------------------------------------------------

  /**
   * Sends one cumulative receipt to the peer shortly (a burst of messages gets one receipt): after
   * receiptDelayMs, or later if the last receipt to this peer left less than receiptIntervalMs ago.
   * Each receipt costs both sides a transaction, and usually a DH ratchet step each (the receipt
   * carries our new ratchet key, the peer's next message its own), so a stream at a thousand
   * messages a second gets 10 receipts a second instead of 40; the sender's delivered events come in
   * steps of at most that interval. A message after a pause is answered after receiptDelayMs.
   */
  scheduleReceipt(peer: UserId): void {
    if (this.closed || this.receiptTimers.has(peer)) return;
    const delay = Math.max(this.ctx.timing.receiptDelayMs, this.receiptsSent.wait(peer, this.ctx.now()));
    const t = setTimeout(() => {
      this.receiptTimers.delete(peer);
      this.track(this.ctx.peerLocks.run(peer, () => this.sendReceipt(peer)), 'receipt');
    }, delay);
    this.receiptTimers.set(peer, t);
  }

  /** Whether a coalesced receipt to the peer is waiting for its timer. */
  receiptScheduled(peer: UserId): boolean {
    return this.receiptTimers.has(peer);
  }

  /**
   * A receipt encrypted on `record`, for the caller's own transaction (it holds the peer lock and
   * writes the returned state); null when none is due. Publish it with publishReceipt once durable.
   */
  receiptOn(record: PeerRecord, now: number): { envelope: Uint8Array; next: PeerRecord } | null {
    if (!usable(record, now)) return null;
    const upToSeq = receiptUpTo(record, now);
    if (upToSeq === 0) return null;
    const { envelope, next } = encryptForPeer(this.ctx.crypto, this.ctx.identity, record, { kind: 'receipt', upToSeq }, now);
    return { envelope, next };
  }

  publishReceipt(peer: UserId, envelope: Uint8Array): void {
    this.receiptsSent.take(peer, this.ctx.now());
    this.ctx.relay.publishEnvelope(peer, envelope).catch((err: unknown) => this.ctx.log.debug({ code: errCode(err) }, 'receipt not published'));
  }

  private async sendReceipt(peer: UserId): Promise<void> {
    const { peers, store } = this.ctx;
    const handle = await peers.load(peer);
    if (handle.record === null) return;
    const receipt = this.receiptOn(handle.record, this.ctx.now());
    if (receipt === null) return;
    const tx = new Transaction();
    peers.write(tx, handle, receipt.next);
    await tx.commit(store, this.ctx.fatal);
    this.publishReceipt(peer, receipt.envelope);
  }

  // ---- lifecycle ------------------------------------------------------------------------------

  private track(p: Promise<void>, what: string): void {
    const wrapped = p.catch((err: unknown) => this.ctx.log.debug({ code: errCode(err), what }, 'background send failed'));
    this.background.add(wrapped);
    void wrapped.then(() => this.background.delete(wrapped));
  }

  /** Stops timers and waits for background sends already started. */
  async close(): Promise<void> {
    this.closed = true;
    for (const t of this.receiptTimers.values()) clearTimeout(t);
    this.receiptTimers.clear();
    await Promise.all([...this.background]);
  }
}

/** hasUsableSession as a type guard. */
export function usable(record: PeerRecord | null, now: number): record is PeerRecord {
  return hasUsableSession(record, now);
}

export interface SessionStep {
  handle: PeerHandle;
  record: PeerRecord;
  tx: Transaction;
  contact: ContactRecord | undefined;
}

export function refuseChanged(contact: ContactRecord | undefined): void {
  if (contact?.trust === 'changed') {
    throw new TrustError('UntrustedIdentity', `the identity key of ${contact.userId} changed: compare safety numbers and approve it with VerifyContact`);
  }
}

export function errCode(err: unknown): string | undefined {
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === 'string' ? code : undefined;
}
