/**
 * How group contents (membership versions, sender keys, bundled or re-sent messages, key requests,
 * receipts, leaves: core/group/content.ts) reach a member: inside the pairwise Double Ratchet
 * session, as a pairwise message of the reserved content type GROUP_CONTENT_TYPE whose body is the
 * encoded group content. They so take part in the pairwise transcript (in order, exactly once), the
 * outbox (retransmitted until the member's receipt), and the re-sends after a session reset.
 *
 * A group operation stages each content as a groupPairwise record in its own batch; once durable,
 * the queue moves a member's records into its session: one batch with the encrypted envelopes, their
 * outbox entries and the deletion of the records (under the member's peer lock, outside every group
 * operation, so no lock is ever held across the two). A restart finds what was not moved yet.
 */
import { utf8 } from '../../../core/bytes.ts';
import { encodeContent, MAX_MESSAGE_BODY_BYTES, MAX_CONTENT_TYPE_BYTES, ZERO_HASH } from '../../../core/content.ts';
import { encryptForPeer } from '../../../core/index.ts';
import { encodeGroupContent, sealGroupContent, type GroupContentInput } from '../../../core/group/index.ts';
import type { UserId } from '../../../core/user-id.ts';
import { counterKey, parseCounterKey } from '../../store/kinds.ts';
import type { EngineContext } from '../context.ts';
import { errCode, type Sender } from '../sender.ts';
import type { Transaction } from '../transaction.ts';
import { decodeGroupPairwise, encodeGroupPairwise, type GroupPairwiseRecord } from './group-records.ts';

/** The content type of the pairwise messages that carry group contents (refused from API clients). */
export const GROUP_CONTENT_TYPE = 'application/vnd.ratchetd.group';
const GROUP_CONTENT_TYPE_BYTES = utf8.encode(GROUP_CONTENT_TYPE);
/**
 * The content type of the group messages that announce a file (body: its descriptor, with the file
 * key; files/file-sender.ts): taken by the file receiver instead of the inbox, refused from API clients.
 */
export const GROUP_FILE_CONTENT_TYPE = 'application/vnd.ratchetd.file';
/**
 * Largest group message body: a re-sent message (its plaintext with the header and the largest
 * content type) must fit one pairwise message body. 389 bytes below a direct message.
 */
export const ENGINE_MAX_GROUP_BODY_BYTES = MAX_MESSAGE_BODY_BYTES - 134 - MAX_CONTENT_TYPE_BYTES;
/** Contents moved into one member's session per batch. */
const MOVE_BATCH = 64;
/** After a failure (no session can be set up yet, an unapproved identity), try again after (ms). */
const RETRY_MS = 5_000;

/** Whether an encoded pairwise Content is a group carrier (the outbox reports no delivery for those). */
export function isGroupCarrier(content: Uint8Array): boolean {
  // version ‖ kind ‖ id (16) ‖ seq (8) ‖ prevHash (32) ‖ sentAt (8) ‖ contentType (u16 len ‖ bytes)
  const at = 66;
  if (content.length < at + 2 + GROUP_CONTENT_TYPE_BYTES.length || content[1] !== 1) return false;
  if (((content[at]! << 8) | content[at + 1]!) !== GROUP_CONTENT_TYPE_BYTES.length) return false;
  for (let i = 0; i < GROUP_CONTENT_TYPE_BYTES.length; i++) if (content[at + 2 + i] !== GROUP_CONTENT_TYPE_BYTES[i]) return false;
  return true;
}

export class GroupPairwiseQueue {
  private nextSeq = 1;
  private readonly pending = new Map<UserId, GroupPairwiseRecord[]>();
  private readonly moving = new Set<UserId>();
  private readonly again = new Set<UserId>();
  private readonly timers = new Map<UserId, NodeJS.Timeout>();
  private readonly background = new Set<Promise<void>>();
  private closed = false;

  constructor(
    private readonly ctx: EngineContext,
    private readonly sender: Sender,
  ) {}

  async load(): Promise<void> {
    for await (const rec of this.ctx.store.iterate('groupPairwise')) {
      if (!rec.ok) {
        this.ctx.log.error({ code: rec.error.code }, 'a group pairwise record is corrupt; it is skipped');
        continue;
      }
      const r = decodeGroupPairwise(rec.value);
      this.nextSeq = Math.max(this.nextSeq, parseCounterKey(rec.key) + 1);
      this.queue(r);
    }
  }

  /** Contents waiting to enter a session. */
  get depth(): number {
    let n = 0;
    for (const q of this.pending.values()) n += q.length;
    return n;
  }

  /** Starts moving everything loaded (after the relay is started). */
  start(): void {
    for (const to of this.pending.keys()) this.kick(to);
  }

  private queue(r: GroupPairwiseRecord): void {
    let q = this.pending.get(r.to);
    if (q === undefined) this.pending.set(r.to, (q = []));
    q.push(r);
  }

  /** Stages a content for `to` in tx; moved into the session once tx is durable. */
  add(tx: Transaction, to: UserId, input: GroupContentInput): void {
    const content = encodeGroupContent(sealGroupContent(this.ctx.crypto, input, 1, ZERO_HASH, this.ctx.now()));
    const r: GroupPairwiseRecord = { seq: this.nextSeq++, to, content };
    tx.put('groupPairwise', counterKey(r.seq), encodeGroupPairwise(r));
    tx.onApply(() => this.queue(r));
    tx.onDurable(() => this.kick(to));
  }

  private kick(to: UserId): void {
    if (this.closed) return;
    if (this.moving.has(to)) {
      this.again.add(to);
      return;
    }
    this.moving.add(to);
    const p = this.move(to)
      .catch((err: unknown) => {
        this.ctx.log.warn({ peer: to, code: errCode(err) }, 'group contents not handed to the pairwise session yet; retrying');
        this.retryLater(to);
      })
      .finally(() => {
        this.moving.delete(to);
        if (this.again.delete(to)) this.kick(to);
      });
    this.background.add(p);
    void p.then(() => this.background.delete(p));
  }

  private retryLater(to: UserId): void {
    if (this.closed || this.timers.has(to)) return;
    const t = setTimeout(() => {
      this.timers.delete(to);
      this.kick(to);
    }, RETRY_MS);
    t.unref();
    this.timers.set(to, t);
  }

  private async move(to: UserId): Promise<void> {
    for (;;) {
      const q = this.pending.get(to);
      if (q === undefined || q.length === 0) {
        this.pending.delete(to);
        return;
      }
      const batch = q.slice(0, MOVE_BATCH);
      const published = await this.sender.withSession(to, false, async ({ handle, record, tx }) => {
        const { crypto, identity, peers, outbox } = this.ctx;
        const now = this.ctx.now();
        let current = record;
        const seqs: number[] = [];
        for (const r of batch) {
          const { envelope, next, content } = encryptForPeer(crypto, identity, current, { kind: 'message', body: r.content, contentType: GROUP_CONTENT_TYPE }, now);
          current = next;
          seqs.push(outbox.add(tx, { to, messageId: content.messageId, contentSeq: content.seq, content: encodeContent(content), createdAt: now, envelope }));
          tx.del('groupPairwise', counterKey(r.seq));
        }
        peers.write(tx, handle, current);
        await tx.commit(this.ctx.store, this.ctx.fatal);
        return seqs;
      });
      q.splice(0, batch.length);
      for (const seq of published) void this.ctx.outbox.publish(seq);
    }
  }

  async close(): Promise<void> {
    this.closed = true;
    for (const t of this.timers.values()) clearTimeout(t);
    this.timers.clear();
    await Promise.all([...this.background]);
  }
}
