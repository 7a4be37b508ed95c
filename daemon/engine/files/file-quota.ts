/** The disk budget of file transfers: sealed bytes of every spool and attachment this daemon keeps. */
import { FileTransferError } from './file-errors.ts';

export class FileQuota {
  private used = 0;

  constructor(readonly limitBytes: number) {}

  get usedBytes(): number {
    return this.used;
  }

  /** Takes `bytes` of the budget or throws FileQuotaExceeded (nothing taken). */
  reserve(bytes: number): void {
    if (this.used + bytes > this.limitBytes) {
      throw new FileTransferError('FileQuotaExceeded', `the files quota (${this.limitBytes} bytes) would be exceeded: ${this.used} bytes in use, ${bytes} more needed`);
    }
    this.used += bytes;
  }

  /** Counts bytes already on disk at start (may exceed the limit after it was lowered). */
  account(bytes: number): void {
    this.used += bytes;
  }

  release(bytes: number): void {
    this.used = Math.max(0, this.used - bytes);
  }
}
