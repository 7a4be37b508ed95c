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

/**
 * Writes chunks to one ChunkFile with up to `depth` writes at once (each an fs round trip through
 * libuv's thread pool, so one at a time leaves the sealing idle in between): write() waits while
 * `depth` are pending; each written buffer goes to `written` for reuse; drain() waits for all. Every
 * `syncEvery` written chunks the file is synced in the background (one sync at a time), so that the
 * caller's last sync has little left to do (a 256 MiB spool took 0.56 s to sync at the end). The
 * first failure, of a write or a sync, is thrown by the next write() or drain().
 */
export class PipelinedChunkWrites {
  private readonly pending = new Set<Promise<void>>();
  private failure: { error: unknown } | undefined;
  private unsynced = 0;
  private syncing: Promise<void> | undefined;

  constructor(
    private readonly file: Pick<ChunkFile, 'write' | 'sync'>,
    private readonly depth: number,
    private readonly written: (buffer: Uint8Array) => void,
    private readonly syncEvery = Number.POSITIVE_INFINITY,
  ) {}

  async write(index: number, sealed: Uint8Array): Promise<void> {
    this.throwFailure();
    const write: Promise<void> = this.file.write(index, sealed).then(
      () => {
        this.pending.delete(write);
        this.written(sealed);
        if (++this.unsynced >= this.syncEvery && this.syncing === undefined) this.syncInBackground();
      },
      (error: unknown) => {
        this.pending.delete(write);
        this.failure ??= { error };
      },
    );
    this.pending.add(write);
    while (this.pending.size >= this.depth) await Promise.race(this.pending);
    this.throwFailure();
  }

  /** Every write started has ended, and the background sync (and none failed, or this throws the first failure). */
  async drain(): Promise<void> {
    await Promise.all(this.pending);
    await this.syncing;
    this.throwFailure();
  }

  private syncInBackground(): void {
    this.unsynced = 0;
    this.syncing = this.file.sync().then(
      () => {
        this.syncing = undefined;
      },
      (error: unknown) => {
        this.syncing = undefined;
        this.failure ??= { error };
      },
    );
  }

  private throwFailure(): void {
    if (this.failure !== undefined) throw this.failure.error;
  }
}
