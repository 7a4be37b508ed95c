/**
 * The relay's envelope handler.
 *
 * Resolving the returned promise is what lets the relay PUBACK the broker, so it resolves only after
 * the envelope's effects are committed in ONE batch (peer record + tag index, prekeys + replay id for
 * a handshake, new contact, inbox entries, delivered outbox entries), or after a deliberate drop
 * (undecodable, duplicate, undecryptable: nothing to store). It rejects only when the store fails:
 * then the broker redelivers. Events and follow-ups (receipt, reset, re-send) run after the commit.
 *
 * Nothing an unauthenticated party sends makes the daemon act: an envelope that does not decrypt
 * changes no state, sends nothing, fetches no bundle and spends no budget (see `rejected`).
 *
 * Session envelopes find their peer through the routing-tag index (one lookup whatever the number
 * of contacts); handshakes name their sender inside the sealed block, and trust is checked before
 * anything is stored: a known user id with another identity key is quarantined, never accepted.
 */
import {
  acceptHandshake,
  decodeEnvelope,
  decryptFromPeer,
  flushTranscript,
  unsealSender,
  type Content,
  type HandshakeEnvelope,
  type HandshakeSender,
  type PeerRecord,
  type ReceiveResult,
  type SessionEnvelope,
} from '../../core/index.ts';
import { hasReceivingRoutingTag } from '../../core/ratchet.ts';
import { isSequenced, type FileContent, type FileProgressContent } from '../../core/content.ts';
import { isChunkEnvelope } from '../../core/file/chunk-envelope.ts';
import { isMemberChunkEnvelope } from '../../core/file/member-chunk.ts';
import { ENVELOPE_KIND_GROUP } from '../../core/envelope.ts';
import type { Groups } from './groups/groups.ts';
import { GROUP_CONTENT_TYPE } from './groups/group-pairwise.ts';
import type { UserId } from '../../core/user-id.ts';
import { CorruptRecordError } from '../store/store.ts';
import { INBOUND, type EngineContext } from './context.ts';
import type { NewInboundMessage } from './inbox.ts';
import type { PeerHandle } from './peers.ts';
import { PerPeerInterval } from './per-peer-interval.ts';
import type { ContactRecord } from './records.ts';
import { errCode, type Sender } from './sender.ts';
import type { SessionRepair } from './session-repair.ts';
import { Transaction } from './transaction.ts';

/** Takes a file descriptor or file progress into the receiving transaction (daemon/engine/files/). */
export type FileContentHandler = (tx: Transaction, peer: UserId, c: FileContent | FileProgressContent) => void;

/** Core failures that mean "this envelope is not for us / not usable": dropped, acked. */
/** An inbound transaction queued for writing; `durable` resolves once it is on disk. */
interface Staged {
  readonly durable: Promise<void>;
}

const countMessages = (contents: readonly Content[]): number => contents.filter((c) => c.kind === 'message').length;

const EXPECTED_DROPS = new Set(['DecodeError', 'UnsupportedVersion', 'InvalidKey', 'WrongRecipient', 'BadMessage', 'NoSession', 'TooFarAhead', 'ReplayedHandshake', 'Duplicate', 'StalePrekey', 'DowngradedHandshake']);
/** Why envelopes were dropped before any session was involved (counted with the core's codes). */
type DropReason = 'Undecodable' | 'UnknownTag' | 'NotSealedToUs' | 'DeletedPeer' | 'Unexpected';
/**
 * A copy (Duplicate) asks for a receipt at most this often per peer (ms). A copy cannot be told from
 * the sender's retransmission (the outbox re-sends the same bytes), so it must be answered; but a
 * relay replaying captured envelopes then gets one receipt per interval, not one per copy. Nothing is
 * lost: the sender retransmits after 15 s and more (outbox policy), and any receipt covers everything.
 */
export const DUPLICATE_RECEIPT_INTERVAL_MS = 10_000;
/**
 * A message from a peer that sent nothing for this long (ms) is answered at once, its receipt
 * encrypted and written in the message's own transaction: nothing would coalesce with it (a hub
 * hearing from many peers, each rarely), and a separate receipt transaction would cost a second
 * peer load, write and batch. Later messages of a burst get the coalesced receipt (receiptDelayMs).
 */
export const ISOLATED_MESSAGE_MS = 1_000;

export class Receiver {
  private readonly flushTimers = new Map<UserId, NodeJS.Timeout>();
  private readonly duplicateReceipts = new PerPeerInterval(DUPLICATE_RECEIPT_INTERVAL_MS);
  private readonly isolatedMessages = new PerPeerInterval(ISOLATED_MESSAGE_MS);
  /** Envelopes dropped, by reason (bounded: the keys are our own error codes). For metrics and tests. */
  private readonly drops = new Map<string, number>();
  private closed = false;

  constructor(
    private readonly ctx: EngineContext,
    private readonly sender: Sender,
    private readonly repair: SessionRepair,
    private readonly groups: Groups,
  ) {}

  /** Envelopes dropped so far (this process), by reason. */
  dropped(): Record<string, number> {
    return Object.fromEntries(this.drops);
  }

  private drop(reason: string): void {
    this.drops.set(reason, (this.drops.get(reason) ?? 0) + 1);
  }

  /**
   * The relay's handler. Processing is serialised with every other inbound transaction, but only up
   * to the point where its batch is queued: the next envelope is processed while this one is being
   * written, and this promise (→ PUBACK) resolves once the batch is on disk.
   */
  readonly handleEnvelope = async (bytes: Uint8Array): Promise<void> => {
    // File chunks are the file receiver's (files/file-receiver.ts), outside the inbound queue.
    if (this.fileChunks !== undefined && (isChunkEnvelope(bytes) || isMemberChunkEnvelope(bytes))) return this.fileChunks(bytes);
    const staged = await this.ctx.inboundQueue.run(INBOUND, () => this.process(bytes));
    await staged?.durable;
  };

  /** Processes one envelope up to a queued batch; call inside the inbound queue. */
  async process(bytes: Uint8Array): Promise<Staged | undefined> {
    const { log, crypto, identity, peers, peerLocks } = this.ctx;
    // a group copy: its sender and group are found by its routing tag (groups/group-receive.ts)
    if (bytes.length > 1 && bytes[1] === ENVELOPE_KIND_GROUP) return this.groups.onCopy(bytes);
    let env;
    try {
      env = decodeEnvelope(bytes);
    } catch (e) {
      log.debug({ code: errCode(e) }, 'undecodable envelope dropped');
      this.drop('Undecodable' satisfies DropReason);
      return;
    }
    if (env.kind === 'session') {
      const peer = peers.lookupTag(env.tag);
      if (peer === undefined) {
        log.debug('envelope with an unknown routing tag dropped');
        this.drop('UnknownTag' satisfies DropReason);
        return;
      }
      return peerLocks.run(peer, () => this.guard(peer, bytes, () => this.onSession(peer, env)));
    }
    let sender: HandshakeSender;
    try {
      sender = unsealSender(crypto, identity, env);
    } catch (e) {
      log.debug({ code: errCode(e) }, 'handshake not sealed to us; dropped');
      this.drop('NotSealedToUs' satisfies DropReason);
      return;
    }
    return peerLocks.run(sender.senderUserId, () => this.guard(sender.senderUserId, bytes, () => this.onHandshake(sender, env, bytes)));
  }

  /** A corrupt record of this peer fails closed for this peer only: the envelope is held, not lost. */
  private async guard(peer: UserId, bytes: Uint8Array, fn: () => Promise<Staged | undefined>): Promise<Staged | undefined> {
    try {
      return await fn();
    } catch (e) {
      if (!(e instanceof CorruptRecordError)) throw e;
      this.ctx.log.error({ peer, kind: e.kind }, 'stored state of this peer is corrupt; envelope quarantined');
      const tx = new Transaction();
      this.ctx.quarantine.add(tx, peer, bytes, this.ctx.now());
      return { durable: tx.stage(this.ctx.store, this.ctx.fatal) };
    }
  }

  private async onSession(peer: UserId, env: SessionEnvelope): Promise<Staged | undefined> {
    const handle = await this.ctx.peers.load(peer);
    const record = handle.record;
    if (record === null) {
      this.ctx.log.debug({ peer }, 'routing tag of a deleted peer record; dropped');
      this.drop('DeletedPeer' satisfies DropReason);
      return;
    }
    let r: ReceiveResult;
    try {
      r = decryptFromPeer(this.ctx.crypto, record, env, this.ctx.now());
    } catch (e) {
      // only the active session's own header keys carry this tag (tags are per header key)
      this.rejected(peer, e, () => record.active !== null && hasReceivingRoutingTag(this.ctx.crypto, record.active.ratchet, env.tag));
      return undefined;
    }
    return this.commitReceived(peer, handle, r, new Transaction());
  }

  private async onHandshake(sender: HandshakeSender, env: HandshakeEnvelope, bytes: Uint8Array): Promise<Staged | undefined> {
    const { crypto, identity, contacts, peers, prekeys } = this.ctx;
    const peer = sender.senderUserId;
    const contact = await contacts.lookup(peer);
    // Not reachable by a forged claim: unsealSender derives the user id from the identity key it
    // carries (core/user-id.ts), and a contact's key hashes to its user id, so another key under a
    // known user id needs a SHA-256 collision. Kept fail-closed for records that break that rule.
    if (contact !== undefined && !crypto.equal(contact.identityKey, sender.senderIdentityKey)) {
      return this.identityChanged(contact, sender.senderIdentityKey, bytes);
    }
    // Anyone can make an identity: a first contact is refused unstored when the table is full (contacts.ts).
    if (contact === undefined && !contacts.admitsFirstContact()) return undefined;
    const handle = await peers.load(peer);
    return prekeys.withState(async (state) => {
      let r;
      try {
        r = acceptHandshake(crypto, identity, state, handle.record, env, sender, this.ctx.now(), prekeys.isReplay);
      } catch (e) {
        this.rejected(peer, e, () => false);
        return undefined;
      }
      const tx = new Transaction();
      prekeys.recordHandshake(tx, r.nextPrekeys, r.replayId, r.signedPrekeyId);
      // A PQXDH handshake that decrypted: this peer runs PQ, so pin it (no later downgrade of its bundle).
      if ((env.kemCiphertext ?? null) !== null) this.sender.pqPins.pin(tx, peer, 'handshake');
      if (contact === undefined) {
        // Trust on first use: the sender is authenticated now (the message decrypted under X3DH).
        contacts.put(tx, { userId: peer, identityKey: sender.senderIdentityKey.slice(), trust: 'unverified', addedAt: this.ctx.now() });
      }
      return this.commitReceived(peer, handle, r, tx);
    });
  }

  /** A known user id presented another identity key: hold the envelope, block the contact, alert. */
  private identityChanged(contact: ContactRecord, newKey: Uint8Array, bytes: Uint8Array): Staged {
    const { crypto, contacts, quarantine, store, inbox, log } = this.ctx;
    const now = this.ctx.now();
    const isNew = contact.pendingIdentityKey === undefined || !crypto.equal(contact.pendingIdentityKey, newKey);
    const tx = new Transaction();
    contacts.put(tx, { ...contact, trust: 'changed', pendingIdentityKey: newKey.slice() });
    quarantine.add(tx, contact.userId, bytes, now);
    tx.onDurable(() => {
      log.warn({ peer: contact.userId }, 'identity key changed: messages held until VerifyContact approves the new key');
      if (isNew) inbox.publish({ kind: 'identityChanged', userId: contact.userId, newIdentityKey: newKey.slice(), at: now });
    });
    return { durable: tx.stage(store, this.ctx.fatal) };
  }

  /**
   * A core failure. Nothing is stored, and nothing is done on the strength of it unless it is
   * authenticated. What anyone can cause — a handshake naming any sender (sealed to our public
   * identity key) with unknown prekey ids (StalePrekey) or a key agreement that does not hold
   * (BadMessage), a replayed handshake (ReplayedHandshake), a session envelope with a routing tag seen
   * on the wire and a damaged body (BadMessage, NoSession), bytes that do not decode — is dropped and
   * counted: no reset, no bundle fetch, no new contact, no message, no rate budget spent. (A lost
   * one-time-prekey race is repaired by the initiator from the responder's signed bundle:
   * session-repair.ts.) Two failures are authenticated, because the core raises them only after a
   * header decrypted (AEAD) under a header key of this peer's session (core/ratchet.ts tryHeaderKey,
   * ratchet-receive.ts), which only the peer and we hold:
   *  - Duplicate: a copy of a message already received (a retransmission: our receipt was probably
   *    lost; or a replay by the relay, even with a damaged body: the header alone says Duplicate)
   *    → a receipt, at most one per DUPLICATE_RECEIPT_INTERVAL_MS per peer;
   *  - TooFarAhead on the active session (`onActive`): the peer sent more than MAX_SKIP messages we
   *    never got → a reset (session-repair.ts: rate-limited per peer and overall). On an archived
   *    session it is no reason to replace the active one, and a replayed copy after a reset lands there.
   */
  private rejected(peer: UserId, e: unknown, onActive: () => boolean): void {
    const code = errCode(e);
    this.drop(code !== undefined && EXPECTED_DROPS.has(code) ? code : ('Unexpected' satisfies DropReason));
    if (code === 'Duplicate') {
      if (this.duplicateReceipts.take(peer, this.ctx.now())) this.sender.scheduleReceipt(peer);
    } else if (code === 'TooFarAhead' && onActive()) {
      this.repair.scheduleReset(peer, code);
    }
    if (code === 'DowngradedHandshake') this.ctx.log.warn({ peer, code }, 'X3DH handshake to a bundle that offered PQ prekeys: refused (downgrade)');
    else if (code !== undefined && EXPECTED_DROPS.has(code)) this.ctx.log.debug({ peer, code }, 'envelope dropped');
    else this.ctx.log.warn({ peer, code, err: code === undefined ? e : undefined }, 'envelope refused');
  }

  /**
   * Queues the result of a decrypt with its effects in tx; once durable: announce and follow up.
   * With a full inbox nothing is stored (the sender resends the envelope later).
   */
  private commitReceived(peer: UserId, handle: PeerHandle, r: ReceiveResult, tx: Transaction): Staged | undefined {
    const { peers, store, log, contacts } = this.ctx;
    const now = this.ctx.now();
    if (!this.ctx.inbox.admits(countMessages(r.deliver), now)) return undefined;
    const effects = this.deliver(tx, peer, r.deliver, r.next);
    const wantsReceipt = effects.messages || effects.files || r.duplicate || isSequenced(r.content);
    const receipt = effects.messages && !this.sender.receiptScheduled(peer) && this.isolatedMessages.take(peer, now) ? this.sender.receiptOn(r.next, now) : null;
    const next = receipt?.next ?? r.next;
    peers.write(tx, handle, next);
    contacts.touch(tx, peer, now);
    if (r.gaps.length > 0) log.warn({ peer, gaps: r.gaps }, 'messages from this peer are missing (dropped or withheld by the relay)');
    if (r.brokenLinks.length > 0) log.warn({ peer, seqs: r.brokenLinks }, 'transcript hash chain broken across a gap');
    tx.onDurable(() => {
      if (receipt !== null) this.sender.publishReceipt(peer, receipt.envelope);
      else if (wantsReceipt) this.sender.scheduleReceipt(peer);
      if (effects.reset) this.repair.scheduleResend(peer);
      this.watchHeldBack(peer, next);
    });
    return { durable: tx.stage(store, this.ctx.fatal) };
  }

  /**
   * Adds the deliverable contents to tx: messages to the inbox, receipts to the outbox, file
   * descriptors and progress to the files (`files`: a descriptor was released, which is receipted
   * like a message).
   */
  private deliver(tx: Transaction, peer: UserId, contents: readonly Content[], record: PeerRecord): { messages: boolean; files: boolean; reset: boolean } {
    const { inbox, outbox, log } = this.ctx;
    const fresh: NewInboundMessage[] = [];
    let reset = false;
    let files = false;
    for (const c of contents) {
      if (c.kind === 'message' && c.contentType === GROUP_CONTENT_TYPE) {
        // a group content from this peer, in order and exactly once (the transcript), in this batch
        this.groups.onPairwise(tx, peer, c.body, fresh);
      } else if (c.kind === 'message') {
        // Exactly once: the transcript (in the peer record, committed with the inbox entry) drops
        // every copy of a seq already released, whatever session it comes on.
        fresh.push({ messageId: c.messageId, from: peer, body: c.body, contentType: c.contentType, sentAt: c.sentAt });
      } else if (c.kind === 'receipt') {
        if (c.upToSeq > record.transcript.sendSeq) {
          // The peer acknowledges messages we never sent: our state is older than theirs (restored
          // from a backup). Marking our new messages delivered on that basis could lose them.
          log.error({ peer, upToSeq: c.upToSeq, sendSeq: record.transcript.sendSeq }, 'receipt beyond our transcript (state restored from a backup?); ignored');
          continue;
        }
        outbox.delivered(tx, peer, c.upToSeq);
      } else if (c.kind === 'reset') {
        reset = true;
      } else {
        if (c.kind === 'file') files = true;
        this.onFileContent(tx, peer, c);
      }
    }
    inbox.add(tx, fresh, this.ctx.now());
    return { messages: fresh.length > 0, files, reset };
  }

  /**
   * Where file descriptors and file progress go (daemon/engine/files/); without it they are dropped
   * (logged), as contents this daemon does not handle.
   */
  fileContents: FileContentHandler | undefined;
  /** Where file chunk envelopes go; without it they are dropped as undecodable. */
  fileChunks: ((bytes: Uint8Array) => Promise<void>) | undefined;

  private onFileContent(tx: Transaction, peer: UserId, c: FileContent | FileProgressContent): void {
    if (this.fileContents === undefined) {
      this.ctx.log.warn({ peer, kind: c.kind }, 'a file content arrived but files are not enabled; dropped');
      return;
    }
    this.fileContents(tx, peer, c);
  }

  /** Held-back messages wait for their hole at most timing.transcriptWaitMs, then are released. */
  private watchHeldBack(peer: UserId, record: PeerRecord): void {
    if (this.closed || record.transcript.pending.length === 0 || this.flushTimers.has(peer)) return;
    const t = setTimeout(() => {
      this.flushTimers.delete(peer);
      this.ctx.inboundQueue
        .run(INBOUND, () => this.ctx.peerLocks.run(peer, () => this.flush(peer)))
        .catch((err: unknown) => this.ctx.log.warn({ err }, 'releasing held-back messages failed'));
    }, this.ctx.timing.transcriptWaitMs + 1);
    t.unref();
    this.flushTimers.set(peer, t);
  }

  private async flush(peer: UserId): Promise<void> {
    const handle = await this.ctx.peers.load(peer);
    if (handle.record === null) return;
    const f = flushTranscript(this.ctx.crypto, handle.record, this.ctx.now(), this.ctx.timing.transcriptWaitMs);
    if (f.next !== handle.record && !this.ctx.inbox.admits(countMessages(f.deliver), this.ctx.now())) {
      this.watchHeldBack(peer, handle.record); // the inbox is full: try again later
      return;
    }
    if (f.next !== handle.record) {
      const tx = new Transaction();
      this.ctx.peers.write(tx, handle, f.next);
      const effects = this.deliver(tx, peer, f.deliver, f.next);
      if (f.gaps.length > 0) this.ctx.log.warn({ peer, gaps: f.gaps }, 'gave up waiting for missing messages');
      await tx.commit(this.ctx.store, this.ctx.fatal);
      if (effects.messages || effects.files) this.sender.scheduleReceipt(peer);
      if (effects.reset) this.repair.scheduleResend(peer);
    }
    this.watchHeldBack(peer, f.next);
  }

  /** Releases what a contact's quarantine holds (after VerifyContact), through the normal path. */
  async releaseQuarantine(peer: UserId): Promise<number> {
    return this.ctx.inboundQueue.run(INBOUND, async () => {
      const held = await this.ctx.quarantine.heldFrom(peer);
      for (const h of held) {
        const staged = await this.process(h.envelope);
        await staged?.durable;
        await this.ctx.quarantine.remove(peer, h);
      }
      return held.length;
    });
  }

  close(): void {
    this.closed = true;
    for (const t of this.flushTimers.values()) clearTimeout(t);
    this.flushTimers.clear();
  }
}
