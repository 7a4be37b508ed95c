/**
 * Typed errors of the file transfer core. Decoders throw the core's DecodeError (../errors.ts);
 * every refusal of a chunk or a whole file is a FileError with a stable `code`. Messages never
 * contain keys or plaintext.
 *
 *   BadChunk        a chunk that does not authenticate as the next one of this file (tampered,
 *                   reordered, duplicated, from another file): refused, the stream state unchanged,
 *                   so the authentic chunk can still follow (the sender re-sends it)
 *   TruncatedFile   an authentic chunk whose stream tag contradicts the descriptor's chunk count
 *                   (a final chunk too early, or none at the end): the whole file is refused
 *   BadPadding      an authentic chunk whose padding is not zero: the file is refused
 *   HashMismatch    every chunk authenticated but the plaintext's SHA-256 is not the descriptor's
 *   FileTooLarge    a size above MAX_FILE_BYTES
 *   FileComplete    a chunk offered after the last one
 */
import { CodedError } from '../errors.ts';

export type FileErrorCode = 'BadChunk' | 'TruncatedFile' | 'BadPadding' | 'HashMismatch' | 'FileTooLarge' | 'FileComplete';

export class FileError extends CodedError<FileErrorCode> {}
