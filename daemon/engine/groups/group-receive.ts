/**
 * Receiving for groups: pairwise group contents (from the receiver, inside the batch of the pairwise
 * envelope that carried them) and copies (envelope kind 0x03, their own batch). Synchronous from the
 * state read to the batch (group-state.ts), so every outcome commits with the envelope's ack:
 *
 *   done     applied; the held items are retried (a new key or version may unblock them)
 *   hold     cannot be read yet (GroupVersionBehind, a group not joined yet, a
 *            copy whose key is on its way; UnknownSenderKey / TooFarAhead also ask the sender for
 *            its key): stored in groupHeld, retried after progress
 *   dropped  a duplicate or a stale replay: nothing to do
 *   refused  not acceptable (a change not from the owner, a forged or forked version, a bad
 *            signature, another group's bytes): counted, logged, never applied
 * Nothing is silently dropped: a copy that can never be read is covered by its sender's pairwise
 * re-send of what this member has not receipted, and a hole in a sender's seq log that outlives
 * timing.groupHoleWaitMs makes this member ask that sender (group-holes.ts), even if nothing more
 * comes from it. Every key request is counted by reason (keyRequestsSent, in the metrics).
 */
import type { GroupEnvelope } from '../../../core/envelope.ts';
import {
  GroupError,
  acceptDistribution,
  answerKeyRequest,
  applyGroupReceipt,
  applyMembership,
  decodeGroupContent,
  decodeGroupEnvelope,
  decodeMembership,
  deliveryOf,
  groupIdText,
  missingSeqs,
  receiveCopy,
  receiveResent,
  receiveSealed,
  recordSeq,
  resendContents,
  startSeqLog,
  verifyMembership,
  type Applied,
  type GroupContent,
  type GroupPlaintext,
} from '../../../core/group/index.ts';
import type { UserId } from '../../../core/user-id.ts';
import type { Transaction } from '../transaction.ts';
import { GroupHoles } from './group-holes.ts';
import { announceGroup, type Fresh, type GroupParts } from './group-parts.ts';
import { GROUP_FILE_CONTENT_TYPE } from './group-pairwise.ts';
import type { GroupEntry } from './group-state.ts';

export type Outcome = 'done' | 'hold' | 'dropped' | 'refused';

const HOLD = new Set(['GroupVersionBehind', 'UnknownSenderKey', 'TooFarAhead']);
const ASK_KEY = new Set(['UnknownSenderKey', 'TooFarAhead']);
const DROP = new Set(['Duplicate', 'StaleGroupVersion']);
/** Retry rounds over the held items after one accepted item (each round needs progress). */
const MAX_RETRY_ROUNDS = 8;
/** A key request to the same sender of the same group at most this often (ms). */
const KEY_REQUEST_INTERVAL_MS = 10_000;

/** What the receive side asks of the rest (receipts, the owner's handling of a leave). */
export interface ReceiveHooks {
  scheduleReceipt(group: string, sender: UserId): void;
  /** the owner: `member` asked to leave */
  memberLeft(tx: Transaction, g: GroupEntry, member: UserId): void;
  /** this daemon left the group (removed): clean up what is not state */
  droppedGroup(tx: Transaction, group: string): void;
}

/** A file announced to a group (its descriptor in `p.body`), in the batch that delivers it, exactly once. */
export type GroupFileHandler = (tx: Transaction, from: UserId, groupId: string, p: GroupPlaintext) => void;

/** Why a member asked a sender for its key (the metrics' reasons). */
export type KeyRequestReason = 'UnknownSenderKey' | 'TooFarAhead' | 'Resent' | 'SeqHole';

export class GroupReceive {
  private readonly lastKeyRequest = new Map<string, number>();
  /** Key requests sent since start, by reason (reported in the metrics). */
  readonly keyRequestsSent = new Map<KeyRequestReason, number>();
  /** Key requests answered since start (this daemon as the sender). */
  keyRequestsAnswered = 0;
  /** Holes in the senders' seq logs, waited for before asking (group-holes.ts). */
  readonly holes: GroupHoles;
  /** Where file announcements go (files/files.ts); without it they are dropped (logged). */
  fileDescriptor: GroupFileHandler | undefined;

  constructor(
    private readonly p: GroupParts,
    private readonly hooks: ReceiveHooks,
  ) {
    this.holes = new GroupHoles(p.ctx.timing.groupHoleWaitMs);
  }

  /** At load: the holes the stored seq logs have start their wait now. */
  noteStoredHoles(): void {
    const now = this.p.ctx.now();
    for (const g of this.p.state.groups.values()) for (const [sender, log] of g.logs) this.holes.note(g.view.groupIdText, sender, log, now);
  }

  /**
   * The timer's side (groups.ts): every hole that outlived its wait makes one key request to its
   * sender, in tx (its haveUpToSeq names the hole; the answer re-sends everything above it).
   */
  askForHoles(tx: Transaction): void {
    for (const { group, sender } of this.holes.due(this.p.ctx.now())) {
      const g = this.p.state.get(group);
      const log = g?.logs.get(sender);
      if (g === undefined || log === undefined || !g.view.memberSet.has(sender) || missingSeqs(log).length === 0) {
        this.holes.forget(group, sender);
        continue;
      }
      this.askKey(tx, g, sender, 'SeqHole');
    }
  }

  private get self(): UserId {
    return this.p.ctx.identity.userId;
  }

  private refuse(code: string, from: UserId | null, what: string): void {
    this.p.refused.set(code, (this.p.refused.get(code) ?? 0) + 1);
    this.p.ctx.log.warn({ peer: from ?? undefined, code, what }, 'group content refused');
  }

  /** Runs `fn`, classifying a GroupError; other errors propagate (the batch is not staged). */
  private guarded(from: UserId | null, what: string, fn: () => void, onAsk?: (reason: KeyRequestReason) => void): Outcome {
    try {
      fn();
      return 'done';
    } catch (e) {
      if (!(e instanceof GroupError)) throw e;
      if (HOLD.has(e.code)) {
        if (ASK_KEY.has(e.code)) onAsk?.(e.code as KeyRequestReason);
        return 'hold';
      }
      if (DROP.has(e.code)) return 'dropped';
      this.refuse(e.code, from, what);
      return 'refused';
    }
  }

  /** A pairwise group content from `from` (the receiver's hook), in the envelope's batch. */
  onPairwise(tx: Transaction, from: UserId, body: Uint8Array, fresh: Fresh): void {
    let outcome: Outcome;
    try {
      outcome = this.pairwise(tx, from, body, fresh);
    } catch (e) {
      // never a wedge: the pairwise envelope is acked; what was staged so far stays consistent
      this.p.ctx.log.error({ peer: from, err: e }, 'a pairwise group content failed unexpectedly; refused');
      this.refuse('Unexpected', from, 'pairwise group content');
      return;
    }
    if (outcome === 'hold') this.p.held.add(tx, from, body, this.p.ctx.now());
    if (outcome === 'done') this.retryHeld(tx, fresh);
  }

  /** A copy envelope: its own batch; undefined when there is nothing to store. */
  onCopy(tx: Transaction, bytes: Uint8Array, fresh: Fresh): Outcome {
    let env: GroupEnvelope;
    try {
      env = decodeGroupEnvelope(bytes);
    } catch {
      this.refuse('Undecodable', null, 'copy');
      return 'refused';
    }
    let outcome: Outcome;
    try {
      outcome = this.copy(tx, env, fresh);
    } catch (e) {
      this.p.ctx.log.error({ err: e }, 'a group copy failed unexpectedly; refused');
      this.refuse('Unexpected', null, 'copy');
      return 'refused';
    }
    if (outcome === 'hold') this.p.held.add(tx, null, bytes, this.p.ctx.now());
    if (outcome === 'done') this.retryHeld(tx, fresh);
    return outcome;
  }

  private copy(tx: Transaction, env: GroupEnvelope, fresh: Fresh): Outcome {
    const target = this.p.state.byTag(env.tag);
    if (target === undefined) return 'hold';
    const g = this.p.state.get(target.group);
    const chains = g?.chains.get(target.sender);
    if (g === undefined || chains === undefined) return 'hold';
    return this.guarded(
      target.sender,
      'copy',
      () => {
        const r = receiveCopy(this.p.ctx.crypto, g.view, chains, env, this.p.ctx.now());
        this.p.state.putChains(tx, g, target.sender, r.next);
        this.deliver(tx, g, target.sender, r.plaintext, null, fresh);
      },
      (reason) => this.askKey(tx, g, target.sender, reason),
    );
  }

  private pairwise(tx: Transaction, from: UserId, body: Uint8Array, fresh: Fresh): Outcome {
    let c: GroupContent;
    try {
      c = decodeGroupContent(body);
    } catch {
      this.refuse('Undecodable', from, 'pairwise group content');
      return 'refused';
    }
    if (c.kind === 'group-membership') return this.guarded(from, 'membership', () => this.membership(tx, from, c.membership));
    const groupId = c.kind === 'group-sender-key' ? c.distribution.groupId : c.groupId;
    const group = groupIdText(groupId);
    const g = this.p.state.get(group);
    if (g === undefined) {
      // not joined yet (its version on the way from the owner) → hold; left → nothing to do
      if (this.p.state.left.has(group)) return 'dropped';
      return c.kind === 'group-key-request' || c.kind === 'group-receipt' ? 'dropped' : 'hold';
    }
    return this.guarded(from, c.kind, () => this.content(tx, g, from, c, fresh), (reason) => this.askKey(tx, g, from, reason));
  }

  private membership(tx: Transaction, from: UserId, bytes: Uint8Array): void {
    const { crypto } = this.p.ctx;
    const group = groupIdText(decodeMembership(bytes).groupId);
    const g = this.p.state.get(group);
    const left = this.p.state.left.get(group);
    let a: Applied;
    try {
      a = applyMembership(crypto, g?.view ?? null, bytes, from, this.self);
    } catch (e) {
      if (!(e instanceof GroupError) || e.code !== 'GroupVersionGap' || g === undefined) throw e;
      a = this.rejoin(g, bytes, from);
    }
    if (g === undefined && left !== undefined && a.membership.version <= left.version) {
      throw new GroupError('StaleGroupVersion', 'membership: not later than the version this daemon left at');
    }
    if (a.view === null) {
      if (g !== undefined) {
        this.p.state.drop(tx, g, { at: this.p.ctx.now(), version: a.membership.version, removed: true });
        this.hooks.droppedGroup(tx, group);
      }
      announceGroup(this.p, tx, { ...a.membership, lastRemovalVersion: a.membership.version, since: new Map() }, true);
      return;
    }
    const entry = this.p.state.putView(tx, a.view);
    for (const m of a.removed) {
      this.p.state.forgetMember(tx, entry, m);
      this.p.outbox.settle(tx, group, m, Infinity);
    }
    announceGroup(this.p, tx, a.view, false);
  }

  /**
   * A version beyond the next one, from the owner. Versions travel in the pairwise transcript, in
   * order: a gap means the transcript gave the missing one up for good (withheld past its wait, or
   * the owner restored from a backup). Holding would wedge the group, so this member re-joins from
   * the later version, as a joiner does: every member counted from it (keys and messages made under
   * earlier versions are refused), and its own sender key replaced before its next send.
   */
  private rejoin(g: GroupEntry, bytes: Uint8Array, from: UserId): Applied {
    const { crypto } = this.p.ctx;
    const m = verifyMembership(crypto, bytes);
    if (from !== m.owner || !crypto.equal(m.ownerKey, g.view.ownerKey)) throw new GroupError('NotGroupOwner', 'membership: not from the group owner');
    this.p.ctx.log.warn({ from: g.view.version, to: m.version }, 'group membership versions missing for good; re-joining from the later version');
    const removed = g.view.members.filter((x) => !m.memberSet.has(x));
    if (!m.memberSet.has(this.self)) return { view: null, membership: m, added: [], removed, joined: false, selfRemoved: true };
    const joined = applyMembership(crypto, null, bytes, from, this.self);
    return { ...joined, removed, added: m.members.filter((x) => !g.view.memberSet.has(x)), joined: false };
  }

  private content(tx: Transaction, g: GroupEntry, from: UserId, c: Exclude<GroupContent, { kind: 'group-membership' }>, fresh: Fresh): void {
    const { crypto } = this.p.ctx;
    const now = this.p.ctx.now();
    const view = g.view;
    switch (c.kind) {
      case 'group-message':
        if (c.mode === 'sealed') {
          const r = receiveSealed(crypto, view, this.self, from, g.chains.get(from) ?? null, c, now);
          this.p.state.putChains(tx, g, from, r.next);
          this.deliver(tx, g, from, r.plaintext, r.firstSeq, fresh);
        } else {
          this.deliver(tx, g, from, receiveResent(crypto, view, this.self, from, c), null, fresh);
          // re-sent because its copies could not be read here: without this sender's key (state
          // lost), ask for it so that its next messages come as copies again
          if (!g.chains.has(from)) this.askKey(tx, g, from, 'Resent');
        }
        return;
      case 'group-sender-key': {
        const a = acceptDistribution(crypto, view, this.self, from, g.chains.get(from) ?? null, c.distribution, now);
        if (a.changed) this.p.state.putChains(tx, g, from, a.next);
        if (!g.logs.has(from)) this.p.state.putLog(tx, g, from, startSeqLog(c.distribution.firstSeq));
        return;
      }
      case 'group-receipt': {
        const next = applyGroupReceipt(deliveryOf(g.delivery, from), c.upToSeq, (g.ownKey?.nextSeq ?? 1) - 1);
        if (next === null) return;
        this.p.state.putDelivery(tx, g, from, next);
        const delivered = this.p.outbox.settle(tx, view.groupIdText, from, c.upToSeq);
        const at = now;
        tx.onDurable(() => {
          for (const messageId of delivered) this.p.ctx.inbox.publish({ kind: 'delivery', messageId, to: from, state: 'delivered', at });
        });
        return;
      }
      case 'group-key-request': {
        const a = answerKeyRequest(crypto, { self: this.self, view, senderKey: g.ownKey, delivery: g.delivery, from, haveUpToSeq: c.haveUpToSeq, now });
        if (a === null) return;
        this.keyRequestsAnswered += 1;
        this.p.state.putOwnKey(tx, g, a.senderKey);
        this.p.state.putDelivery(tx, g, from, a.deliveryChange);
        this.p.pairwise.add(tx, from, a.content);
        for (const r of resendContents(view, this.p.outbox.waitingFor(view.groupIdText, from), a.resendAbove)) this.p.pairwise.add(tx, from, r);
        return;
      }
      case 'group-leave':
        if (view.owner === this.self && from !== this.self && view.memberSet.has(from)) this.hooks.memberLeft(tx, g, from);
        return;
    }
  }

  /** Records the seq and stores the message unless it is a duplicate. */
  private deliver(tx: Transaction, g: GroupEntry, from: UserId, p: GroupPlaintext, firstSeq: number | null, fresh: Fresh): void {
    const log = g.logs.get(from) ?? startSeqLog(firstSeq ?? p.senderSeq);
    const r = recordSeq(log, p.senderSeq);
    this.p.state.putLog(tx, g, from, r.next);
    this.holes.note(g.view.groupIdText, from, r.next, this.p.ctx.now());
    if (r.givenUp.length > 0) this.p.ctx.log.warn({ peer: from, holes: r.givenUp.length }, 'group messages given up (beyond the seq log bound)');
    this.hooks.scheduleReceipt(g.view.groupIdText, from);
    if (r.duplicate) return;
    if (p.contentType === GROUP_FILE_CONTENT_TYPE) {
      if (this.fileDescriptor === undefined) this.p.ctx.log.warn({ peer: from }, 'a group file arrived but files are not enabled; dropped');
      else this.fileDescriptor(tx, from, g.view.groupIdText, p);
      return;
    }
    fresh.push({ messageId: p.messageId, from, body: p.body, contentType: p.contentType, sentAt: p.sentAt, groupId: g.view.groupIdText });
  }

  private askKey(tx: Transaction, g: GroupEntry, sender: UserId, reason: KeyRequestReason): void {
    const key = `${g.view.groupIdText}:${sender}`;
    const now = this.p.ctx.now();
    if (now - (this.lastKeyRequest.get(key) ?? -Infinity) < KEY_REQUEST_INTERVAL_MS) return;
    this.lastKeyRequest.set(key, now);
    this.keyRequestsSent.set(reason, (this.keyRequestsSent.get(reason) ?? 0) + 1);
    this.p.ctx.log.info({ peer: sender, reason }, 'asking a group member for its sender key');
    this.p.pairwise.add(tx, sender, { kind: 'group-key-request', groupId: g.view.groupId, membershipVersion: g.view.version, keyId: null, haveUpToSeq: g.logs.get(sender)?.upTo ?? 0 });
  }

  /** Retries the held items after progress, until a round makes none. */
  retryHeld(tx: Transaction, fresh: Fresh): void {
    for (let round = 0; round < MAX_RETRY_ROUNDS; round++) {
      let progress = false;
      for (const h of this.p.held.current(tx, this.p.ctx.now())) {
        const outcome = h.from === null ? this.retryCopy(tx, h.bytes, fresh) : this.pairwise(tx, h.from, h.bytes, fresh);
        if (outcome === 'hold') continue;
        this.p.held.remove(tx, h);
        if (outcome === 'done') progress = true;
      }
      if (!progress) return;
    }
  }

  private retryCopy(tx: Transaction, bytes: Uint8Array, fresh: Fresh): Outcome {
    try {
      return this.copy(tx, decodeGroupEnvelope(bytes), fresh);
    } catch {
      return 'refused';
    }
  }
}

