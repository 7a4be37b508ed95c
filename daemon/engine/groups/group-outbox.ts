/**
 * This daemon's own group messages until every member each was addressed to has receipted it
 * (cumulative group receipts set the member's deliveredUpTo) or is no longer a member. Kept so that a
 * member that lacks one (its copy lost, its key request) gets it again, pairwise, as plaintext inside
 * its session (core/group/send.ts resendContents): recovery never needs a deleted message key.
 * In memory: the records' metadata and plaintext (bounded by the outbox's age limit and the inbox-
 * sized cap below); the records themselves are written in the send's batch.
 */
import { toHex } from '../../../core/bytes.ts';
import { decodeGroupPlaintext, groupIdText, type GroupPlaintext } from '../../../core/group/index.ts';
import type { UserId } from '../../../core/user-id.ts';
import { counterKey, parseCounterKey } from '../../store/kinds.ts';
import type { Store } from '../../store/store.ts';
import type { Transaction } from '../transaction.ts';
import { decodeGroupOutbox, encodeGroupOutbox, type GroupOutboxRecord } from './group-records.ts';
import type { Logger } from 'pino';

export interface GroupOutboxEntry {
  readonly seq: number;
  readonly group: string;
  readonly messageId: string;
  readonly plaintext: GroupPlaintext;
  /** members it was addressed to and not yet delivered to */
  readonly waiting: Set<UserId>;
  readonly createdAt: number;
  /** re-send rounds so far (this process) */
  attempts: number;
}

export class GroupOutbox {
  private nextSeq = 1;
  private readonly entries = new Map<number, GroupOutboxEntry>();

  constructor(
    private readonly store: Store,
    private readonly log: Logger,
  ) {}

  async load(): Promise<void> {
    for await (const rec of this.store.iterate('groupOutbox')) {
      if (!rec.ok) {
        this.log.error({ code: rec.error.code }, 'a group outbox record is corrupt; it is not re-sent');
        continue;
      }
      const r = decodeGroupOutbox(rec.value);
      this.nextSeq = Math.max(this.nextSeq, parseCounterKey(rec.key) + 1);
      this.index(r);
    }
  }

  get depth(): number {
    return this.entries.size;
  }

  private index(r: GroupOutboxRecord): void {
    this.entries.set(r.seq, {
      seq: r.seq,
      group: groupIdText(r.groupId),
      messageId: toHex(r.messageId),
      plaintext: decodeGroupPlaintext(r.plaintext),
      waiting: new Set(r.addressed),
      createdAt: r.createdAt,
      attempts: 0,
    });
  }

  add(tx: Transaction, r: Omit<GroupOutboxRecord, 'seq'>): void {
    const rec: GroupOutboxRecord = { ...r, seq: this.nextSeq++ };
    tx.put('groupOutbox', counterKey(rec.seq), encodeGroupOutbox(rec));
    this.index(rec);
  }

  all(): IterableIterator<GroupOutboxEntry> {
    return this.entries.values();
  }

  /** Outstanding plaintexts of `group` for `member`, by senderSeq. */
  waitingFor(group: string, member: UserId): GroupPlaintext[] {
    const out: GroupPlaintext[] = [];
    for (const e of this.entries.values()) if (e.group === group && e.waiting.has(member)) out.push(e.plaintext);
    return out.sort((a, b) => a.senderSeq - b.senderSeq);
  }

  /**
   * `member` has every message of `group` up to `upToSeq` (or, with Infinity, left): the entries it
   * completes are deleted in tx. Returns the message ids now delivered to it.
   */
  settle(tx: Transaction, group: string, member: UserId, upToSeq: number): string[] {
    const done: string[] = [];
    for (const e of [...this.entries.values()]) {
      if (e.group !== group || e.plaintext.senderSeq > upToSeq || !e.waiting.delete(member)) continue;
      done.push(e.messageId);
      if (e.waiting.size === 0) this.remove(tx, e);
    }
    return done;
  }

  remove(tx: Transaction, e: GroupOutboxEntry): void {
    tx.del('groupOutbox', counterKey(e.seq));
    this.entries.delete(e.seq);
  }

  /** Every entry of a group (this daemon is out of it). */
  dropGroup(tx: Transaction, group: string): void {
    for (const e of [...this.entries.values()]) if (e.group === group) this.remove(tx, e);
  }
}
