/** The backup layer's typed errors: what is wrong with a backup file, its source or its target. */
import { CodedError } from '../../core/errors.ts';

export type BackupErrorCode =
  /** The file does not start with the backup magic: not a ratchetd backup. */
  | 'NotABackup'
  /** A backup format (or cost) this ratchetd does not read. */
  | 'UnsupportedVersion'
  /** The file ends before its declared length. */
  | 'Truncated'
  /** The passphrase does not open the file (or the file's header was altered). */
  | 'WrongPassphrase'
  /** The passphrase is right but the encrypted body does not authenticate: altered or damaged. */
  | 'Tampered'
  /** The decrypted contents do not decode. */
  | 'Corrupt'
  /** A record of the source store does not decrypt: the backup would be incomplete, so none is made. */
  | 'CorruptStore'
  /** The source data dir is locked by a running daemon. */
  | 'DataDirInUse'
  /** The source data dir holds no ratchetd store. */
  | 'NoStore'
  /** The restore target already holds files. */
  | 'TargetNotEmpty'
  /** The restore target is not a directory, or neither it nor its parent exists. */
  | 'BadTarget';

export class BackupError extends CodedError<BackupErrorCode> {}
