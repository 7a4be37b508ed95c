/**
 * A file of sealed chunks on disk, chunk i at offset i × SEALED_CHUNK_BYTES: the sender's spool
 * (DATA/files/out) and the recipient's attachment (DATA/attachments). Chunks stay sealed under the
 * file's key (which only the encrypted store holds), so these files are encrypted at rest.
 */
import { mkdir, open, rm, type FileHandle } from 'node:fs/promises';
import { dirname } from 'node:path';
import { SEALED_CHUNK_BYTES } from '../../../core/file/format.ts';

export class ChunkFile {
  private constructor(
    readonly path: string,
    private readonly handle: FileHandle,
  ) {}

  /** Opens the file, read-only or (`create`) read-write, created with mode 0600 in a 0700 directory. */
  static async open(path: string, create: boolean): Promise<ChunkFile> {
    if (!create) return new ChunkFile(path, await open(path, 'r'));
    await mkdir(dirname(path), { recursive: true, mode: 0o700 });
    try {
      return new ChunkFile(path, await open(path, 'r+'));
    } catch (e) {
      if ((e as { code?: unknown }).code !== 'ENOENT') throw e;
      return new ChunkFile(path, await open(path, 'w+', 0o600));
    }
  }

  async write(index: number, sealed: Uint8Array): Promise<void> {
    if (sealed.length !== SEALED_CHUNK_BYTES) throw new RangeError('ChunkFile: a sealed chunk has one size');
    const { bytesWritten } = await this.handle.write(sealed, 0, sealed.length, index * SEALED_CHUNK_BYTES);
    if (bytesWritten !== sealed.length) throw new Error('ChunkFile: short write');
  }

  /** The sealed chunk at `index`, or undefined when the file is shorter. */
  async read(index: number): Promise<Uint8Array | undefined> {
    const buf = new Uint8Array(SEALED_CHUNK_BYTES);
    const { bytesRead } = await this.handle.read(buf, 0, SEALED_CHUNK_BYTES, index * SEALED_CHUNK_BYTES);
    return bytesRead === SEALED_CHUNK_BYTES ? buf : undefined;
  }

  /** Reads the sealed chunk at `index` into `target` at `offset`; false when the file is shorter. */
  async readInto(index: number, target: Uint8Array, offset: number): Promise<boolean> {
    if (target.length - offset < SEALED_CHUNK_BYTES) throw new RangeError('ChunkFile: no room for a sealed chunk');
    const { bytesRead } = await this.handle.read(target, offset, SEALED_CHUNK_BYTES, index * SEALED_CHUNK_BYTES);
    return bytesRead === SEALED_CHUNK_BYTES;
  }

  /** Everything written so far reaches the disk. */
  sync(): Promise<void> {
    return this.handle.datasync();
  }

  close(): Promise<void> {
    return this.handle.close();
  }

  static remove(path: string): Promise<void> {
    return rm(path, { force: true });
  }
}
