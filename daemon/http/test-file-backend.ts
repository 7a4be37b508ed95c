/**
 * Test support (used by *.test.ts only): a FakeBackend that also serves files, in memory — sendFile
 * reads the source as the engine does (piece by piece, refusing with FileQuotaExceeded once the
 * quota is passed, InvalidFile when the announced size is wrong), and received files are
 * delivered with their attachment and read back by downloadAttachment from an offset.
 */
import { createHash, randomBytes } from 'node:crypto';
import type { UserId } from '../../core/user-id.ts';
import { FakeBackend } from '../api/fake-backend.ts';
import { EngineError } from '../engine/errors.ts';
import { FileTransferError } from '../engine/files/file-errors.ts';
import type { AttachmentInfo, InboundMessage, SendFileRequest } from '../engine/types.ts';

export interface SentFile {
  header: SendFileRequest;
  bytes: Buffer;
  /** How many pieces the source came in (a streamed body comes in many). */
  pieces: number;
  messageId: string;
  attachmentId: string;
}

export class FileFakeBackend extends FakeBackend {
  /** The files quota: a file that would pass it is refused. */
  quotaBytes = Number.POSITIVE_INFINITY;
  readonly sentFiles: SentFile[] = [];
  /** Bytes read from sendFile sources so far, including refused ones (what the client had sent). */
  bytesRead = 0;
  /** When set, downloads fail with this error after this many pieces (a stored chunk that does not verify). */
  failDownloadAfter: { pieces: number; error: Error } | undefined;
  /** Every downloadAttachment call, in order. */
  readonly downloads: Array<{ attachmentId: string; offset: number }> = [];
  private readonly stored = new Map<string, Buffer>();
  private readonly attachments = new Map<string, AttachmentInfo>();

  async sendFile(header: SendFileRequest, source: AsyncIterable<Uint8Array>): Promise<{ messageId: string; attachmentId: string }> {
    if (this.failWith !== undefined) throw this.failWith;
    if (header.to === this.identity.userId) throw new EngineError('InvalidArgument', 'cannot send a file to yourself');
    const parts: Buffer[] = [];
    let size = 0;
    for await (const piece of source) {
      this.bytesRead += piece.length;
      size += piece.length;
      if (size > this.quotaBytes) throw new FileTransferError('FileQuotaExceeded', `the files quota (${this.quotaBytes} bytes) would be exceeded`);
      parts.push(Buffer.from(piece));
    }
    if (header.size !== undefined && header.size > 0 && header.size !== size) throw new FileTransferError('InvalidFile', `the header announced ${header.size} bytes but ${size} came`);
    const sent: SentFile = { header, bytes: Buffer.concat(parts), pieces: parts.length, messageId: randomBytes(16).toString('hex'), attachmentId: randomBytes(16).toString('hex') };
    this.sentFiles.push(sent);
    return { messageId: sent.messageId, attachmentId: sent.attachmentId };
  }

  /** A file received from `from`: stored, then its message delivered with the attachment. */
  deliverFile(from: UserId, bytes: Uint8Array, fileName: string, contentType = 'application/octet-stream'): InboundMessage {
    const attachment: AttachmentInfo = {
      attachmentId: randomBytes(16).toString('hex'),
      fileName,
      contentType,
      size: bytes.length,
      sha256: new Uint8Array(createHash('sha256').update(bytes).digest()),
    };
    this.stored.set(attachment.attachmentId, Buffer.from(bytes));
    this.attachments.set(attachment.attachmentId, attachment);
    return this.deliver(from, new Uint8Array(0), contentType, undefined, attachment);
  }

  async findAttachment(attachmentId: string): Promise<AttachmentInfo | undefined> {
    return this.attachments.get(attachmentId);
  }

  /** In pieces of at most 64 KiB, like the engine's chunks. */
  async *downloadAttachment(attachmentId: string, offset: number): AsyncGenerator<Uint8Array> {
    this.downloads.push({ attachmentId, offset });
    const bytes = this.stored.get(attachmentId);
    if (bytes === undefined) throw new FileTransferError('AttachmentNotFound', 'no stored attachment with that id');
    if (offset > bytes.length) throw new FileTransferError('InvalidFile', `offset must be 0 to ${bytes.length}`);
    let pieces = 0;
    for (let at = offset; at < bytes.length; at += 65536) {
      if (this.failDownloadAfter !== undefined && pieces++ === this.failDownloadAfter.pieces) throw this.failDownloadAfter.error;
      yield new Uint8Array(bytes.subarray(at, Math.min(bytes.length, at + 65536)));
    }
  }
}
