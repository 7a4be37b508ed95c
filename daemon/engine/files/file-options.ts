/** How file transfers are paced and bounded (DaemonConfig.files; tests use small values). */

export interface FileOptions {
  /**
   * Chunks sent ahead of the recipient's last progress report (64 KiB each): bounds what a transfer
   * puts on the broker's queue for the recipient and in flight. Keep it below the broker's
   * per-recipient queue limit.
   */
  windowChunks: number;
  /**
   * The recipient reports progress after this many more chunks stored (each report is one fsync and
   * one message each way), or sooner when the chunks pause (file-receiver.ts PAUSE_REPORT_MS).
   */
  progressEveryChunks: number;
  /** No progress (sender) or no chunk (recipient) for this long: resend from the last report (ms). */
  resendAfterMs: number;
  /** A transfer with no activity for this long is given up and its files deleted (ms). */
  incompleteTimeoutMs: number;
  /** Bytes of sealed chunks this daemon keeps for files in both directions (spools and attachments). */
  quotaBytes: number;
  /** Keep attachments after their message is acked (otherwise they are deleted then). */
  retainAttachments: boolean;
}

/**
 * Most chunks a sender may have ahead of the recipient's report (64 MiB of chunks). A recipient
 * knows the tags of this many chunks ahead of its next one whatever its own window, so a sender with
 * a larger window than its recipient's is not stalled (chunks are looked up before they are taken in
 * order, while earlier ones are still being written).
 */
export const MAX_FILE_WINDOW_CHUNKS = 1024;

export const DEFAULT_FILE_OPTIONS: FileOptions = {
  windowChunks: 128,
  progressEveryChunks: 32,
  resendAfterMs: 10_000,
  incompleteTimeoutMs: 24 * 3600_000,
  quotaBytes: 10 * 1024 ** 3,
  retainAttachments: false,
};
