/**
 * Sends files: SendFile's bytes are sealed chunk by chunk into a spool (DATA/files/out/<id>), which
 * is synced before the descriptor message is sent; the chunks then leave from the spool, at most
 * `windowChunks` beyond what the recipient has reported stored. The recipient's reports (file
 * progress contents, taken in the receiving transaction) move the window and are durable with the
 * session state, so after a restart of either side nothing it reported is sent again. Without a
 * report for `resendAfterMs` the window is sent again from the last report (chunks lost with a
 * broker or a recipient restart); without one for `incompleteTimeoutMs` the transfer is given up.
 * Memory per transfer: while sealing, the few chunk buffers that go round between the sealer and the
 * spool writes; then the window's chunks in the relay client's queue.
 *
 * To a group (groupId): the file is sealed once into one spool; the descriptor travels as one group
 * message (groups.ts sendFileIn) to every member, and each member gets its own transfer record (key
 * = file id ‖ ":" ‖ member) with its own window, progress and resumption, its chunks wrapped for it
 * alone (core/file/member-chunk.ts). Chunks in flight to the broker (not yet PUBACKed) are at most
 * `windowChunks` per spool whatever the number of members; a slow or offline member only stops its
 * own window (the broker queues at most a window for it), never the others, and costs no memory. A
 * member removed from the group before its transfer is done gets no further chunk.
 *
 * An idempotency key (as Send's, same table and retention): a repeat with the same key and the same
 * request (recipient, name, content type, SHA-256 of the bytes) returns the first message id and
 * sends nothing; another request under the key is IdempotencyConflict. The repeat's bytes are only
 * hashed, never spooled.
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
import { concat, utf8 } from '../../../core/bytes.ts';
import { MESSAGE_ID_BYTES } from '../../../core/content.ts';
import { encodeDescriptor } from '../../../core/file/descriptor.ts';
import { deriveMemberFileKeys, wrapMemberChunk, type MemberFileKeys } from '../../../core/file/member-chunk.ts';
import { encryptForPeer } from '../../../core/index.ts';
import type { IdempotencyScope } from '../idempotency.ts';
import type { UserId } from '../../../core/user-id.ts';
import type { EngineContext } from '../context.ts';
import { EngineError } from '../errors.ts';
import { errCode, type Sender } from '../sender.ts';
import { Transaction } from '../transaction.ts';
import { ChunkFile, PipelinedChunkWrites } from './chunk-file.ts';
import { FileTransferError } from './file-errors.ts';
import type { FileOptions } from './file-options.ts';
import type { FileQuota } from './file-quota.ts';
import { decodeOutgoing, encodeOutgoing, type OutgoingFileRecord } from './file-records.ts';

export interface SendFileHeader {
  /** The recipient; exactly one of `to` and `groupId`. */
  to?: UserId;
  /** The group (every member but this daemon gets the file). */
  groupId?: string;
  /** As Send's: the same key again returns the first message id and sends nothing. */
  idempotencyKey?: string;
  fileName: string;
  contentType?: string;
  /** The size the caller announces (0 or absent: unknown); a different actual size is refused. */
  size?: number;
}

/** What a file to a group needs of the groups (groups/groups.ts). */
export interface GroupFileHost {
  /** Throws as a group send would (unknown group, not a member). */
  checkSendable(groupId: string): void;
  isMember(groupId: string, member: UserId): boolean;
  /** The descriptor's group message, in tx; returns the members it is addressed to. */
  sendFileIn(tx: Transaction, groupId: string, body: Uint8Array, messageId: Uint8Array): UserId[];
}

/** One spool (DATA/files/out/<file id>), shared by the transfers of one file (one per member of a group). */
interface Spool {
  readonly key: string;
  readonly chunkCount: number;
  opening: Promise<ChunkFile> | undefined;
  /** Transfers using it; the spool is deleted when the last one ends. */
  users: number;
  /** Chunk envelopes handed to the relay client and not yet taken by the broker. */
  inflight: number;
  /** Transfers stopped because `inflight` reached the window. */
  readonly waiting: Set<Outgoing>;
}

interface Outgoing {
  /** The record key: the file id (hex), or for a group member file id ‖ ":" ‖ member. */
  readonly key: string;
  readonly spool: Spool;
  rec: OutgoingFileRecord;
  readonly tagKey: Uint8Array;
  /** A group member's keys (its chunks are wrapped for it); undefined for a file to one peer. */
  readonly member: MemberFileKeys | undefined;
  /** The next chunk to publish. */
  nextToSend: number;
  lastProgressAt: number;
  pumping: boolean;
  ended: boolean;
}

const recordKey = (fileKey: string, rec: Pick<OutgoingFileRecord, 'to' | 'groupId'>): string => (rec.groupId === undefined ? fileKey : `${fileKey}:${rec.to}`);

const DEFAULT_FILE_CONTENT_TYPE = 'application/octet-stream';
/** Spool writes under way at once while a file is sealed (each holds one sealed chunk). */
const SPOOL_WRITES_IN_FLIGHT = 8;
/** While a file is sealed its spool is synced in the background every this many chunks (8 MiB). */
const SPOOL_SYNC_EVERY_CHUNKS = 128;
/** version ‖ kind ‖ routing tag, before the sealed chunk (core/file/chunk-envelope.ts). */
const CHUNK_ENVELOPE_HEADER_BYTES = 2 + ROUTING_TAG_BYTES;

export class FileSender {
  private readonly transfers = new Map<string, Outgoing>();
  private readonly spools = new Map<string, Spool>();
  /** Set by Files once groups exist: files to groups. */
  groups: GroupFileHost | undefined;
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
      const fileKey = toHex(rec.descriptor.fileId);
      if (rec.state !== 'sending') {
        tx.del('fileOut', r.key);
        removed.push(fileKey);
        continue;
      }
      const spool = this.spoolFor(fileKey, rec.descriptor.chunkCount, true);
      this.transfers.set(r.key, this.entry(r.key, rec, spool));
    }
    if (tx.ops.length > 0) await tx.commit(this.ctx.store, this.ctx.fatal);
    for (const key of removed) if (!this.spools.has(key)) await ChunkFile.remove(this.spoolPath(key));
    return new Set(this.spools.keys());
  }

  /** The spool of a file, counted once in the quota (`account`: at load; a new one reserves as it is sealed). */
  private spoolFor(key: string, chunkCount: number, account: boolean): Spool {
    let spool = this.spools.get(key);
    if (spool === undefined) {
      spool = { key, chunkCount, opening: undefined, users: 0, inflight: 0, waiting: new Set() };
      this.spools.set(key, spool);
      if (account) this.quota.account(chunkCount * SEALED_CHUNK_BYTES);
    }
    spool.users += 1;
    return spool;
  }

  private entry(key: string, rec: OutgoingFileRecord, spool: Spool): Outgoing {
    const member = rec.groupId === undefined ? undefined : deriveMemberFileKeys(this.ctx.crypto, rec.descriptor.fileKey, rec.to);
    const tagKey = member?.tagKey ?? deriveFileKeys(this.ctx.crypto, rec.descriptor.fileKey).tagKey;
    return { key, spool, rec, tagKey, member, nextToSend: rec.ackedChunks, lastProgressAt: this.ctx.now(), pumping: false, ended: false };
  }

  private openSpool(spool: Spool): Promise<ChunkFile> {
    spool.opening ??= ChunkFile.open(this.spoolPath(spool.key), false);
    return spool.opening;
  }

  /** After a (re)connection: transfers the recipient has answered resume from its last report. */
  resume(): void {
    for (const t of this.transfers.values()) {
      t.nextToSend = t.rec.ackedChunks;
      if (t.rec.started) this.pump(t);
    }
  }

  /**
   * Seals the bytes into a spool, then sends the descriptor (to the peer, or as one group message to
   * every member); resolves with the message id once the descriptor message is durable in the
   * outbox (the chunks follow as each recipient answers).
   */
  async send(header: SendFileHeader, source: AsyncIterable<Uint8Array>): Promise<{ messageId: string; attachmentId: string }> {
    const { ctx } = this;
    if ((header.to === undefined) === (header.groupId === undefined)) throw new EngineError('InvalidArgument', 'give exactly one of to and groupId');
    if (header.to === ctx.identity.userId) throw new EngineError('InvalidArgument', 'cannot send a file to yourself');
    const contentType = header.contentType === undefined || header.contentType === '' ? DEFAULT_FILE_CONTENT_TYPE : header.contentType;
    if (header.fileName === '' || utf8.encode(header.fileName).length > MAX_FILE_NAME_BYTES) throw new FileTransferError('InvalidFile', `the file name must have 1 to ${MAX_FILE_NAME_BYTES} bytes`);
    if (utf8.encode(contentType).length > MAX_FILE_CONTENT_TYPE_BYTES) throw new FileTransferError('InvalidFile', `the content type may have at most ${MAX_FILE_CONTENT_TYPE_BYTES} bytes`);
    if (header.groupId !== undefined) {
      if (this.groups === undefined) throw new EngineError('InvalidArgument', 'files to groups are not enabled');
      this.groups.checkSendable(header.groupId);
    }
    const target = header.to !== undefined ? `to:${header.to}` : `group:${header.groupId!}`;
    const requestHash = (sha256: Uint8Array): Uint8Array =>
      ctx.crypto.sha256(concat(utf8.encode('file:'), utf8.encode(target), Uint8Array.of(0), utf8.encode(header.fileName), Uint8Array.of(0), utf8.encode(contentType), Uint8Array.of(0), sha256));
    return this.sender.runIdempotent(header.idempotencyKey, undefined, async (scope) => {
      if (scope !== undefined) {
        const existing = await ctx.idempotency.find(scope);
        if (existing !== undefined) return this.repeat(header, source, existing, requestHash);
      }
      return this.sealAndSend(header, contentType, source, scope, requestHash);
    });
  }

  /** A repeat under a used idempotency key: the bytes are hashed (not spooled) and compared. */
  private async repeat(
    header: SendFileHeader,
    source: AsyncIterable<Uint8Array>,
    existing: { messageId: Uint8Array; to: UserId; requestHash: Uint8Array },
    requestHash: (sha256: Uint8Array) => Uint8Array,
  ): Promise<{ messageId: string; attachmentId: string }> {
    const hash = this.ctx.crypto.sha256Stream();
    let bytes = 0;
    for await (const data of source) {
      hash.update(data);
      bytes += data.length;
    }
    if (header.size !== undefined && header.size > 0 && header.size !== bytes) throw new FileTransferError('InvalidFile', `the header announced ${header.size} bytes but ${bytes} came`);
    if (!this.ctx.crypto.equal(existing.requestHash, requestHash(hash.digest()))) throw new EngineError('IdempotencyConflict', 'this idempotency key was already used for another message');
    const messageId = toHex(existing.messageId);
    const attachmentId = [...this.transfers.values()].find((t) => toHex(t.rec.messageId) === messageId)?.spool.key ?? '';
    return { messageId, attachmentId };
  }

  private async sealAndSend(
    header: SendFileHeader,
    contentType: string,
    source: AsyncIterable<Uint8Array>,
    scope: IdempotencyScope | undefined,
    requestHash: (sha256: Uint8Array) => Uint8Array,
  ): Promise<{ messageId: string; attachmentId: string }> {
    const { ctx } = this;
    const sealer = new FileSealer(ctx.crypto);
    const key = toHex(sealer.fileId);
    const path = this.spoolPath(key);
    const file = await ChunkFile.open(path, true);
    // A few buffers go round: sealed into, written, free again (no allocation per chunk).
    const free: Uint8Array[] = [];
    sealer.useBuffers(() => free.pop() ?? new Uint8Array(SEALED_CHUNK_BYTES));
    const writes = new PipelinedChunkWrites(file, SPOOL_WRITES_IN_FLIGHT, (buffer) => free.push(buffer), SPOOL_SYNC_EVERY_CHUNKS);
    let reserved = 0;
    const put = async (index: number, sealed: Uint8Array): Promise<void> => {
      this.quota.reserve(SEALED_CHUNK_BYTES);
      reserved += SEALED_CHUNK_BYTES;
      await writes.write(index, sealed);
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
      await writes.drain();
      await file.sync();
      const hash = requestHash(descriptor.sha256);
      const now = ctx.now();
      const record = (tx: Transaction, to: UserId, messageId: Uint8Array, groupId: string | undefined, spool: Spool): void => {
        const rec: OutgoingFileRecord = { to, messageId, descriptor, ackedChunks: 0, started: false, state: 'sending', createdAt: now, ...(groupId === undefined ? {} : { groupId }) };
        const rkey = recordKey(key, rec);
        tx.put('fileOut', rkey, encodeOutgoing(rec));
        const entry = this.entry(rkey, rec, spool);
        tx.onApply(() => this.transfers.set(rkey, entry));
      };
      let messageId: string;
      if (header.groupId !== undefined) {
        const groupId = header.groupId;
        const id = ctx.crypto.randomBytes(MESSAGE_ID_BYTES);
        // from the group message to the staged batch: synchronous (groups/group-state.ts)
        const tx = new Transaction();
        const members = this.groups!.sendFileIn(tx, groupId, encodeDescriptor(descriptor), id);
        if (members.length === 0) throw new EngineError('InvalidArgument', 'the group has no other member to send the file to');
        const spool = this.spoolFor(key, descriptor.chunkCount, false);
        spool.users = 0;
        for (const m of members) {
          spool.users += 1;
          record(tx, m, id, groupId, spool);
        }
        if (scope !== undefined) ctx.idempotency.record(tx, scope, { messageId: id, to: ctx.identity.userId, requestHash: hash }, now);
        committed = true;
        await tx.commit(ctx.store, ctx.fatal);
        messageId = toHex(id);
      } else {
        const to = header.to!;
        const sent = await this.sender.withSession(to, false, async ({ handle, record: peer, tx }) => {
          const { envelope, next, content } = encryptForPeer(ctx.crypto, ctx.identity, peer, { kind: 'file', descriptor }, now);
          ctx.peers.write(tx, handle, next);
          const seq = ctx.outbox.add(tx, { to, messageId: content.messageId, contentSeq: content.seq, content: encodeContent(content), createdAt: now, envelope });
          ctx.contacts.touch(tx, to, now);
          record(tx, to, content.messageId, undefined, this.spoolFor(key, descriptor.chunkCount, false));
          if (scope !== undefined) ctx.idempotency.record(tx, scope, { messageId: content.messageId, to, requestHash: hash }, now);
          return { messageId: toHex(content.messageId), seq, durable: tx.stage(ctx.store, ctx.fatal) };
        });
        committed = true;
        await sent.durable;
        void ctx.outbox.publish(sent.seq);
        messageId = sent.messageId;
      }
      const spool = this.spools.get(key);
      if (spool !== undefined) spool.opening = Promise.resolve(file);
      for (const t of this.transfers.values()) if (t.spool.key === key) this.event(t, 'transferring');
      return { messageId, attachmentId: key };
    } finally {
      if (!committed) {
        this.spools.delete(key);
        this.quota.release(reserved);
        await writes.drain().catch(() => undefined);
        await file.close().catch(() => undefined);
        await ChunkFile.remove(path);
      }
    }
  }

  /** A progress report from `peer`, taken into its receiving transaction. */
  onProgress(tx: Transaction, peer: UserId, p: FileProgress): void {
    const fileKey = toHex(p.fileId);
    let t = this.transfers.get(fileKey);
    if (t === undefined || t.rec.to !== peer) t = this.transfers.get(`${fileKey}:${peer}`);
    if (t === undefined || t.rec.to !== peer) {
      this.ctx.log.debug({ peer }, 'file progress for no transfer to this peer; ignored');
      return;
    }
    const n = t.rec.descriptor.chunkCount;
    if (p.storedChunks > n || (p.state === 'complete' && p.storedChunks !== n)) {
      this.ctx.log.warn({ peer }, 'file progress beyond the file; ignored');
      return;
    }
    const key = t.key;
    const transfer = t;
    if (p.state === 'receiving') {
      const forward = p.storedChunks > transfer.rec.ackedChunks;
      const acked = Math.max(transfer.rec.ackedChunks, p.storedChunks);
      const rec = { ...transfer.rec, ackedChunks: acked, started: true };
      tx.put('fileOut', key, encodeOutgoing(rec));
      tx.onApply(() => (transfer.rec = rec));
      tx.onDurable(() => {
        transfer.lastProgressAt = this.ctx.now();
        // A report that does not move forward means the recipient waits for chunk `acked` (it
        // restarted, or chunks were lost with the broker): go back to it. One that moves forward
        // only opens the window further.
        transfer.nextToSend = forward ? Math.max(transfer.nextToSend, acked) : acked;
        this.event(transfer, 'transferring');
        this.pump(transfer);
      });
      return;
    }
    tx.del('fileOut', key);
    tx.onApply(() => this.transfers.delete(key));
    tx.onDurable(() => {
      if (p.state === 'refused') this.ctx.log.warn({ peer, reason: p.reason }, 'the recipient refused the file');
      transfer.rec = { ...transfer.rec, ackedChunks: p.state === 'complete' ? n : transfer.rec.ackedChunks, state: p.state === 'complete' ? 'complete' : 'refused' };
      this.event(transfer, p.state === 'complete' ? 'complete' : 'failed');
      void this.dispose(transfer);
    });
  }

  /**
   * Publishes the window's unsent chunks (not awaiting each PUBACK: the window bounds what is
   * queued), at most `windowChunks` of the spool's chunks in flight to the broker at a time.
   */
  private pump(t: Outgoing): void {
    if (t.pumping || this.closed || t.ended) return;
    t.pumping = true;
    void (async () => {
      try {
        const groupId = t.rec.groupId;
        if (groupId !== undefined && this.groups !== undefined && !this.groups.isMember(groupId, t.rec.to)) {
          this.ctx.log.info({ peer: t.rec.to }, 'the member left the group: its file transfer is given up');
          t.pumping = false;
          await this.giveUp(t);
          return;
        }
        const file = await this.openSpool(t.spool);
        const n = t.rec.descriptor.chunkCount;
        const spool = t.spool;
        while (!this.closed && this.transfers.get(t.key) === t && this.ctx.relay.connected) {
          const index = t.nextToSend;
          if (index >= n || index >= t.rec.ackedChunks + this.options.windowChunks) break;
          if (spool.inflight >= this.options.windowChunks) {
            spool.waiting.add(t);
            break;
          }
          // The slot is taken before the read: pumps of other members interleave at the await.
          spool.inflight += 1;
          const settle = (): void => {
            spool.inflight -= 1;
            for (const w of spool.waiting) {
              spool.waiting.delete(w);
              this.pump(w);
              if (spool.inflight >= this.options.windowChunks) break;
            }
          };
          let envelope: Uint8Array;
          let reusable = false;
          try {
            if (t.member === undefined) {
              // The envelope is built in place: the sealed chunk read from the spool behind its header.
              envelope = this.envelopes.pop() ?? new Uint8Array(FILE_CHUNK_ENVELOPE_BYTES);
              reusable = true;
              envelope[0] = PROTOCOL_VERSION;
              envelope[1] = ENVELOPE_KIND_FILE_CHUNK;
              envelope.set(chunkTag(this.ctx.crypto, t.tagKey, index), 2);
              if (!(await file.readInto(index, envelope, CHUNK_ENVELOPE_HEADER_BYTES))) throw new Error('the spool is shorter than the file');
            } else {
              const sealed = await file.read(index);
              if (sealed === undefined) throw new Error('the spool is shorter than the file');
              envelope = wrapMemberChunk(this.ctx.crypto, t.member, index, sealed);
            }
          } catch (e) {
            settle();
            throw e;
          }
          t.nextToSend = index + 1;
          this.ctx.relay.publishEnvelope(t.rec.to, envelope).then(
            // Taken by the broker: the relay client no longer needs the bytes, they may be reused.
            () => {
              if (reusable && this.envelopes.length < this.options.windowChunks) this.envelopes.push(envelope);
              settle();
            },
            (err: unknown) => {
              this.ctx.log.debug({ code: errCode(err) }, 'file chunk not published; resent later');
              settle();
            },
          );
        }
      } catch (err) {
        this.ctx.log.error({ err }, 'file spool unreadable: the transfer is given up');
        t.pumping = false;
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

  /** The transfer is over; the last one of its spool deletes it. */
  private async dispose(t: Outgoing): Promise<void> {
    if (t.ended) return;
    t.ended = true;
    const spool = t.spool;
    spool.waiting.delete(t);
    spool.users -= 1;
    if (spool.users > 0) return;
    if (this.spools.get(spool.key) === spool) this.spools.delete(spool.key);
    this.quota.release(spool.chunkCount * SEALED_CHUNK_BYTES);
    const opening = spool.opening;
    spool.opening = undefined;
    if (opening !== undefined) await opening.then((f) => f.close()).catch(() => undefined);
    await ChunkFile.remove(this.spoolPath(spool.key));
  }

  private event(t: Outgoing | undefined, state: 'transferring' | 'complete' | 'failed'): void {
    if (t === undefined) return;
    const d = t.rec.descriptor;
    this.ctx.inbox.publish({
      kind: 'fileProgress',
      direction: 'send',
      messageId: toHex(t.rec.messageId),
      attachmentId: t.spool.key,
      peer: t.rec.to,
      bytesDone: Math.min(d.size, t.rec.ackedChunks * FILE_CHUNK_BYTES),
      bytesTotal: d.size,
      state,
      ...(t.rec.groupId === undefined ? {} : { groupId: t.rec.groupId }),
      at: this.ctx.now(),
    });
  }

  async close(): Promise<void> {
    this.closed = true;
    for (const spool of this.spools.values()) {
      const opening = spool.opening;
      spool.opening = undefined;
      await opening?.then((f) => f.close()).catch(() => undefined);
    }
  }
}
