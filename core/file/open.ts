/**
 * Opens a file's chunks in order and checks the whole: each chunk must authenticate as the next one
 * of this file (BadChunk otherwise, and the opener stays where it was, so the authentic chunk can
 * follow), carry the stream tag its index calls for (TruncatedFile), and zero padding (BadPadding);
 * after the last one the plaintext's SHA-256 must equal the descriptor's (HashMismatch). After any
 * error but BadChunk the opener is spent: the file is refused.
 */
import type { Crypto, SecretstreamPull, Sha256Stream } from '../crypto.ts';
import { SECRETSTREAM_TAG_FINAL, SECRETSTREAM_TAG_MESSAGE } from '../crypto.ts';
import type { FileDescriptor } from './descriptor.ts';
import { FileError } from './errors.ts';
import { FILE_CHUNK_BYTES, SEALED_CHUNK_BYTES, chunkAd, chunkDataLength, deriveFileKeys } from './format.ts';

export class FileOpener {
  private readonly pull: SecretstreamPull;
  private readonly hash: Sha256Stream;
  /** Each chunk opens into this one buffer: a file of any size costs no allocation per chunk. */
  private readonly plain = new Uint8Array(FILE_CHUNK_BYTES);
  private nextIndex = 0;
  private state: 'open' | 'complete' | 'failed' = 'open';

  constructor(
    private readonly crypto: Crypto,
    readonly descriptor: FileDescriptor,
  ) {
    const pull = crypto.secretstreamPull(deriveFileKeys(crypto, descriptor.fileKey).streamKey, descriptor.header);
    if (pull === null) throw new RangeError('FileOpener: bad descriptor');
    this.pull = pull;
    this.hash = crypto.sha256Stream();
  }

  /** Index of the chunk open() expects next. */
  get next(): number {
    return this.nextIndex;
  }

  /** Whether every chunk opened and the hash matched. */
  get complete(): boolean {
    return this.state === 'complete';
  }

  /**
   * Opens the next chunk; returns its file data (without padding), a view that the next open()
   * overwrites (copy it to keep it).
   */
  open(sealed: Uint8Array): Uint8Array {
    if (this.state === 'complete') throw new FileError('FileComplete', 'every chunk of this file was already received');
    if (this.state === 'failed') throw new FileError('TruncatedFile', 'this file was refused');
    const d = this.descriptor;
    const index = this.nextIndex;
    if (sealed.length !== SEALED_CHUNK_BYTES) throw new FileError('BadChunk', 'chunk of the wrong length');
    const r = this.pull.pull(sealed, chunkAd(d.fileId, index), this.plain);
    if (r === null) throw new FileError('BadChunk', `chunk ${index} does not authenticate`);
    const last = index === d.chunkCount - 1;
    if ((r.tag !== SECRETSTREAM_TAG_MESSAGE && r.tag !== SECRETSTREAM_TAG_FINAL) || (r.tag === SECRETSTREAM_TAG_FINAL) !== last) {
      this.state = 'failed';
      throw new FileError('TruncatedFile', 'the chunk stream does not end where the descriptor says');
    }
    const len = chunkDataLength(d.size, index);
    for (let i = len; i < r.message.length; i++) {
      if (r.message[i] !== 0) {
        this.state = 'failed';
        throw new FileError('BadPadding', `chunk ${index} has non-zero padding`);
      }
    }
    const data = r.message.subarray(0, len);
    this.hash.update(data);
    this.nextIndex = index + 1;
    if (last) {
      if (!this.crypto.equal(this.hash.digest(), d.sha256)) {
        this.state = 'failed';
        throw new FileError('HashMismatch', 'the file does not match its SHA-256');
      }
      this.state = 'complete';
    }
    return data;
  }
}
