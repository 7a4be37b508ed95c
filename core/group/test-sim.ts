/**
 * TEST ONLY. An in-memory group of users over two idealised channels, driving the core the way the
 * engine will (phase 2): pairwise contents per (sender, receiver) in order (the Double Ratchet and its
 * transcript abstracted away: authenticated, confidential, ordered, possibly late), and copies in each
 * user's inbox in any order, any number of times. Holds what the engine would hold (a group not yet
 * joined, a version not yet applied, a copy whose key has not arrived) and retries it after progress.
 * Used by the model test, the scenario tests and the micro-benchmark.
 */
import type { Crypto } from '../crypto.ts';
import type { LocalIdentity } from '../identity.ts';
import { ZERO_HASH } from '../content.ts';
import { toHex } from '../bytes.ts';
import type { UserId } from '../user-id.ts';
import { GroupError } from './errors.ts';
import { decodeGroupContent, encodeGroupContent, isSequencedGroupKind, sealGroupContent, type GroupContentInput } from './content.ts';
import { decodeGroupEnvelope } from './copy.ts';
import { applyGroupReceipt, deliveryOf, type MemberDelivery } from './delivery.ts';
import { changeMembership, createMembership, type MembershipChange } from './membership.ts';
import type { GroupPlaintext } from './plaintext.ts';
import { receiveCopy, receiveResent, receiveSealed } from './receive.ts';
import { acceptDistribution, chainForTag, decryptGroupMessage, type SenderChains } from './receiver-chain.ts';
import { answerKeyRequest, planGroupSend, resendContents } from './send.ts';
import { rotateSenderKey, type OwnSenderKey } from './sender-key.ts';
import { recordSeq, startSeqLog, type SeqLog } from './seq-log.ts';
import { applyMembership, ownView, type GroupView } from './view.ts';

export interface SimUser {
  readonly identity: LocalIdentity;
  readonly id: UserId;
  view: GroupView | null;
  senderKey: OwnSenderKey | null;
  delivery: Map<UserId, MemberDelivery>;
  chains: Map<UserId, SenderChains>;
  logs: Map<UserId, SeqLog>;
  outbox: { plaintext: GroupPlaintext; addressed: ReadonlySet<UserId> }[];
  /** message ids (hex) delivered, with their sender */
  delivered: { from: UserId; id: string; seq: number }[];
}

export interface SentMessage {
  readonly id: string;
  readonly sender: UserId;
  readonly senderVersion: number;
  readonly addressed: ReadonlySet<UserId>;
  readonly inner: Uint8Array;
  readonly copies: readonly Uint8Array[];
}

export type Outcome = 'done' | 'hold' | 'dropped';

const HOLD = new Set(['GroupVersionBehind', 'GroupVersionGap']);
const DROP = new Set(['Duplicate', 'StaleGroupVersion', 'NotGroupMember']);

export class GroupSim {
  readonly users = new Map<UserId, SimUser>();
  /** `${from}>${to}` → encoded contents, oldest first (the head may be held) */
  readonly channels = new Map<string, Uint8Array[]>();
  readonly inboxes = new Map<UserId, Uint8Array[]>();
  readonly sent: SentMessage[] = [];
  readonly drops: string[] = [];
  /** each removed member's state when it learnt of its removal (what a copy of its data dir holds) */
  readonly removedStates: { id: UserId; version: number; state: Pick<SimUser, 'view' | 'chains'> }[] = [];
  private seq = 0;
  now: number;

  constructor(private readonly crypto: Crypto, identities: readonly LocalIdentity[], now: number) {
    this.now = now;
    for (const identity of identities) {
      this.users.set(identity.userId, { identity, id: identity.userId, view: null, senderKey: null, delivery: new Map(), chains: new Map(), logs: new Map(), outbox: [], delivered: [] });
      this.inboxes.set(identity.userId, []);
    }
  }

  user(id: UserId): SimUser {
    return this.users.get(id)!;
  }

  pairwise(from: UserId, to: UserId, input: GroupContentInput): void {
    const c = sealGroupContent(this.crypto, input, ++this.seq, ZERO_HASH, this.now);
    const key = `${from}>${to}`;
    this.channels.set(key, [...(this.channels.get(key) ?? []), encodeGroupContent(c)]);
  }

  private publish(owner: SimUser, previous: readonly UserId[], v: GroupView): void {
    owner.view = v;
    for (const m of new Set([...previous, ...v.members])) if (m !== owner.id) this.pairwise(owner.id, m, { kind: 'group-membership', membership: v.bytes });
  }

  create(owner: UserId, members: readonly UserId[]): void {
    const o = this.user(owner);
    this.publish(o, [], ownView(createMembership(this.crypto, o.identity, 'sim', members, this.now), null));
  }

  change(owner: UserId, change: MembershipChange): boolean {
    const o = this.user(owner);
    const m = changeMembership(this.crypto, o.identity, o.view!, change, this.now);
    if (m === null) return false;
    const previous = o.view!;
    const next = ownView(m, previous);
    for (const r of previous.members) if (!next.memberSet.has(r)) this.forget(o, r);
    this.publish(o, previous.members, next);
    return true;
  }

  send(sender: UserId, body: Uint8Array): SentMessage {
    const s = this.user(sender);
    const plan = planGroupSend(this.crypto, { self: sender, view: s.view!, senderKey: s.senderKey, delivery: s.delivery, input: { body, contentType: 'text/plain' }, now: this.now });
    s.senderKey = plan.senderKey;
    for (const [m, d] of plan.deliveryChanges) s.delivery.set(m, d);
    const addressed = new Set(plan.outputs.map((o) => o.to));
    s.outbox.push({ plaintext: plan.plaintext, addressed });
    for (const o of plan.outputs) {
      for (const c of o.pairwise) this.pairwise(sender, o.to, c);
      if (o.copy !== null) this.inboxes.get(o.to)!.push(o.copy);
    }
    const msg = { id: toHex(plan.plaintext.messageId), sender, senderVersion: s.view!.version, addressed, inner: plan.message, copies: plan.outputs.flatMap((o) => (o.copy === null ? [] : [o.copy])) };
    this.sent.push(msg);
    return msg;
  }

  rotate(sender: UserId): void {
    const s = this.user(sender);
    if (s.view !== null) s.senderKey = rotateSenderKey(this.crypto, s.senderKey, s.view, this.now);
  }

  /** A member's cumulative receipt to a sender. */
  receipt(from: UserId, to: UserId): void {
    const u = this.user(from);
    const log = u.logs.get(to);
    if (u.view !== null && log !== undefined && log.upTo > 0) this.pairwise(from, to, { kind: 'group-receipt', groupId: u.view.groupId, upToSeq: log.upTo });
  }

  /** The sender re-sends pairwise what `to` has not receipted (the outbox's retransmission). */
  resend(sender: UserId, to: UserId): void {
    const s = this.user(sender);
    if (s.view === null || !s.view.memberSet.has(to)) return;
    const mine = s.outbox.filter((e) => e.addressed.has(to)).map((e) => e.plaintext);
    for (const c of resendContents(s.view, mine, deliveryOf(s.delivery, to).deliveredUpTo)) this.pairwise(sender, to, c);
  }

  keyRequest(from: UserId, to: UserId): void {
    const u = this.user(from);
    if (u.view === null) return;
    const log = u.logs.get(to);
    this.pairwise(from, to, { kind: 'group-key-request', groupId: u.view.groupId, membershipVersion: u.view.version, keyId: null, haveUpToSeq: log?.upTo ?? 0 });
  }

  private forget(u: SimUser, member: UserId): void {
    u.chains.delete(member);
    u.logs.delete(member);
    u.delivery.delete(member);
  }

  private wipe(u: SimUser): void {
    u.view = null;
    u.senderKey = null;
    u.delivery.clear();
    u.chains.clear();
    u.logs.clear();
    u.outbox = [];
  }

  private deliverPlaintext(u: SimUser, from: UserId, p: GroupPlaintext, firstSeq: number | null): void {
    const log = u.logs.get(from) ?? startSeqLog(firstSeq ?? p.senderSeq);
    const r = recordSeq(log, p.senderSeq);
    u.logs.set(from, r.next);
    if (!r.duplicate) u.delivered.push({ from, id: toHex(p.messageId), seq: p.senderSeq });
  }

  private guarded(run: () => void): Outcome {
    try {
      run();
      return 'done';
    } catch (e) {
      if (!(e instanceof GroupError)) throw e;
      if (HOLD.has(e.code)) return 'hold';
      if (DROP.has(e.code)) {
        this.drops.push(e.code);
        return 'dropped';
      }
      throw e;
    }
  }

  /** Processes one pairwise content at `to`. */
  receivePairwise(from: UserId, to: UserId, bytes: Uint8Array): Outcome {
    const u = this.user(to);
    const c = decodeGroupContent(bytes);
    if (c.kind === 'group-membership') {
      return this.guarded(() => {
        const a = applyMembership(this.crypto, u.view, c.membership, from, to);
        for (const r of a.removed) this.forget(u, r);
        if (a.selfRemoved) {
          this.removedStates.push({ id: to, version: a.membership.version, state: snapshot(u) });
          this.wipe(u);
        }
        else u.view = a.view;
      });
    }
    const view = u.view;
    // unsequenced contents (key requests, receipts) are best effort: never held, they would block
    // the in-order contents behind them (a key request before the membership that makes its group)
    if (view === null) return isSequencedGroupKind(c.kind) ? 'hold' : 'dropped';
    return this.guarded(() => {
      switch (c.kind) {
        case 'group-message':
          if (c.mode === 'sealed') {
            const r = receiveSealed(this.crypto, view, to, from, u.chains.get(from) ?? null, c, this.now);
            u.chains.set(from, r.next);
            this.deliverPlaintext(u, from, r.plaintext, r.firstSeq);
          } else {
            this.deliverPlaintext(u, from, receiveResent(this.crypto, view, to, from, c), null);
          }
          return;
        case 'group-sender-key': {
          const a = acceptDistribution(this.crypto, view, to, from, u.chains.get(from) ?? null, c.distribution, this.now);
          u.chains.set(from, a.next);
          if (!u.logs.has(from)) u.logs.set(from, startSeqLog(c.distribution.firstSeq));
          return;
        }
        case 'group-receipt': {
          const next = applyGroupReceipt(deliveryOf(u.delivery, from), c.upToSeq, (u.senderKey?.nextSeq ?? 1) - 1);
          if (next !== null) u.delivery.set(from, next);
          return;
        }
        case 'group-key-request': {
          const a = answerKeyRequest(this.crypto, { self: to, view, senderKey: u.senderKey, delivery: u.delivery, from, haveUpToSeq: c.haveUpToSeq, now: this.now });
          if (a === null) return;
          u.senderKey = a.senderKey;
          u.delivery.set(from, a.deliveryChange);
          this.pairwise(to, from, a.content);
          const mine = u.outbox.filter((e) => e.addressed.has(from)).map((e) => e.plaintext);
          for (const r of resendContents(view, mine, a.resendAbove)) this.pairwise(to, from, r);
          return;
        }
        case 'group-leave':
          return;
      }
    });
  }

  /** Delivers the head of one channel; false when there is nothing to deliver or it is held. */
  stepChannel(key: string): boolean {
    const q = this.channels.get(key);
    if (q === undefined || q.length === 0) return false;
    const [from, to] = key.split('>') as [UserId, UserId];
    if (this.receivePairwise(from, to, q[0]!) === 'hold') return false;
    q.shift();
    return true;
  }

  /** Processes one copy at `to`; 'hold' when no chain has its tag yet. */
  receiveCopy(to: UserId, envelope: Uint8Array): Outcome {
    const u = this.user(to);
    const env = decodeGroupEnvelope(envelope);
    if (u.view === null) return 'hold';
    for (const [sender, chains] of u.chains) {
      if (chainForTag(this.crypto, chains, env.tag) === null) continue;
      const view = u.view;
      return this.guarded(() => {
        const r = receiveCopy(this.crypto, view, chains, env, this.now);
        u.chains.set(sender, r.next);
        this.deliverPlaintext(u, sender, r.plaintext, null);
      });
    }
    return 'hold';
  }

  /** Delivers inbox[index] of `to`; keeps it there when held or when `duplicate`. */
  stepInbox(to: UserId, index: number, duplicate: boolean): boolean {
    const inbox = this.inboxes.get(to)!;
    if (inbox.length === 0) return false;
    const i = index % inbox.length;
    const outcome = this.receiveCopy(to, inbox[i]!);
    if (outcome === 'hold') return false;
    if (!duplicate) inbox.splice(i, 1);
    return true;
  }

  /** Everything that can be delivered, delivered; then receipts and re-sends, until nothing moves. */
  drain(rounds = 8): void {
    for (let round = 0; round < rounds; round++) {
      let moved = true;
      while (moved) {
        moved = false;
        for (const key of this.channels.keys()) while (this.stepChannel(key)) moved = true;
        for (const to of this.inboxes.keys()) {
          const inbox = this.inboxes.get(to)!;
          for (let i = inbox.length - 1; i >= 0; i--) if (this.receiveCopy(to, inbox[i]!) !== 'hold') (inbox.splice(i, 1), (moved = true));
        }
      }
      for (const a of this.users.keys()) for (const b of this.users.keys()) if (a !== b) this.receipt(a, b);
      for (const key of this.channels.keys()) while (this.stepChannel(key));
      for (const a of this.users.keys()) for (const b of this.users.keys()) if (a !== b) this.resend(a, b);
    }
  }

  /**
   * Whether `state` (a user's current state or a saved copy of it) can read `msg` from anything the
   * relay or a colluder could hand it: each copy, or the inner group message. Touches no state.
   */
  canRead(state: Pick<SimUser, 'view' | 'chains'>, msg: SentMessage): boolean {
    const view = state.view;
    if (view === null) return false;
    const chains = state.chains.get(msg.sender);
    if (chains === undefined) return false;
    const attempts: (() => unknown)[] = [
      () => decryptGroupMessage(this.crypto, view, chains, msg.inner, this.now),
      ...msg.copies.map((c) => () => receiveCopy(this.crypto, view, chains, decodeGroupEnvelope(c), this.now)),
    ];
    for (const attempt of attempts) {
      try {
        attempt();
        return true;
      } catch (e) {
        if (!(e instanceof GroupError)) throw e;
      }
    }
    return false;
  }
}

/** A shallow snapshot of a user's receiving state (the states inside are immutable). */
export function snapshot(u: SimUser): Pick<SimUser, 'view' | 'chains'> {
  return { view: u.view, chains: new Map(u.chains) };
}
