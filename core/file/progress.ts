/**
 * What a recipient tells the sender of a file, over their pairwise session (a content outside the
 * transcript's sequence, like a receipt):
 *
 *   file id (16) ‖ stored chunks u32 ‖ state u8 (0 receiving, 1 complete, 2 refused) ‖ reason u8
 *
 * `storedChunks` is cumulative: chunks 0 … storedChunks-1 are durably stored, so the sender never
 * sends them again, even after either side restarts. 'complete' means the whole file was stored
 * and its SHA-256 verified; 'refused' that the recipient gave the transfer up (the reason says why)
 * and the sender should stop.
 */
import { Reader, Writer } from '../bytes.ts';
import { DecodeError } from '../errors.ts';
import { FILE_ID_BYTES, MAX_FILE_CHUNKS } from './format.ts';

export type FileProgressState = 'receiving' | 'complete' | 'refused';
const STATES: readonly FileProgressState[] = ['receiving', 'complete', 'refused'];
/** Why a recipient refused a file. */
export type FileRefusal = 'none' | 'quota' | 'corrupt' | 'expired' | 'tooLarge';
const REASONS: readonly FileRefusal[] = ['none', 'quota', 'corrupt', 'expired', 'tooLarge'];

export interface FileProgress {
  readonly fileId: Uint8Array;
  readonly storedChunks: number;
  readonly state: FileProgressState;
  readonly reason: FileRefusal;
}

export const FILE_PROGRESS_BYTES = FILE_ID_BYTES + 4 + 1 + 1;

export function checkProgress(p: FileProgress): void {
  if (p.fileId.length !== FILE_ID_BYTES) throw new DecodeError('file progress: bad file id length');
  if (!Number.isSafeInteger(p.storedChunks) || p.storedChunks < 0 || p.storedChunks > MAX_FILE_CHUNKS) throw new DecodeError('file progress: bad chunk count');
  if (!STATES.includes(p.state) || !REASONS.includes(p.reason)) throw new DecodeError('file progress: bad state');
  if ((p.state === 'refused') !== (p.reason !== 'none')) throw new DecodeError('file progress: a reason goes with a refusal only');
}

export function encodeProgress(p: FileProgress): Uint8Array {
  checkProgress(p);
  return new Writer().fixed(p.fileId).u32(p.storedChunks).u8(STATES.indexOf(p.state)).u8(REASONS.indexOf(p.reason)).finish();
}

/** Reads the progress fields from r (the content decoder calls it; it checks r.end()). */
export function readProgress(r: Reader): FileProgress {
  const fileId = r.fixed(FILE_ID_BYTES);
  const storedChunks = r.u32();
  const state = STATES[r.u8()];
  const reason = REASONS[r.u8()];
  if (state === undefined || reason === undefined) throw new DecodeError('file progress: unknown state');
  const p = { fileId, storedChunks, state, reason };
  checkProgress(p);
  return p;
}

export function decodeProgress(bytes: Uint8Array): FileProgress {
  const r = new Reader(bytes, 'file progress');
  const p = readProgress(r);
  r.end();
  return p;
}
