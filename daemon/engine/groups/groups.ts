/**
 * Groups in the engine: create / add / remove / leave / list, sending, receipts and re-sends, around
 * the pure protocol core (core/group/). The owner is the one writer of the member list; each version
 * goes pairwise to every member (group-pairwise.ts), and to the members it removes.
 *
 * Send: one encryption and signature (planGroupSend), then per member either a copy (envelope kind
 * 0x03, published to its inbox once the batch is durable) or, for a member that lacks this sender
 * key, the message bundled with the key, pairwise. The batch holds the sender key's next step, the
 * per-member delivery records, the group outbox entry, the pairwise contents and the idempotency
 * record: durable before Send returns, as every Send.
 * Delivery: 'sent' per member when the broker took its copy, 'delivered' per member on its
 * cumulative group receipt (one per burst and sender: receipts are coalesced, receiptDelayMs).
 * A member that has not receipted a message after the outbox's retry delay, and answers pairwise
 * (no pairwise message to it waits for a receipt), gets it again pairwise (as plaintext inside its
 * session: recovery needs no deleted key), with backoff, until maxAgeMs. On the same tick, a member
 * asks a sender for what a hole in its seq log lacks once the hole outlived timing.groupHoleWaitMs
 * (group-holes.ts), even if nothing more comes from that sender.
 */
import { concat, toHex, utf8 } from '../../../core/bytes.ts';
import { MESSAGE_ID_BYTES } from '../../../core/content.ts';
import {
  GroupError,
  changeMembership,
  createMembership,
  dissolveMembership,
  encodeGroupPlaintext,
  ownView,
  planGroupSend,
  resendContents,
  rotateSenderKey,
  type Membership,
  type MembershipChange,
} from '../../../core/group/index.ts';
import { MAX_GROUP_MEMBERS, MAX_GROUPS_PER_DAEMON } from '../../../core/limits.ts';
import type { UserId } from '../../../core/user-id.ts';
import type { EngineContext } from '../context.ts';
import { EngineError } from '../errors.ts';
import { DEFAULT_CONTENT_TYPE, errCode, type Sender } from '../sender.ts';
import { Transaction } from '../transaction.ts';
import type { GroupInfo, GroupSendRequest } from '../types.ts';
import { GroupHeld } from './group-held.ts';
import { GroupOutbox } from './group-outbox.ts';
import { ENGINE_MAX_GROUP_BODY_BYTES, GROUP_CONTENT_TYPE, GROUP_FILE_CONTENT_TYPE, GroupPairwiseQueue } from './group-pairwise.ts';
import { announceGroup, groupInfo, type Fresh, type GroupParts } from './group-parts.ts';
import { GroupReceive, type Outcome } from './group-receive.ts';
import { GroupState, type GroupEntry } from './group-state.ts';

export class Groups {
  readonly parts: GroupParts;
  readonly receive: GroupReceive;
  private readonly receiptTimers = new Map<string, NodeJS.Timeout>();
  private readonly lastReceipt = new Map<string, number>();
  private retryTimer: NodeJS.Timeout | undefined;
  /** Group messages sent since start (their batch durable). */
  messagesSent = 0;
  private closed = false;

  constructor(
    private readonly ctx: EngineContext,
    private readonly sender: Sender,
  ) {
    this.parts = {
      ctx,
      state: new GroupState(ctx.crypto, ctx.store, ctx.log),
      pairwise: new GroupPairwiseQueue(ctx, sender),
      outbox: new GroupOutbox(ctx.store, ctx.log),
      held: new GroupHeld(ctx.store, ctx.log),
      refused: new Map(),
    };
    this.receive = new GroupReceive(this.parts, {
      scheduleReceipt: (group, sender) => this.scheduleReceipt(group, sender),
      memberLeft: (tx, g, member) => this.ownChange(tx, g, { remove: [member] }),
      droppedGroup: (tx, group) => this.parts.outbox.dropGroup(tx, group),
    });
  }

  private get self(): UserId {
    return this.ctx.identity.userId;
  }

  async load(): Promise<void> {
    await this.parts.state.load();
    await this.parts.pairwise.load();
    await this.parts.outbox.load();
    await this.parts.held.load();
    this.receive.noteStoredHoles();
  }

  start(): void {
    this.parts.pairwise.start();
    const tick = this.ctx.timing.outbox.tickMs;
    this.retryTimer = setInterval(() => {
      this.resendUnreceipted();
      this.askForHoles();
    }, tick);
    this.retryTimer.unref();
  }

  async close(): Promise<void> {
    this.closed = true;
    if (this.retryTimer !== undefined) clearInterval(this.retryTimer);
    for (const t of this.receiptTimers.values()) clearTimeout(t);
    this.receiptTimers.clear();
    await this.parts.pairwise.close();
  }

  // ---- membership ------------------------------------------------------------------------------

  list(): GroupInfo[] {
    return [...this.parts.state.groups.values()].map((g) => groupInfo(g.view));
  }

  private entry(groupId: string): GroupEntry {
    const g = this.parts.state.get(groupId);
    if (g !== undefined) return g;
    if (this.parts.state.left.has(groupId)) throw new GroupError('NotGroupMember', 'this daemon left or was removed from that group');
    throw new EngineError('UnknownGroup', `no group ${groupId}`);
  }

  /** Members must be reachable: a contact, or a published bundle (EngineError UnknownPeer). */
  private async checkMembers(members: readonly UserId[]): Promise<void> {
    if (members.includes(this.self)) throw new EngineError('InvalidArgument', 'the owner is a member already: do not list yourself');
    if (new Set(members).size !== members.length) throw new EngineError('InvalidArgument', 'a member is listed twice');
    for (const m of members) if ((await this.ctx.contacts.lookup(m)) === undefined) await this.sender.fetchBundle(m);
  }

  async create(name: string, members: readonly UserId[]): Promise<GroupInfo> {
    if (members.length + 1 > MAX_GROUP_MEMBERS) throw new GroupError('GroupTooLarge', `a group has at most ${MAX_GROUP_MEMBERS} members, the owner included`);
    await this.checkMembers(members);
    if (this.parts.state.groups.size >= MAX_GROUPS_PER_DAEMON) throw new EngineError('TooManyGroups', `this daemon is in ${MAX_GROUPS_PER_DAEMON} groups already`);
    const m = createMembership(this.ctx.crypto, this.ctx.identity, name, members, this.ctx.now());
    const tx = new Transaction();
    const view = ownView(m, null);
    this.parts.state.putView(tx, view);
    this.distribute(tx, m, []);
    announceGroup(this.parts, tx, view, false);
    await tx.commit(this.ctx.store, this.ctx.fatal);
    return groupInfo(view);
  }

  async change(groupId: string, change: { add?: readonly UserId[]; remove?: readonly UserId[] }): Promise<GroupInfo> {
    const before = this.entry(groupId);
    if (before.view.owner !== this.self) throw new GroupError('NotGroupOwner', 'only the group owner changes its members');
    if (change.remove?.includes(this.self)) throw new GroupError('InvalidGroupChange', 'the owner cannot remove itself: it leaves the group (LeaveGroup), which ends it');
    const added = (change.add ?? []).filter((m) => !before.view.memberSet.has(m));
    if (before.view.members.length + added.length > MAX_GROUP_MEMBERS) throw new GroupError('GroupTooLarge', `a group has at most ${MAX_GROUP_MEMBERS} members, the owner included`);
    await this.checkMembers(added);
    const g = this.entry(groupId); // again: the state may have moved while bundles were fetched
    const tx = new Transaction();
    this.ownChange(tx, g, { add: added, remove: change.remove ?? [] });
    await tx.commit(this.ctx.store, this.ctx.fatal);
    return groupInfo(g.view);
  }

  /** The owner's change, in tx (also a member's leave, from the receiver). */
  private ownChange(tx: Transaction, g: GroupEntry, change: MembershipChange): void {
    const previous = g.view;
    const m = changeMembership(this.ctx.crypto, this.ctx.identity, previous, change, this.ctx.now());
    if (m === null) return;
    this.applyOwn(tx, g, m);
  }

  private applyOwn(tx: Transaction, g: GroupEntry, m: Membership): void {
    const previous = g.view;
    const next = ownView(m, previous);
    this.parts.state.putView(tx, next);
    for (const r of previous.members) {
      if (next.memberSet.has(r)) continue;
      this.parts.state.forgetMember(tx, g, r);
      this.parts.outbox.settle(tx, next.groupIdText, r, Infinity);
    }
    this.distribute(tx, m, previous.members);
    announceGroup(this.parts, tx, next, false);
  }

  /** The version to every member of it and of the previous one (the removed learn they are out). */
  private distribute(tx: Transaction, m: Membership, previous: readonly UserId[]): void {
    for (const to of new Set([...previous, ...m.members])) if (to !== this.self) this.parts.pairwise.add(tx, to, { kind: 'group-membership', membership: m.bytes });
  }

  async leave(groupId: string): Promise<void> {
    const g = this.parts.state.get(groupId);
    if (g === undefined) throw new EngineError('UnknownGroup', `no group ${groupId}`);
    const tx = new Transaction();
    const view = g.view;
    let last = view;
    if (view.owner === this.self) {
      const m = dissolveMembership(this.ctx.crypto, this.ctx.identity, view, this.ctx.now());
      if (m !== null) {
        this.distribute(tx, m, view.members);
        last = ownView(m, view);
      }
    } else {
      this.parts.pairwise.add(tx, view.owner, { kind: 'group-leave', groupId: view.groupId, membershipVersion: view.version });
    }
    this.parts.state.drop(tx, g, { at: this.ctx.now(), version: last.version, removed: false });
    this.parts.outbox.dropGroup(tx, groupId);
    announceGroup(this.parts, tx, last, true);
    await tx.commit(this.ctx.store, this.ctx.fatal);
  }

  /**
   * On demand: a new sender key now (core rotateSenderKey), stored before this returns; the next
   * group message distributes it to every member, and nothing after is sent under the old one.
   */
  async rotate(groupId: string): Promise<{ keyId: number }> {
    // from here to the staged batch: synchronous (group-state.ts), as a send
    const g = this.entry(groupId);
    const tx = new Transaction();
    const key = rotateSenderKey(this.ctx.crypto, g.ownKey, g.view, this.ctx.now());
    this.parts.state.putOwnKey(tx, g, key);
    await tx.commit(this.ctx.store, this.ctx.fatal);
    this.ctx.log.info({ reason: 'demand' }, 'group sender key rotated');
    return { keyId: key.keyId };
  }

  // ---- sending -----------------------------------------------------------------------------

  async send(req: GroupSendRequest): Promise<{ messageId: string }> {
    const contentType = req.contentType === undefined || req.contentType === '' ? DEFAULT_CONTENT_TYPE : req.contentType;
    if (contentType === GROUP_CONTENT_TYPE || contentType === GROUP_FILE_CONTENT_TYPE) throw new EngineError('InvalidArgument', 'that content type is reserved for the daemon\'s group contents');
    if (req.body.length > ENGINE_MAX_GROUP_BODY_BYTES) throw new EngineError('InvalidArgument', `a group message body is at most ${ENGINE_MAX_GROUP_BODY_BYTES} bytes`);
    this.entry(req.groupId);
    const { crypto, idempotency } = this.ctx;
    const requestHash = crypto.sha256(concat(utf8.encode('group:'), utf8.encode(req.groupId), Uint8Array.of(0), utf8.encode(contentType), Uint8Array.of(0), req.body));
    return this.sender.runIdempotent(req.idempotencyKey, req.replyTo, async (scope) => {
      if (scope !== undefined) {
        const existing = await idempotency.find(scope);
        if (existing !== undefined) {
          if (existing.to === this.self && crypto.equal(existing.requestHash, requestHash)) return { messageId: toHex(existing.messageId) };
          throw new EngineError('IdempotencyConflict', 'this idempotency key was already used for another message');
        }
      }
      // from here to the staged batch: synchronous (group-state.ts)
      const g = this.entry(req.groupId);
      const tx = new Transaction();
      const messageId = crypto.randomBytes(MESSAGE_ID_BYTES);
      this.sendIn(tx, g, { body: req.body, contentType, messageId });
      if (scope !== undefined) idempotency.record(tx, scope, { messageId, to: this.self, requestHash }, this.ctx.now());
      await tx.commit(this.ctx.store, this.ctx.fatal);
      return { messageId: toHex(messageId) };
    });
  }

  /** Throws as a send to this group would (unknown group, not a member) — before a file is sealed. */
  checkSendable(groupId: string): void {
    this.entry(groupId);
  }

  /** Whether `member` is in the group (this daemon's current view). */
  isMember(groupId: string, member: UserId): boolean {
    return this.parts.state.get(groupId)?.view.memberSet.has(member) === true;
  }

  /**
   * A file's announcement to the group, in tx (files/file-sender.ts; synchronous up to tx's staging,
   * as every group send): the group message carrying `body` (the descriptor) under the reserved file
   * content type. Returns the members it is addressed to (every member but this daemon).
   */
  sendFileIn(tx: Transaction, groupId: string, body: Uint8Array, messageId: Uint8Array): UserId[] {
    const g = this.entry(groupId);
    return this.sendIn(tx, g, { body, contentType: GROUP_FILE_CONTENT_TYPE, messageId });
  }

  private sendIn(tx: Transaction, g: GroupEntry, input: { body: Uint8Array; contentType: string; messageId: Uint8Array }): UserId[] {
    const { crypto, relay, log } = this.ctx;
    const now = this.ctx.now();
    const plan = planGroupSend(crypto, { self: this.self, view: g.view, senderKey: g.ownKey, delivery: g.delivery, input, now });
    if (plan.rotated !== null && plan.rotated !== 'new') log.info({ reason: plan.rotated }, 'group sender key rotated');
    this.parts.state.putOwnKey(tx, g, plan.senderKey);
    for (const [m, d] of plan.deliveryChanges) this.parts.state.putDelivery(tx, g, m, d);
    const addressed = plan.outputs.map((o) => o.to);
    const messageId = toHex(plan.plaintext.messageId);
    if (addressed.length > 0) {
      this.parts.outbox.add(tx, {
        groupId: g.view.groupId,
        plaintext: encodeGroupPlaintext(plan.plaintext),
        senderSeq: plan.plaintext.senderSeq,
        messageId: plan.plaintext.messageId,
        addressed,
        createdAt: now,
      });
    }
    for (const o of plan.outputs) for (const c of o.pairwise) this.parts.pairwise.add(tx, o.to, c);
    tx.onDurable(() => {
      this.messagesSent += 1;
      for (const o of plan.outputs) {
        if (o.copy === null) continue;
        const to = o.to;
        relay.publishEnvelope(to, o.copy).then(
          () => this.ctx.inbox.publish({ kind: 'delivery', messageId, to, state: 'sent', at: this.ctx.now() }),
          (err: unknown) => log.debug({ code: errCode(err) }, 'group copy not published; the member gets it again pairwise'),
        );
      }
    });
    return addressed;
  }

  // ---- receipts and re-sends ---------------------------------------------------------------------

  /** One cumulative group receipt to `sender` shortly (a burst gets one). */
  private scheduleReceipt(group: string, sender: UserId): void {
    const key = `${group}:${sender}`;
    if (this.closed || this.receiptTimers.has(key)) return;
    const t = setTimeout(() => {
      this.receiptTimers.delete(key);
      const g = this.parts.state.get(group);
      const upTo = g?.logs.get(sender)?.upTo ?? 0;
      if (g === undefined || upTo === 0 || upTo <= (this.lastReceipt.get(key) ?? 0) || !g.view.memberSet.has(sender)) return;
      this.lastReceipt.set(key, upTo);
      const tx = new Transaction();
      this.parts.pairwise.add(tx, sender, { kind: 'group-receipt', groupId: g.view.groupId, upToSeq: upTo });
      tx.commit(this.ctx.store, this.ctx.fatal).catch((err: unknown) => this.ctx.log.warn({ code: errCode(err) }, 'group receipt not stored'));
    }, this.ctx.timing.receiptDelayMs);
    this.receiptTimers.set(key, t);
  }

  /** Members that have not receipted a message for a while get what they lack again, pairwise. */
  private resendUnreceipted(): void {
    if (this.closed) return;
    const now = this.ctx.now();
    const policy = this.ctx.timing.outbox;
    const tx = new Transaction();
    const due = new Map<string, Set<UserId>>();
    for (const e of [...this.parts.outbox.all()]) {
      if (now - e.createdAt > policy.maxAgeMs) {
        const members = [...e.waiting];
        this.parts.outbox.remove(tx, e);
        tx.onDurable(() => {
          for (const to of members) this.ctx.inbox.publish({ kind: 'delivery', messageId: e.messageId, to, state: 'failed', at: now });
        });
        continue;
      }
      if (now < e.createdAt + Math.min(policy.retryMaxMs, policy.retryInitialMs * 2 ** e.attempts)) continue;
      e.attempts += 1;
      let set = due.get(e.group);
      if (set === undefined) due.set(e.group, (set = new Set()));
      for (const m of e.waiting) set.add(m);
    }
    for (const [group, members] of due) {
      const g = this.parts.state.get(group);
      if (g === undefined) continue;
      for (const m of members) {
        // a member with pairwise messages still unreceipted is offline or unreachable: the outbox
        // retransmits those, and its copies wait in its queue; re-send once it answers again
        if (!g.view.memberSet.has(m) || this.ctx.outbox.pendingCount(m) > 0) continue;
        const above = g.delivery.get(m)?.deliveredUpTo ?? 0;
        for (const c of resendContents(g.view, this.parts.outbox.waitingFor(group, m), above)) this.parts.pairwise.add(tx, m, c);
      }
    }
    if (tx.ops.length > 0) tx.commit(this.ctx.store, this.ctx.fatal).catch((err: unknown) => this.ctx.log.warn({ code: errCode(err) }, 'group re-sends not stored'));
  }

  /** Holes in the senders' seq logs that outlived their wait: a key request to each sender (group-holes.ts). */
  private askForHoles(): void {
    if (this.closed) return;
    const tx = new Transaction();
    this.receive.askForHoles(tx);
    if (tx.ops.length > 0) tx.commit(this.ctx.store, this.ctx.fatal).catch((err: unknown) => this.ctx.log.warn({ code: errCode(err) }, 'group key requests not stored'));
  }

  // ---- receiving (the receiver's hooks) ------------------------------------------------------

  /** A copy envelope (kind 0x03), under the inbound queue: its batch, or undefined (nothing to store). */
  onCopy(bytes: Uint8Array): { durable: Promise<void> } | undefined {
    if (!this.ctx.inbox.admits(1, this.ctx.now())) return undefined;
    const tx = new Transaction();
    const fresh: Fresh = [];
    const outcome: Outcome = this.receive.onCopy(tx, bytes, fresh);
    this.ctx.inbox.add(tx, fresh, this.ctx.now());
    if (outcome === 'refused' && tx.ops.length === 0) return undefined;
    return { durable: tx.stage(this.ctx.store, this.ctx.fatal) };
  }

  /** A pairwise group content, inside the receiver's batch for the envelope that carried it. */
  onPairwise(tx: Transaction, from: UserId, body: Uint8Array, fresh: Fresh): void {
    this.receive.onPairwise(tx, from, body, fresh);
  }
}
