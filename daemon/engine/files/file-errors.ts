/** Errors of file transfers the API reports (daemon/api/status-codes.ts maps them). */
import { CodedError } from '../../../core/errors.ts';

export type FileTransferErrorCode =
  /** The files quota (DaemonConfig.files.quotaBytes) would be exceeded. */
  | 'FileQuotaExceeded'
  /** No attachment with that id (never received, not yet complete, or deleted after its ack). */
  | 'AttachmentNotFound'
  /** The file or its header is not acceptable (too large, name too long, size announced wrongly). */
  | 'InvalidFile';

export class FileTransferError extends CodedError<FileTransferErrorCode> {}
