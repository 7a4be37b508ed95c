/**
 * File transfers of one daemon: the sender and receiver halves, their shared disk quota, the hooks
 * into the receiving path (descriptors and progress reports in the receiving transaction, chunk
 * envelopes before it) and into acks (attachments deleted), and the periodic timeout checks.
 *
 * Files live under the data dir: DATA/files/out/<id> (spools of files being sent) and
 * DATA/attachments/<id> (files received), both sealed chunks under keys only the store holds.
 */
import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import type { EngineContext } from '../context.ts';
import type { Groups } from '../groups/groups.ts';
import type { Receiver } from '../receiver.ts';
import { errCode, type Sender } from '../sender.ts';
import type { Transaction } from '../transaction.ts';
import { ChunkFile } from './chunk-file.ts';
import { DEFAULT_FILE_OPTIONS, type FileOptions } from './file-options.ts';
import { FileQuota } from './file-quota.ts';
import { FileReceiver } from './file-receiver.ts';
import { FileSender, type SendFileHeader } from './file-sender.ts';

export type { SendFileHeader } from './file-sender.ts';

export class Files {
  readonly options: FileOptions;
  readonly quota: FileQuota;
  readonly sending: FileSender;
  readonly receiving: FileReceiver;
  private timer: NodeJS.Timeout | undefined;
  private ticking: Promise<void> | undefined;
  private readonly outDir: string;
  private readonly inDir: string;

  constructor(
    private readonly ctx: EngineContext,
    sender: Sender,
    dataDir: string,
    options: Partial<FileOptions> = {},
  ) {
    this.options = { ...DEFAULT_FILE_OPTIONS, ...options };
    this.quota = new FileQuota(this.options.quotaBytes);
    this.outDir = join(dataDir, 'files', 'out');
    this.inDir = join(dataDir, 'attachments');
    this.sending = new FileSender(ctx, sender, this.options, this.quota, (key) => join(this.outDir, key));
    this.receiving = new FileReceiver(ctx, this.options, this.quota, (key) => join(this.inDir, key));
  }

  /**
   * Loads both halves, deletes files no record refers to, and hooks into the receiving path, acks
   * and (with `groups`) group messages: files to and from groups.
   */
  async load(receiver: Receiver, groups?: Groups): Promise<void> {
    if (groups !== undefined) {
      this.sending.groups = groups;
      groups.receive.fileDescriptor = (tx, from, groupId, p) => this.receiving.onGroupDescriptor(tx, from, groupId, p);
      this.receiving.inGroup = (groupId) => groups.isMember(groupId, this.ctx.identity.userId);
    }
    await this.removeStray(this.outDir, await this.sending.load());
    await this.removeStray(this.inDir, await this.receiving.load());
    receiver.fileContents = (tx, peer, c) => {
      if (c.kind === 'file') this.receiving.onDescriptor(tx, peer, c);
      else this.sending.onProgress(tx, peer, c.progress);
    };
    receiver.fileChunks = this.receiving.onChunk;
    const previous = this.ctx.inbox.onAcked;
    this.ctx.inbox.onAcked = (tx: Transaction, acked) => {
      previous(tx, acked);
      this.receiving.onAcked(tx, acked);
    };
  }

  private async removeStray(dir: string, inUse: Set<string>): Promise<void> {
    let names: string[];
    try {
      names = await readdir(dir);
    } catch {
      return;
    }
    for (const name of names) if (!inUse.has(name)) await ChunkFile.remove(join(dir, name));
  }

  /** Once online: resume both directions now and at every reconnection; start the timeout checks. */
  start(): void {
    this.ctx.relay.onStatus((s) => {
      if (s === 'connected' && this.timer !== undefined) this.resume();
    });
    const period = Math.max(10, Math.min(this.options.resendAfterMs, 60_000) / 2);
    this.timer = setInterval(() => {
      if (this.ticking !== undefined) return;
      this.ticking = Promise.all([this.sending.tick(), this.receiving.tick()])
        .then(() => undefined)
        .catch((err: unknown) => this.ctx.log.warn({ code: errCode(err) }, 'file transfer check failed'))
        .finally(() => (this.ticking = undefined));
    }, period);
    this.timer.unref();
    this.resume();
  }

  private resume(): void {
    this.sending.resume();
    this.receiving.resume();
  }

  send(header: SendFileHeader, source: AsyncIterable<Uint8Array>): Promise<{ messageId: string; attachmentId: string }> {
    return this.sending.send(header, source);
  }

  download(attachmentId: string, offset: number): AsyncGenerator<Uint8Array> {
    return this.receiving.download(attachmentId, offset);
  }

  async close(): Promise<void> {
    if (this.timer !== undefined) clearInterval(this.timer);
    this.timer = undefined;
    await this.ticking;
    await this.sending.close();
    await this.receiving.close();
  }
}
