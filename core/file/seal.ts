/**
 * Seals a file as it streams in, one chunk at a time (never the whole file in memory): write()
 * hands back the chunks completed so far, finish() the last data chunk and the padding chunks up to
 * the bucketed count (lazily), and the descriptor. A full chunk is held back until more data
 * arrives, because only finish() knows which chunk is the last (the FINAL one).
 */
import type { Crypto, SecretstreamPush, Sha256Stream } from '../crypto.ts';
import { SECRETSTREAM_TAG_FINAL, SECRETSTREAM_TAG_MESSAGE } from '../crypto.ts';
import type { FileDescriptor } from './descriptor.ts';
import { checkDescriptor } from './descriptor.ts';
import { FileError } from './errors.ts';
import { FILE_CHUNK_BYTES, FILE_ID_BYTES, FILE_KEY_BYTES, MAX_FILE_BYTES, chunkAd, chunkCountFor, deriveFileKeys } from './format.ts';

export interface SealedChunk {
  readonly index: number;
  readonly sealed: Uint8Array;
}

export class FileSealer {
  readonly fileId: Uint8Array;
  readonly fileKey: Uint8Array;
  private readonly stream: SecretstreamPush;
  private readonly hash: Sha256Stream;
  private readonly buf = new Uint8Array(FILE_CHUNK_BYTES);
  private fill = 0;
  private size = 0;
  private nextIndex = 0;
  private finished = false;
  private acquire: (() => Uint8Array) | undefined;

  constructor(crypto: Crypto, ids?: { fileId: Uint8Array; fileKey: Uint8Array }) {
    this.fileId = ids?.fileId.slice() ?? crypto.randomBytes(FILE_ID_BYTES);
    this.fileKey = ids?.fileKey.slice() ?? crypto.randomBytes(FILE_KEY_BYTES);
    if (this.fileId.length !== FILE_ID_BYTES || this.fileKey.length !== FILE_KEY_BYTES) throw new RangeError('FileSealer: bad id or key length');
    this.stream = crypto.secretstreamPush(deriveFileKeys(crypto, this.fileKey).streamKey);
    this.hash = crypto.sha256Stream();
  }

  /** The secretstream header (it goes into the descriptor). */
  get header(): Uint8Array {
    return this.stream.header;
  }

  /**
   * Seals each chunk from now on into a buffer `acquire` hands out (SEALED_CHUNK_BYTES long), so
   * that a caller writing chunks to disk can reuse a few buffers instead of allocating one per chunk.
   */
  useBuffers(acquire: () => Uint8Array): void {
    this.acquire = acquire;
  }

  /** Bytes written so far. */
  get bytes(): number {
    return this.size;
  }

  /** Takes the next bytes of the file; returns the chunks they completed (in index order). */
  write(data: Uint8Array): SealedChunk[] {
    if (this.finished) throw new RangeError('FileSealer: already finished');
    if (this.size + data.length > MAX_FILE_BYTES) throw new FileError('FileTooLarge', `a file may have at most ${MAX_FILE_BYTES} bytes`);
    const out: SealedChunk[] = [];
    let at = 0;
    while (at < data.length) {
      if (this.fill === FILE_CHUNK_BYTES) {
        out.push(this.sealBuffer(SECRETSTREAM_TAG_MESSAGE)); // more data follows: not the last
      }
      const n = Math.min(FILE_CHUNK_BYTES - this.fill, data.length - at);
      const part = data.subarray(at, at + n);
      this.buf.set(part, this.fill);
      this.hash.update(part);
      this.fill += n;
      at += n;
    }
    this.size += data.length;
    return out;
  }

  /** The descriptor and the remaining chunks (the last data chunk, then padding), sealed as iterated. */
  finish(fileName: string, contentType: string): { descriptor: FileDescriptor; rest: Iterable<SealedChunk> } {
    if (this.finished) throw new RangeError('FileSealer: already finished');
    this.finished = true;
    const chunkCount = chunkCountFor(this.size);
    const descriptor: FileDescriptor = {
      fileId: this.fileId,
      fileKey: this.fileKey,
      header: this.stream.header,
      size: this.size,
      sha256: this.hash.digest(),
      chunkCount,
      fileName,
      contentType,
    };
    checkDescriptor(descriptor);
    const self = this;
    function* rest(): Generator<SealedChunk> {
      while (self.nextIndex < chunkCount) {
        yield self.sealBuffer(self.nextIndex === chunkCount - 1 ? SECRETSTREAM_TAG_FINAL : SECRETSTREAM_TAG_MESSAGE);
      }
    }
    return { descriptor, rest: rest() };
  }

  /** Seals the buffer (data then zeros) as the next chunk and empties it. */
  private sealBuffer(tag: number): SealedChunk {
    this.buf.fill(0, this.fill);
    const index = this.nextIndex++;
    const sealed = this.stream.push(this.buf, chunkAd(this.fileId, index), tag, this.acquire?.());
    this.fill = 0;
    return { index, sealed };
  }
}
