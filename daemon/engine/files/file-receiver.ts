/**
 * Receives files. A descriptor (taken in the receiving transaction, exactly once by the transcript)
 * opens a transfer: a record, and an attachment file DATA/attachments/<id> of sealed chunks. Each
 * chunk envelope is found by its routing tag (the recipient knows the tags around the next chunk of
 * each transfer), must open as the next chunk of the stream (core/file/open.ts: anything else is
 * refused and changes nothing), and is written to its place in the file. Every
 * `progressEveryChunks` chunks, or when the chunks pause before that (PAUSE_REPORT_MS), the file is
 * synced, the count stored, and only then reported to the sender. After the last chunk and a matching SHA-256 the message with its attachment is added to
 * the inbox — once, in the transaction that marks the transfer complete. After a restart the stored
 * prefix is opened again from disk (rebuilding the stream state and the hash), and the sender is
 * told where to go on. Chunks stay sealed on disk; downloads open them again.
 *
 * A file through a group: its descriptor comes as a group message (groups/group-receive.ts, exactly
 * once by the sender's seq log, in the batch that delivers it); its chunks come wrapped for this
 * member alone (core/file/member-chunk.ts: unwrapped, then opened as above); progress goes to the
 * sender pairwise as for any file; the message carries the group id.
 */
import { toHex } from '../../../core/bytes.ts';
import type { FileContent } from '../../../core/content.ts';
import { decodeChunkEnvelope } from '../../../core/file/chunk-envelope.ts';
import { decodeDescriptor, type FileDescriptor } from '../../../core/file/descriptor.ts';
import { decodeMemberChunkEnvelope, deriveMemberFileKeys, isMemberChunkEnvelope, unwrapMemberChunk } from '../../../core/file/member-chunk.ts';
import type { GroupPlaintext } from '../../../core/group/index.ts';
import { FileError } from '../../../core/file/errors.ts';
import { FILE_CHUNK_BYTES, SEALED_CHUNK_BYTES, chunkTag, deriveFileKeys } from '../../../core/file/format.ts';
import { FileOpener } from '../../../core/file/open.ts';
import type { FileProgress, FileRefusal } from '../../../core/file/progress.ts';
import type { UserId } from '../../../core/user-id.ts';
import { INBOUND, type EngineContext } from '../context.ts';
import { KeyedLock } from '../keyed-lock.ts';
import { errCode } from '../sender.ts';
import { Transaction } from '../transaction.ts';
import type { AttachmentInfo } from '../types.ts';
import { ChunkFile } from './chunk-file.ts';
import { FileTransferError } from './file-errors.ts';
import { MAX_FILE_WINDOW_CHUNKS, type FileOptions } from './file-options.ts';
import type { FileQuota } from './file-quota.ts';
import { decodeIncoming, encodeIncoming, type IncomingFileRecord } from './file-records.ts';
import { sendFileProgress } from './progress-message.ts';

interface Incoming {
  readonly key: string;
  rec: IncomingFileRecord;
  readonly tagKey: Uint8Array;
  /** Through a group: the key this member's chunks are wrapped under. */
  readonly wrapKey: Uint8Array | undefined;
  file: ChunkFile | undefined;
  opener: FileOpener | undefined;
  /** Tags (hex) registered for this transfer → chunk index. */
  readonly tags: Map<string, number>;
  /** The same, chunk index → tag: the registered range, so a move of the window touches only its ends. */
  readonly tagOf: Map<number, string>;
  /** The registered range is the chunk indices tagFrom ≤ i < tagTo (empty when equal). */
  tagFrom: number;
  tagTo: number;
  lastChunkAt: number;
  lastReportAt: number;
  finishing: boolean;
  /** Chunk writes started and not yet awaited (a checkpoint waits for them before its sync). */
  writes: Promise<void>[];
  /** Reports what is stored when the chunks pause before the next report is due (reportOnPause). */
  pauseTimer: NodeJS.Timeout | undefined;
}

/** Chunks dropped, by reason (for tests and metrics). */
type ChunkDrop = 'Undecodable' | 'UnknownTag' | 'Duplicate' | 'OutOfOrder' | 'BadChunk' | 'Refused';

/** A duplicate chunk asks for a report at most this often per transfer (ms). */
const DUPLICATE_REPORT_INTERVAL_MS = 1000;
/**
 * No chunk for this long with chunks stored since the last report: report them (ms). A sender whose
 * window is smaller than progressEveryChunks then waits this long per window, not resendAfterMs.
 */
export const PAUSE_REPORT_MS = 50;

/** What the message of a stored file carries. */
function attachmentInfo(d: FileDescriptor): AttachmentInfo {
  return { attachmentId: toHex(d.fileId), fileName: d.fileName, contentType: d.contentType, size: d.size, sha256: d.sha256.slice() };
}

export class FileReceiver {
  private readonly transfers = new Map<string, Incoming>();
  /** Routing tag (hex) → transfer key, for the chunks around each transfer's next one. */
  private readonly tagIndex = new Map<string, string>();
  /** Completed attachments: inbox cursor → file id (hex). */
  private readonly byCursor = new Map<number, string>();
  private readonly complete = new Map<string, IncomingFileRecord>();
  private readonly locks = new KeyedLock();
  private readonly drops = new Map<ChunkDrop, number>();
  private readonly background = new Set<Promise<unknown>>();
  private closed = false;
  /** Set by Files with groups: whether this daemon is still in a group (a transfer through one it left is dropped). */
  inGroup: ((groupId: string) => boolean) | undefined;

  constructor(
    private readonly ctx: EngineContext,
    private readonly options: FileOptions,
    private readonly quota: FileQuota,
    private readonly attachmentPath: (key: string) => string,
  ) {}

  dropped(): Record<string, number> {
    return Object.fromEntries(this.drops);
  }

  get active(): number {
    return this.transfers.size;
  }

  private drop(reason: ChunkDrop): void {
    this.drops.set(reason, (this.drops.get(reason) ?? 0) + 1);
  }

  /** Loads transfers and attachments; re-opens the stored prefix of each unfinished one. Returns the files in use. */
  async load(): Promise<Set<string>> {
    for await (const r of this.ctx.store.iterate('fileIn')) {
      if (!r.ok) {
        this.ctx.log.error({ code: r.error.code }, 'an incoming file record is corrupt; skipped');
        continue;
      }
      const rec = decodeIncoming(r.value);
      const key = toHex(rec.descriptor.fileId);
      this.quota.account(rec.descriptor.chunkCount * SEALED_CHUNK_BYTES);
      if (rec.state === 'complete') {
        this.complete.set(key, rec);
        this.byCursor.set(rec.cursor, key);
        continue;
      }
      const t = this.entry(key, rec);
      this.transfers.set(key, t);
      try {
        await this.reopen(t);
      } catch (err) {
        this.ctx.log.error({ peer: rec.from, code: errCode(err) }, 'a stored partial file does not open; the transfer is refused');
        await this.refuse(t, 'corrupt');
      }
    }
    return new Set([...this.transfers.keys(), ...this.complete.keys()]);
  }

  private entry(key: string, rec: IncomingFileRecord): Incoming {
    const now = this.ctx.now();
    const member = rec.groupId === undefined ? undefined : deriveMemberFileKeys(this.ctx.crypto, rec.descriptor.fileKey, this.ctx.identity.userId);
    const tagKey = member?.tagKey ?? deriveFileKeys(this.ctx.crypto, rec.descriptor.fileKey).tagKey;
    return { key, rec, tagKey, wrapKey: member?.wrapKey, file: undefined, opener: undefined, tags: new Map(), tagOf: new Map(), tagFrom: 0, tagTo: 0, lastChunkAt: now, lastReportAt: -Infinity, finishing: false, writes: [], pauseTimer: undefined };
  }

  /** Opens the attachment file and the stored chunks again, then listens for the next ones. */
  private async reopen(t: Incoming): Promise<void> {
    t.file = await ChunkFile.open(this.attachmentPath(t.key), true);
    const opener = new FileOpener(this.ctx.crypto, t.rec.descriptor);
    for (let i = 0; i < t.rec.storedChunks; i++) {
      const sealed = await t.file.read(i);
      if (sealed === undefined) throw new FileError('TruncatedFile', 'the stored file is shorter than its record');
      opener.open(sealed);
    }
    t.opener = opener;
    this.retag(t);
  }

  /**
   * Registers the tags of the chunks around the next one: a window behind (duplicates), and as many
   * ahead as any sender's window may be (MAX_FILE_WINDOW_CHUNKS: a sender with a larger window than
   * ours is not stalled; tags are computed once each, as the window moves).
   */
  private retag(t: Incoming): void {
    const next = t.opener?.next ?? 0;
    const from = Math.max(0, next - this.options.windowChunks);
    const to = Math.min(t.rec.descriptor.chunkCount, next + MAX_FILE_WINDOW_CHUNKS);
    // The registered indices are one contiguous range. Moving forward (the usual step) drops what fell
    // out of it at either end; a move back (the opener rebuilt from what is stored) starts it afresh.
    if (from < t.tagFrom || from >= t.tagTo) this.untag(t);
    if (t.tagFrom === t.tagTo) t.tagFrom = t.tagTo = from;
    for (; t.tagFrom < from; t.tagFrom++) this.forgetTag(t, t.tagFrom);
    for (; t.tagTo > to; t.tagTo--) this.forgetTag(t, t.tagTo - 1);
    for (; t.tagTo < to; t.tagTo++) {
      const tag = toHex(chunkTag(this.ctx.crypto, t.tagKey, t.tagTo));
      t.tagOf.set(t.tagTo, tag);
      t.tags.set(tag, t.tagTo);
      this.tagIndex.set(tag, t.key);
    }
  }

  private forgetTag(t: Incoming, i: number): void {
    const tag = t.tagOf.get(i)!;
    t.tagOf.delete(i);
    t.tags.delete(tag);
    this.tagIndex.delete(tag);
  }

  private untag(t: Incoming): void {
    for (const tag of t.tags.keys()) this.tagIndex.delete(tag);
    t.tags.clear();
    t.tagOf.clear();
    t.tagFrom = t.tagTo = 0;
  }

  /** After start and each reconnection: tells every sender where its transfer stands. */
  resume(): void {
    for (const t of this.transfers.values()) this.report(t, 'receiving', 'none');
  }

  /** A descriptor from `peer`, in its receiving transaction. */
  onDescriptor(tx: Transaction, peer: UserId, c: FileContent): void {
    this.open(tx, peer, c.descriptor, c.messageId, c.sentAt, undefined);
  }

  /** A file announced to a group by `from`, in the batch that delivers the group message. */
  onGroupDescriptor(tx: Transaction, from: UserId, groupId: string, p: GroupPlaintext): void {
    let d: FileDescriptor;
    try {
      d = decodeDescriptor(p.body);
    } catch (e) {
      this.ctx.log.warn({ peer: from, code: errCode(e) }, 'a group file descriptor does not decode; dropped');
      return;
    }
    this.open(tx, from, d, p.messageId, p.sentAt, groupId);
  }

  private open(tx: Transaction, peer: UserId, d: FileDescriptor, messageId: Uint8Array, sentAt: number, groupId: string | undefined): void {
    const key = toHex(d.fileId);
    if (this.transfers.has(key) || this.complete.has(key)) {
      this.ctx.log.warn({ peer }, 'a file descriptor reuses the id of another transfer; ignored');
      return;
    }
    const bytes = d.chunkCount * SEALED_CHUNK_BYTES;
    try {
      this.quota.reserve(bytes);
    } catch (e) {
      if (!(e instanceof FileTransferError)) throw e;
      this.ctx.log.warn({ peer, size: d.size, usedBytes: this.quota.usedBytes, limitBytes: this.quota.limitBytes }, 'attachment quota exceeded: the file is refused');
      tx.onDurable(() => {
        this.track(sendFileProgress(this.ctx, peer, { fileId: d.fileId, storedChunks: 0, state: 'refused', reason: 'quota' }));
        this.publish(peer, toHex(messageId), key, 0, d.size, 'failed', groupId);
      });
      return;
    }
    const now = this.ctx.now();
    const rec: IncomingFileRecord = { from: peer, messageId, sentAt, descriptor: d, storedChunks: 0, state: 'receiving', createdAt: now, cursor: 0, ...(groupId === undefined ? {} : { groupId }) };
    tx.put('fileIn', key, encodeIncoming(rec));
    const t = this.entry(key, rec);
    tx.onApply(() => this.transfers.set(key, t));
    tx.onDurable(() => {
      this.track(
        this.locks.run(key, async () => {
          await this.reopen(t);
          this.report(t, 'receiving', 'none');
          this.publish(peer, toHex(rec.messageId), key, 0, d.size, 'transferring', groupId);
        }),
      );
    });
  }

  /** The relay's handler for chunk envelopes: resolves once the chunk is written (or dropped). */
  readonly onChunk = async (bytes: Uint8Array): Promise<void> => {
    const wrapped = isMemberChunkEnvelope(bytes);
    let env: { tag: Uint8Array; sealed?: Uint8Array; wrapped?: Uint8Array };
    try {
      env = wrapped ? decodeMemberChunkEnvelope(bytes) : decodeChunkEnvelope(bytes);
    } catch {
      this.drop('Undecodable');
      return;
    }
    const tag = toHex(env.tag);
    const key = this.tagIndex.get(tag);
    if (key === undefined) {
      this.drop('UnknownTag');
      return;
    }
    await this.locks.run(key, async () => {
      const t = this.transfers.get(key);
      const index = t?.tags.get(tag);
      if (t === undefined || index === undefined || t.opener === undefined || t.file === undefined || t.finishing || wrapped !== (t.wrapKey !== undefined)) {
        this.drop('UnknownTag');
        return;
      }
      const next = t.opener.next;
      if (index < next) {
        this.drop('Duplicate');
        // The sender went back (a lost report, or our restart): tell it where we are, now and then.
        if (this.ctx.now() - t.lastReportAt >= DUPLICATE_REPORT_INTERVAL_MS) await this.checkpoint(t);
        return;
      }
      if (index > next) {
        this.drop('OutOfOrder');
        return;
      }
      let sealed = env.sealed;
      if (env.wrapped !== undefined) {
        sealed = unwrapMemberChunk(this.ctx.crypto, t.wrapKey!, index, { tag: env.tag, wrapped: env.wrapped }) ?? undefined;
        if (sealed === undefined) {
          this.drop('BadChunk');
          this.ctx.log.debug({ peer: t.rec.from }, 'a group file chunk does not authenticate; dropped');
          return;
        }
      }
      try {
        t.opener.open(sealed!);
      } catch (e) {
        if (e instanceof FileError && e.code === 'BadChunk') {
          this.drop('BadChunk');
          this.ctx.log.debug({ peer: t.rec.from }, 'a file chunk does not authenticate; dropped');
          return;
        }
        this.ctx.log.warn({ peer: t.rec.from, code: errCode(e) }, 'the file is corrupt; the transfer is refused');
        this.drop('Refused');
        await this.refuse(t, 'corrupt');
        return;
      }
      // Not awaited here: the next chunk is opened while this one is written; the checkpoint
      // waits for the writes before it syncs and reports.
      const write = t.file.write(index, sealed!);
      write.catch(() => undefined); // handled: settleWrites sees the failure
      t.writes.push(write);
      t.lastChunkAt = this.ctx.now();
      this.retag(t);
      if (t.opener.complete) await this.finish(t);
      else if (t.opener.next - t.rec.storedChunks >= this.options.progressEveryChunks) await this.checkpoint(t);
      else this.reportOnPause(t);
    });
  };

  /** Arms (or pushes back) the pause report: PAUSE_REPORT_MS after the last chunk, what is stored is reported. */
  private reportOnPause(t: Incoming): void {
    if (t.pauseTimer !== undefined) {
      t.pauseTimer.refresh();
      return;
    }
    t.pauseTimer = setTimeout(() => {
      t.pauseTimer = undefined;
      if (this.closed) return;
      this.track(
        this.locks.run(t.key, async () => {
          if (this.transfers.get(t.key) === t && !t.finishing && t.opener !== undefined && t.opener.next > t.rec.storedChunks) await this.checkpoint(t);
        }),
      );
    }, PAUSE_REPORT_MS);
    t.pauseTimer.unref();
  }

  /**
   * Waits for the chunk writes; after a failed one the opener is rebuilt from what is stored (the
   * sender then sends the rest again).
   */
  private async settleWrites(t: Incoming): Promise<boolean> {
    const writes = t.writes.splice(0);
    const results = await Promise.allSettled(writes);
    if (results.every((r) => r.status === 'fulfilled')) return true;
    this.ctx.log.error({ peer: t.rec.from }, 'writing a file chunk failed; the transfer goes on from the last stored chunk');
    await t.file?.close().catch(() => undefined);
    t.file = undefined;
    this.untag(t);
    await this.reopen(t);
    return false;
  }

  /** Syncs the file, stores the count, then reports it. */
  private async checkpoint(t: Incoming): Promise<void> {
    if (t.file === undefined || t.opener === undefined) return;
    if (!(await this.settleWrites(t))) return this.report(t, 'receiving', 'none');
    const stored = t.opener.next;
    if (stored > t.rec.storedChunks) {
      await t.file!.sync();
      const rec = { ...t.rec, storedChunks: stored };
      await new Transaction().put('fileIn', t.key, encodeIncoming(rec)).commit(this.ctx.store, this.ctx.fatal);
      t.rec = rec;
      const d = rec.descriptor;
      this.publish(rec.from, toHex(rec.messageId), t.key, Math.min(d.size, stored * FILE_CHUNK_BYTES), d.size, 'transferring', rec.groupId);
    }
    this.report(t, 'receiving', 'none');
  }

  /** Every chunk opened and the hash matched: the message with its attachment, exactly once. */
  private async finish(t: Incoming): Promise<void> {
    if (t.file === undefined) return;
    t.finishing = true;
    if (!(await this.settleWrites(t))) {
      t.finishing = false;
      return this.report(t, 'receiving', 'none');
    }
    await t.file!.sync();
    const d = t.rec.descriptor;
    const attachment = attachmentInfo(d);
    for (;;) {
      const done = await this.ctx.inboundQueue.run(INBOUND, async () => {
        if (!this.ctx.inbox.admits(1, this.ctx.now())) return false;
        const tx = new Transaction();
        const [message] = this.ctx.inbox.add(
          tx,
          [{ messageId: t.rec.messageId, from: t.rec.from, body: new Uint8Array(0), contentType: d.contentType, sentAt: t.rec.sentAt, attachment, ...(t.rec.groupId === undefined ? {} : { groupId: t.rec.groupId }) }],
          this.ctx.now(),
        );
        const rec: IncomingFileRecord = { ...t.rec, storedChunks: d.chunkCount, state: 'complete', cursor: message!.cursor };
        tx.put('fileIn', t.key, encodeIncoming(rec));
        tx.onApply(() => {
          t.rec = rec;
          this.transfers.delete(t.key);
          this.complete.set(t.key, rec);
          this.byCursor.set(rec.cursor, t.key);
        });
        await tx.commit(this.ctx.store, this.ctx.fatal);
        return true;
      });
      if (done) break;
      if (this.closed) return;
      // The inbox is full: the file waits, stored, until the client acks something.
      await new Promise((resolve) => setTimeout(resolve, this.options.resendAfterMs).unref());
    }
    this.untag(t);
    const file = t.file;
    t.file = undefined;
    await file.close().catch(() => undefined);
    this.report(t, 'complete', 'none');
    this.publish(t.rec.from, toHex(t.rec.messageId), t.key, d.size, d.size, 'complete', t.rec.groupId);
  }

  /** Gives a transfer up: record and file deleted, the sender told why. */
  private async refuse(t: Incoming, reason: FileRefusal): Promise<void> {
    if (this.transfers.get(t.key) !== t) return;
    const tx = new Transaction().del('fileIn', t.key);
    tx.onApply(() => this.transfers.delete(t.key));
    await tx.commit(this.ctx.store, this.ctx.fatal);
    this.untag(t);
    this.quota.release(t.rec.descriptor.chunkCount * SEALED_CHUNK_BYTES);
    const file = t.file;
    t.file = undefined;
    await file?.close().catch(() => undefined);
    await ChunkFile.remove(this.attachmentPath(t.key));
    this.report(t, 'refused', reason);
    this.publish(t.rec.from, toHex(t.rec.messageId), t.key, 0, t.rec.descriptor.size, 'failed', t.rec.groupId);
  }

  private report(t: Incoming, state: FileProgress['state'], reason: FileRefusal): void {
    t.lastReportAt = this.ctx.now();
    const storedChunks = state === 'complete' ? t.rec.descriptor.chunkCount : t.rec.storedChunks;
    this.track(sendFileProgress(this.ctx, t.rec.from, { fileId: t.rec.descriptor.fileId, storedChunks, state, reason }));
  }

  /** Re-reports stalled transfers and gives up those idle past the timeout (called periodically). */
  async tick(): Promise<void> {
    const now = this.ctx.now();
    for (const t of [...this.transfers.values()]) {
      await this.locks.run(t.key, async () => {
        if (t.finishing) return;
        if (t.rec.groupId !== undefined && this.inGroup !== undefined && !this.inGroup(t.rec.groupId)) {
          this.ctx.log.info({ peer: t.rec.from }, 'an incomplete file through a group this daemon left is deleted');
          await this.refuse(t, 'expired');
        } else if (now - t.lastChunkAt > this.options.incompleteTimeoutMs) {
          this.ctx.log.warn({ peer: t.rec.from }, 'an incomplete file timed out; it is deleted');
          await this.refuse(t, 'expired');
        } else if (now - t.lastChunkAt > this.options.resendAfterMs && now - t.lastReportAt > this.options.resendAfterMs) {
          await this.checkpoint(t);
        }
      });
    }
  }

  /** Messages acked (in the ack's transaction): their attachments are deleted unless retained. */
  onAcked(tx: Transaction, acked: ReadonlyMap<string, number>): void {
    if (this.options.retainAttachments) return;
    for (const cursor of acked.values()) {
      const key = this.byCursor.get(cursor);
      if (key === undefined) continue;
      const rec = this.complete.get(key);
      tx.del('fileIn', key);
      tx.onApply(() => {
        this.byCursor.delete(cursor);
        this.complete.delete(key);
      });
      tx.onDurable(() => {
        if (rec !== undefined) this.quota.release(rec.descriptor.chunkCount * SEALED_CHUNK_BYTES);
        this.track(ChunkFile.remove(this.attachmentPath(key)));
      });
    }
  }

  /** A stored attachment (complete, not yet deleted by its ack). */
  attachment(attachmentId: string): AttachmentInfo | undefined {
    const d = this.complete.get(attachmentId.toLowerCase())?.descriptor;
    return d === undefined ? undefined : attachmentInfo(d);
  }

  /** The file's bytes from `offset`, opened and checked again chunk by chunk. */
  async *download(attachmentId: string, offset = 0): AsyncGenerator<Uint8Array> {
    const rec = this.complete.get(attachmentId.toLowerCase());
    if (rec === undefined) {
      throw new FileTransferError('AttachmentNotFound', 'no stored attachment with that id (an attachment is deleted once its message is acked, unless the daemon runs with --retain-attachments)');
    }
    const d = rec.descriptor;
    if (!Number.isSafeInteger(offset) || offset < 0 || offset > d.size) throw new FileTransferError('InvalidFile', `offset must be 0 to ${d.size}`);
    const file = await ChunkFile.open(this.attachmentPath(toHex(d.fileId)), false);
    try {
      const opener = new FileOpener(this.ctx.crypto, d);
      for (let i = 0; i < d.chunkCount; i++) {
        const sealed = await file.read(i);
        if (sealed === undefined) throw new FileTransferError('AttachmentNotFound', 'the stored attachment is incomplete');
        const data = opener.open(sealed);
        const start = i * FILE_CHUNK_BYTES;
        if (data.length === 0 || start + data.length <= offset) continue;
        yield data.slice(Math.max(0, offset - start));
      }
    } finally {
      await file.close();
    }
  }

  private publish(peer: UserId, messageId: string, key: string, bytesDone: number, bytesTotal: number, state: 'transferring' | 'complete' | 'failed', groupId?: string): void {
    this.ctx.inbox.publish({ kind: 'fileProgress', direction: 'receive', messageId, attachmentId: key, peer, bytesDone, bytesTotal, state, ...(groupId === undefined ? {} : { groupId }), at: this.ctx.now() });
  }

  private track(p: Promise<unknown>): void {
    const wrapped = p.catch((err: unknown) => this.ctx.log.warn({ code: errCode(err), err: errCode(err) === undefined ? err : undefined }, 'file transfer step failed'));
    this.background.add(wrapped);
    void wrapped.then(() => this.background.delete(wrapped));
  }

  async close(): Promise<void> {
    this.closed = true;
    for (const t of this.transfers.values()) clearTimeout(t.pauseTimer);
    await Promise.allSettled([...this.background]);
    for (const t of this.transfers.values()) {
      await this.locks.run(t.key, async () => {
        const file = t.file;
        t.file = undefined;
        await file?.close().catch(() => undefined);
      });
    }
  }
}
