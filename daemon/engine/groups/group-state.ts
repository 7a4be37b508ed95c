/**
 * Every group's state, held in memory (loaded at start; at most MAX_GROUPS_PER_DAEMON groups) and
 * written through Transactions: views, own sender keys, receiving chains, seq logs, member delivery,
 * the groups left, and the routing-tag index of copies (tag → group and sender).
 *
 * Group operations are synchronous from reading this state to staging their batch (no await in
 * between), so they need no lock: the setters update memory as the batch is built, and the caller
 * stages it in the same tick (a failed write is fatal for the engine, as for every batch).
 */
import type { Logger } from 'pino';
import { toHex } from '../../../core/bytes.ts';
import type { Crypto } from '../../../core/crypto.ts';
import {
  decodeGroupView,
  decodeMemberDelivery,
  decodeOwnSenderKey,
  decodeSenderChains,
  decodeSeqLog,
  encodeGroupView,
  encodeMemberDelivery,
  encodeOwnSenderKey,
  encodeSenderChains,
  encodeSeqLog,
  groupIdText,
  senderRoutingTags,
  type GroupView,
  type MemberDelivery,
  type OwnSenderKey,
  type SenderChains,
  type SeqLog,
} from '../../../core/group/index.ts';
import type { UserId } from '../../../core/user-id.ts';
import type { RecordKind } from '../../store/kinds.ts';
import type { Store } from '../../store/store.ts';
import type { Transaction } from '../transaction.ts';
import { decodeGroupLeft, decodeKeyed, encodeGroupLeft, encodeKeyed, type GroupLeftRecord } from './group-records.ts';

export interface GroupEntry {
  view: GroupView;
  ownKey: OwnSenderKey | null;
  readonly chains: Map<UserId, SenderChains>;
  readonly logs: Map<UserId, SeqLog>;
  readonly delivery: Map<UserId, MemberDelivery>;
}

export interface TagTarget {
  readonly group: string;
  readonly sender: UserId;
}

const memberKey = (group: string, member: UserId): string => `${group}:${member}`;

export class GroupState {
  /** by group id (text) */
  readonly groups = new Map<string, GroupEntry>();
  readonly left = new Map<string, GroupLeftRecord>();
  /** hex routing tag → (group, sender) */
  private readonly tags = new Map<string, TagTarget>();
  /** (group:sender) → the hex tags indexed for it */
  private readonly tagsOf = new Map<string, string[]>();

  constructor(
    private readonly crypto: Crypto,
    private readonly store: Store,
    private readonly log: Logger,
  ) {}

  private async *records(kind: RecordKind): AsyncIterable<Uint8Array> {
    for await (const rec of this.store.iterate(kind)) {
      if (!rec.ok) {
        this.log.error({ kind, code: rec.error.code }, 'a group record is corrupt; it is skipped');
        continue;
      }
      yield rec.value;
    }
  }

  async load(): Promise<void> {
    for await (const v of this.records('groupView')) {
      const k = decodeKeyed(v);
      const view = decodeGroupView(this.crypto, k.inner);
      this.groups.set(view.groupIdText, { view, ownKey: null, chains: new Map(), logs: new Map(), delivery: new Map() });
    }
    for await (const v of this.records('groupLeft')) {
      const k = decodeKeyed(v);
      this.left.set(groupIdText(k.groupId), decodeGroupLeft(k.inner));
    }
    for await (const v of this.records('groupOwnKey')) {
      const k = decodeKeyed(v);
      const g = this.groups.get(groupIdText(k.groupId));
      if (g !== undefined) g.ownKey = decodeOwnSenderKey(this.crypto, k.inner);
    }
    for await (const v of this.records('groupChains')) {
      const k = decodeKeyed(v);
      const group = groupIdText(k.groupId);
      const g = this.groups.get(group);
      if (g === undefined || k.member === null) continue;
      const chains = decodeSenderChains(k.inner);
      g.chains.set(k.member, chains);
      this.indexTags(group, k.member, chains);
    }
    for await (const v of this.records('groupSeqLog')) {
      const k = decodeKeyed(v);
      const g = this.groups.get(groupIdText(k.groupId));
      if (g !== undefined && k.member !== null) g.logs.set(k.member, decodeSeqLog(k.inner));
    }
    for await (const v of this.records('groupDelivery')) {
      const k = decodeKeyed(v);
      const g = this.groups.get(groupIdText(k.groupId));
      if (g !== undefined && k.member !== null) g.delivery.set(k.member, decodeMemberDelivery(k.inner));
    }
  }

  get(group: string): GroupEntry | undefined {
    return this.groups.get(group);
  }

  byTag(tag: Uint8Array): TagTarget | undefined {
    return this.tags.get(toHex(tag));
  }

  private indexTags(group: string, sender: UserId, chains: SenderChains | null): void {
    const key = memberKey(group, sender);
    for (const t of this.tagsOf.get(key) ?? []) this.tags.delete(t);
    this.tagsOf.delete(key);
    if (chains === null) return;
    const hex = senderRoutingTags(chains).map(toHex);
    for (const t of hex) this.tags.set(t, { group, sender });
    this.tagsOf.set(key, hex);
  }

  putView(tx: Transaction, view: GroupView): GroupEntry {
    const group = view.groupIdText;
    tx.put('groupView', group, encodeKeyed({ groupId: view.groupId, member: null, inner: encodeGroupView(view) }));
    let g = this.groups.get(group);
    if (g === undefined) {
      g = { view, ownKey: null, chains: new Map(), logs: new Map(), delivery: new Map() };
      this.groups.set(group, g);
    } else {
      g.view = view;
    }
    if (this.left.delete(group)) tx.del('groupLeft', group);
    return g;
  }

  putOwnKey(tx: Transaction, g: GroupEntry, key: OwnSenderKey): void {
    tx.put('groupOwnKey', g.view.groupIdText, encodeKeyed({ groupId: g.view.groupId, member: null, inner: encodeOwnSenderKey(key) }));
    g.ownKey = key;
  }

  putChains(tx: Transaction, g: GroupEntry, sender: UserId, chains: SenderChains): void {
    const group = g.view.groupIdText;
    tx.put('groupChains', memberKey(group, sender), encodeKeyed({ groupId: g.view.groupId, member: sender, inner: encodeSenderChains(chains) }));
    g.chains.set(sender, chains);
    this.indexTags(group, sender, chains);
  }

  putLog(tx: Transaction, g: GroupEntry, sender: UserId, log: SeqLog): void {
    tx.put('groupSeqLog', memberKey(g.view.groupIdText, sender), encodeKeyed({ groupId: g.view.groupId, member: sender, inner: encodeSeqLog(log) }));
    g.logs.set(sender, log);
  }

  putDelivery(tx: Transaction, g: GroupEntry, member: UserId, d: MemberDelivery): void {
    tx.put('groupDelivery', memberKey(g.view.groupIdText, member), encodeKeyed({ groupId: g.view.groupId, member, inner: encodeMemberDelivery(d) }));
    g.delivery.set(member, d);
  }

  /** A member left the view: its chains, seq log and delivery record go. */
  forgetMember(tx: Transaction, g: GroupEntry, member: UserId): void {
    const key = memberKey(g.view.groupIdText, member);
    tx.del('groupChains', key).del('groupSeqLog', key).del('groupDelivery', key);
    g.chains.delete(member);
    g.logs.delete(member);
    g.delivery.delete(member);
    this.indexTags(g.view.groupIdText, member, null);
  }

  /** This daemon is out of the group: every record of it goes, a groupLeft record stays. */
  drop(tx: Transaction, g: GroupEntry, left: GroupLeftRecord): void {
    const group = g.view.groupIdText;
    for (const m of new Set([...g.view.members, ...g.chains.keys(), ...g.logs.keys(), ...g.delivery.keys()])) this.forgetMember(tx, g, m);
    tx.del('groupView', group).del('groupOwnKey', group);
    tx.put('groupLeft', group, encodeKeyed({ groupId: g.view.groupId, member: null, inner: encodeGroupLeft(left) }));
    this.groups.delete(group);
    this.left.set(group, left);
  }
}
