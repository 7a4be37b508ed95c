/**
 * Sends files: SendFile's bytes are sealed chunk by chunk into a spool (DATA/files/out/<id>), which
 * is synced before the descriptor message is sent; the chunks then leave from the spool, at most
 * `windowChunks` beyond what the recipient has reported stored. The recipient's reports (file
 * progress contents, taken in the receiving transaction) move the window and are durable with the
 * session state, so after a restart of either side nothing it reported is sent again. Without a
 * report for `resendAfterMs` the window is sent again from the last report (chunks lost with a
 * broker or a recipient restart); without one for `incompleteTimeoutMs` the transfer is given up.
 * Memory per transfer: one chunk being sealed, and the window's chunks in the relay client's queue.
 */
import { toHex } from '../../../core/bytes.ts';
import { encodeContent } from '../../../core/content.ts';
import { ENVELOPE_KIND_FILE_CHUNK, FILE_CHUNK_ENVELOPE_BYTES } from '../../../core/file/chunk-envelope.ts';
import { PROTOCOL_VERSION, ROUTING_TAG_BYTES } from '../../../core/limits.ts';
import { FileError } from '../../../core/file/errors.ts';
import { MAX_FILE_CONTENT_TYPE_BYTES } from '../../../core/file/descriptor.ts';
import { FILE_CHUNK_BYTES, MAX_FILE_NAME_BYTES, SEALED_CHUNK_BYTES, chunkTag, deriveFileKeys } from '../../../core/file/format.ts';
import type { FileProgress } from '../../../core/file/progress.ts';
import { FileSealer } from '../../../core/file/seal.ts';
import { utf8 } from '../../../core/bytes.ts';
import { encryptForPeer } from '../../../core/index.ts';
import type { UserId } from '../../../core/user-id.ts';
import type { EngineContext } from '../context.ts';
import { EngineError } from '../errors.ts';
import { errCode, type Sender } from '../sender.ts';
import { Transaction } from '../transaction.ts';
import { ChunkFile } from './chunk-file.ts';
import { FileTransferError } from './file-errors.ts';
import type { FileOptions } from './file-options.ts';
import type { FileQuota } from './file-quota.ts';
import { decodeOutgoing, encodeOutgoing, type OutgoingFileRecord } from './file-records.ts';

export interface SendFileHeader {
  to: UserId;
  fileName: string;
  contentType?: string;
  /** The size the caller announces (0 or absent: unknown); a different actual size is refused. */
  size?: number;
}

interface Outgoing {
  readonly key: string;
  rec: OutgoingFileRecord;
  readonly tagKey: Uint8Array;
  file: ChunkFile | undefined;
  /** The next chunk to publish. */
  nextToSend: number;
  lastProgressAt: number;
  pumping: boolean;
}

const DEFAULT_FILE_CONTENT_TYPE = 'application/octet-stream';
/** version ‖ kind ‖ routing tag, before the sealed chunk (core/file/chunk-envelope.ts). */
const CHUNK_ENVELOPE_HEADER_BYTES = 2 + ROUTING_TAG_BYTES;

export class FileSender {
  private readonly transfers = new Map<string, Outgoing>();
  /** Chunk envelope buffers the broker has acknowledged, reused (a window's worth at most): no allocation per chunk. */
  private readonly envelopes: Uint8Array[] = [];
  private closed = false;

  constructor(
    private readonly ctx: EngineContext,
    private readonly sender: Sender,
    private readonly options: FileOptions,
    private readonly quota: FileQuota,
    private readonly spoolPath: (key: string) => string,
  ) {}

  /** Transfers still sending (for status and tests). */
  get active(): number {
    return this.transfers.size;
  }

  /** Loads unfinished transfers; finished ones left by a crash are cleaned up. Returns the spools in use. */
  async load(): Promise<Set<string>> {
    const tx = new Transaction();
    const removed: string[] = [];
    for await (const r of this.ctx.store.iterate('fileOut')) {
      if (!r.ok) {
        this.ctx.log.error({ code: r.error.code }, 'an outgoing file record is corrupt; skipped');
        continue;
      }
      const rec = decodeOutgoing(r.value);
      const key = toHex(rec.descriptor.fileId);
      if (rec.state !== 'sending') {
        tx.del('fileOut', r.key);
        removed.push(key);
        continue;
      }
      this.quota.account(rec.descriptor.chunkCount * SEALED_CHUNK_BYTES);
      this.transfers.set(key, this.entry(key, rec));
    }
    if (tx.ops.length > 0) await tx.commit(this.ctx.store, this.ctx.fatal);
    for (const key of removed) await ChunkFile.remove(this.spoolPath(key));
    return new Set(this.transfers.keys());
  }

  private entry(key: string, rec: OutgoingFileRecord): Outgoing {
    return { key, rec, tagKey: deriveFileKeys(this.ctx.crypto, rec.descriptor.fileKey).tagKey, file: undefined, nextToSend: rec.ackedChunks, lastProgressAt: this.ctx.now(), pumping: false };
  }

  /** After a (re)connection: transfers the recipient has answered resume from its last report. */
  resume(): void {
    for (const t of this.transfers.values()) {
      t.nextToSend = t.rec.ackedChunks;
      if (t.rec.started) this.pump(t);
    }
  }

  /**
   * Seals the bytes into a spool, then sends the descriptor; resolves with the message id once the
   * descriptor message is durable in the outbox (the chunks follow as the recipient answers).
   */
  async send(header: SendFileHeader, source: AsyncIterable<Uint8Array>): Promise<{ messageId: string; attachmentId: string }> {
    const { ctx } = this;
    if (header.to === ctx.identity.userId) throw new EngineError('InvalidArgument', 'cannot send a file to yourself');
    const contentType = header.contentType === undefined || header.contentType === '' ? DEFAULT_FILE_CONTENT_TYPE : header.contentType;
    if (header.fileName === '' || utf8.encode(header.fileName).length > MAX_FILE_NAME_BYTES) throw new FileTransferError('InvalidFile', `the file name must have 1 to ${MAX_FILE_NAME_BYTES} bytes`);
    if (utf8.encode(contentType).length > MAX_FILE_CONTENT_TYPE_BYTES) throw new FileTransferError('InvalidFile', `the content type may have at most ${MAX_FILE_CONTENT_TYPE_BYTES} bytes`);
    const sealer = new FileSealer(ctx.crypto);
    const key = toHex(sealer.fileId);
    const path = this.spoolPath(key);
    const file = await ChunkFile.open(path, true);
    let reserved = 0;
    const put = async (index: number, sealed: Uint8Array): Promise<void> => {
      this.quota.reserve(SEALED_CHUNK_BYTES);
      reserved += SEALED_CHUNK_BYTES;
      await file.write(index, sealed);
    };
    let committed = false;
    try {
      try {
        for await (const data of source) {
          for (const c of sealer.write(data)) await put(c.index, c.sealed);
        }
      } catch (e) {
        if (e instanceof FileError && e.code === 'FileTooLarge') throw new FileTransferError('InvalidFile', e.message);
        throw e;
      }
      if (header.size !== undefined && header.size > 0 && header.size !== sealer.bytes) {
        throw new FileTransferError('InvalidFile', `the header announced ${header.size} bytes but ${sealer.bytes} came`);
      }
      const { descriptor, rest } = sealer.finish(header.fileName, contentType);
      for (const c of rest) await put(c.index, c.sealed);
      await file.sync();
      const { messageId, seq, durable } = await this.sender.withSession(header.to, false, async ({ handle, record, tx }) => {
        const now = ctx.now();
        const { envelope, next, content } = encryptForPeer(ctx.crypto, ctx.identity, record, { kind: 'file', descriptor }, now);
        ctx.peers.write(tx, handle, next);
        const seq = ctx.outbox.add(tx, { to: header.to, messageId: content.messageId, contentSeq: content.seq, content: encodeContent(content), createdAt: now, envelope });
        ctx.contacts.touch(tx, header.to, now);
        const rec: OutgoingFileRecord = { to: header.to, messageId: content.messageId, descriptor, ackedChunks: 0, started: false, state: 'sending', createdAt: now };
        tx.put('fileOut', key, encodeOutgoing(rec));
        const entry = this.entry(key, rec);
        entry.file = file;
        tx.onApply(() => this.transfers.set(key, entry));
        return { messageId: toHex(content.messageId), seq, durable: tx.stage(ctx.store, ctx.fatal) };
      });
      committed = true;
      await durable;
      void ctx.outbox.publish(seq);
      this.event(this.transfers.get(key), 'transferring');
      return { messageId, attachmentId: key };
    } finally {
      if (!committed) {
        this.quota.release(reserved);
        await file.close().catch(() => undefined);
        await ChunkFile.remove(path);
      }
    }
  }

  /** A progress report from `peer`, taken into its receiving transaction. */
  onProgress(tx: Transaction, peer: UserId, p: FileProgress): void {
    const key = toHex(p.fileId);
    const t = this.transfers.get(key);
    if (t === undefined || t.rec.to !== peer) {
      this.ctx.log.debug({ peer }, 'file progress for no transfer to this peer; ignored');
      return;
    }
    const n = t.rec.descriptor.chunkCount;
    if (p.storedChunks > n || (p.state === 'complete' && p.storedChunks !== n)) {
      this.ctx.log.warn({ peer }, 'file progress beyond the file; ignored');
      return;
    }
    if (p.state === 'receiving') {
      const forward = p.storedChunks > t.rec.ackedChunks;
      const acked = Math.max(t.rec.ackedChunks, p.storedChunks);
      const rec = { ...t.rec, ackedChunks: acked, started: true };
      tx.put('fileOut', key, encodeOutgoing(rec));
      tx.onApply(() => (t.rec = rec));
      tx.onDurable(() => {
        t.lastProgressAt = this.ctx.now();
        // A report that does not move forward means the recipient waits for chunk `acked` (it
        // restarted, or chunks were lost with the broker): go back to it. One that moves forward
        // only opens the window further.
        t.nextToSend = forward ? Math.max(t.nextToSend, acked) : acked;
        this.event(t, 'transferring');
        this.pump(t);
      });
      return;
    }
    tx.del('fileOut', key);
    tx.onApply(() => this.transfers.delete(key));
    tx.onDurable(() => {
      if (p.state === 'refused') this.ctx.log.warn({ peer, reason: p.reason }, 'the recipient refused the file');
      t.rec = { ...t.rec, ackedChunks: p.state === 'complete' ? n : t.rec.ackedChunks, state: p.state === 'complete' ? 'complete' : 'refused' };
      this.event(t, p.state === 'complete' ? 'complete' : 'failed');
      void this.dispose(t);
    });
  }

  /** Publishes the window's unsent chunks (not awaiting each PUBACK: the window bounds what is queued). */
  private pump(t: Outgoing): void {
    if (t.pumping || this.closed) return;
    t.pumping = true;
    void (async () => {
      try {
        t.file ??= await ChunkFile.open(this.spoolPath(t.key), false);
        const n = t.rec.descriptor.chunkCount;
        while (!this.closed && this.transfers.get(t.key) === t && this.ctx.relay.connected) {
          const index = t.nextToSend;
          if (index >= n || index >= t.rec.ackedChunks + this.options.windowChunks) break;
          // The envelope is built in place: the sealed chunk read from the spool behind its header.
          const envelope = this.envelopes.pop() ?? new Uint8Array(FILE_CHUNK_ENVELOPE_BYTES);
          envelope[0] = PROTOCOL_VERSION;
          envelope[1] = ENVELOPE_KIND_FILE_CHUNK;
          envelope.set(chunkTag(this.ctx.crypto, t.tagKey, index), 2);
          if (!(await t.file.readInto(index, envelope, CHUNK_ENVELOPE_HEADER_BYTES))) throw new Error('the spool is shorter than the file');
          t.nextToSend = index + 1;
          this.ctx.relay.publishEnvelope(t.rec.to, envelope).then(
            // Taken by the broker: the relay client no longer needs the bytes, they may be reused.
            () => {
              if (this.envelopes.length < this.options.windowChunks) this.envelopes.push(envelope);
            },
            (err: unknown) => this.ctx.log.debug({ code: errCode(err) }, 'file chunk not published; resent later'),
          );
        }
      } catch (err) {
        this.ctx.log.error({ err }, 'file spool unreadable: the transfer is given up');
        await this.giveUp(t);
      } finally {
        t.pumping = false;
      }
    })();
  }

  /** Resends stalled windows and gives up transfers idle past the timeout (called periodically). */
  async tick(): Promise<void> {
    const now = this.ctx.now();
    for (const t of [...this.transfers.values()]) {
      if (now - t.lastProgressAt > this.options.incompleteTimeoutMs) {
        this.ctx.log.warn({ peer: t.rec.to }, 'no progress from the recipient: the file transfer is given up');
        await this.giveUp(t);
      } else if (t.rec.started && now - t.lastProgressAt > this.options.resendAfterMs && t.nextToSend > t.rec.ackedChunks) {
        t.nextToSend = t.rec.ackedChunks;
        t.lastProgressAt = now;
        this.pump(t);
      }
    }
  }

  private async giveUp(t: Outgoing): Promise<void> {
    if (this.transfers.get(t.key) !== t) return;
    const tx = new Transaction().del('fileOut', t.key);
    tx.onApply(() => this.transfers.delete(t.key));
    await tx.commit(this.ctx.store, this.ctx.fatal);
    this.event(t, 'failed');
    await this.dispose(t);
  }

  private async dispose(t: Outgoing): Promise<void> {
    this.quota.release(t.rec.descriptor.chunkCount * SEALED_CHUNK_BYTES);
    const file = t.file;
    t.file = undefined;
    await file?.close().catch(() => undefined);
    await ChunkFile.remove(this.spoolPath(t.key));
  }

  private event(t: Outgoing | undefined, state: 'transferring' | 'complete' | 'failed'): void {
    if (t === undefined) return;
    const d = t.rec.descriptor;
    this.ctx.inbox.publish({
      kind: 'fileProgress',
      direction: 'send',
      messageId: toHex(t.rec.messageId),
      attachmentId: t.key,
      peer: t.rec.to,
      bytesDone: Math.min(d.size, t.rec.ackedChunks * FILE_CHUNK_BYTES),
      bytesTotal: d.size,
      state,
      at: this.ctx.now(),
    });
  }

  async close(): Promise<void> {
    this.closed = true;
    for (const t of this.transfers.values()) {
      const file = t.file;
      t.file = undefined;
      await file?.close().catch(() => undefined);
    }
  }
}
