/**
 * Stored records of file transfers (store kinds fileOut and fileIn, key = file id in hex):
 *
 *   fileOut  v1 ‖ recipient ‖ message id (16) ‖ descriptor (u32 length ‖ bytes) ‖ acked chunks u32
 *            ‖ started bool ‖ state u8 (0 sending, 1 complete, 2 refused) ‖ created at u64
 *   fileIn   v1 ‖ sender ‖ message id (16) ‖ sent at u64 ‖ descriptor ‖ stored chunks u32
 *            ‖ state u8 (0 receiving, 1 complete) ‖ created at u64 ‖ inbox cursor u64 (0 until complete)
 *
 * Version 2 of both appends the group id (u16 length ‖ text; empty for a file to one peer): a file
 * to a group has one fileOut record per member (key = file id in hex ‖ ":" ‖ member) sharing one
 * spool, and its fileIn record names the group. Version 1 records still decode (no group).
 *
 * The descriptor holds the file key: these records are sealed at rest like every other record.
 */
import { Reader, Writer } from '../../../core/bytes.ts';
import { DecodeError } from '../../../core/errors.ts';
import { MAX_DESCRIPTOR_BYTES, decodeDescriptor, encodeDescriptor, type FileDescriptor } from '../../../core/file/descriptor.ts';
import { parseUserId, type UserId } from '../../../core/user-id.ts';

const V1 = 1;
const V2 = 2;

export type OutgoingState = 'sending' | 'complete' | 'refused';
const OUT_STATES: readonly OutgoingState[] = ['sending', 'complete', 'refused'];

export interface OutgoingFileRecord {
  to: UserId;
  messageId: Uint8Array;
  descriptor: FileDescriptor;
  /** Chunks the recipient confirmed stored (0 … ackedChunks-1): never sent again. */
  ackedChunks: number;
  /** The recipient answered at least once: it has the descriptor, chunks may flow. */
  started: boolean;
  state: OutgoingState;
  createdAt: number;
  /** The group the file was sent to (one record per member), or undefined for a file to one peer. */
  groupId?: string;
}

export type IncomingState = 'receiving' | 'complete';
const IN_STATES: readonly IncomingState[] = ['receiving', 'complete'];

export interface IncomingFileRecord {
  from: UserId;
  messageId: Uint8Array;
  sentAt: number;
  descriptor: FileDescriptor;
  /** Chunks durably stored and authenticated in order (0 … storedChunks-1). */
  storedChunks: number;
  state: IncomingState;
  createdAt: number;
  /** The inbox cursor of the message, once complete (0 before). */
  cursor: number;
  /** The group the file came through, or undefined for a file from one peer. */
  groupId?: string;
}

function version(r: Reader, what: string): number {
  const v = r.u8();
  if (v !== V1 && v !== V2) throw new DecodeError(`${what}: unknown version`, 'UnsupportedVersion');
  return v;
}

function groupOf(r: Reader, v: number): { groupId?: string } {
  if (v === V1) return {};
  const g = r.string16(64);
  return g === '' ? {} : { groupId: g };
}

export function encodeOutgoing(r: OutgoingFileRecord): Uint8Array {
  return new Writer()
    .u8(V2)
    .string16(r.to)
    .fixed(r.messageId)
    .bytes32(encodeDescriptor(r.descriptor))
    .u32(r.ackedChunks)
    .bool(r.started)
    .u8(OUT_STATES.indexOf(r.state))
    .u64(r.createdAt)
    .string16(r.groupId ?? '')
    .finish();
}

export function decodeOutgoing(b: Uint8Array): OutgoingFileRecord {
  const r = new Reader(b, 'outgoing file record');
  const v = version(r, 'outgoing file record');
  const to = parseUserId(r.string16(64));
  const messageId = r.fixed(16);
  const descriptor = decodeDescriptor(r.bytes32(MAX_DESCRIPTOR_BYTES));
  const ackedChunks = r.u32();
  const started = r.bool();
  const state = OUT_STATES[r.u8()];
  const createdAt = r.u64();
  const group = groupOf(r, v);
  r.end();
  if (state === undefined || ackedChunks > descriptor.chunkCount) throw new DecodeError('outgoing file record: bad state');
  return { to, messageId, descriptor, ackedChunks, started, state, createdAt, ...group };
}

export function encodeIncoming(r: IncomingFileRecord): Uint8Array {
  return new Writer()
    .u8(V2)
    .string16(r.from)
    .fixed(r.messageId)
    .u64(r.sentAt)
    .bytes32(encodeDescriptor(r.descriptor))
    .u32(r.storedChunks)
    .u8(IN_STATES.indexOf(r.state))
    .u64(r.createdAt)
    .u64(r.cursor)
    .string16(r.groupId ?? '')
    .finish();
}

export function decodeIncoming(b: Uint8Array): IncomingFileRecord {
  const r = new Reader(b, 'incoming file record');
  const v = version(r, 'incoming file record');
  const from = parseUserId(r.string16(64));
  const messageId = r.fixed(16);
  const sentAt = r.u64();
  const descriptor = decodeDescriptor(r.bytes32(MAX_DESCRIPTOR_BYTES));
  const storedChunks = r.u32();
  const state = IN_STATES[r.u8()];
  const createdAt = r.u64();
  const cursor = r.u64();
  const group = groupOf(r, v);
  r.end();
  if (state === undefined || storedChunks > descriptor.chunkCount) throw new DecodeError('incoming file record: bad state');
  return { from, messageId, sentAt, descriptor, storedChunks, state, createdAt, cursor, ...group };
}
