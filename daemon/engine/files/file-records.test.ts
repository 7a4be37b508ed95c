/**
 * File transfer records: version 2 (with the group) round-trips, and version 1 records written
 * before files to groups existed still decode (no group), so transfers in flight survive an upgrade.
 */
import { describe, expect, it } from 'vitest';
import { Writer } from '../../../core/bytes.ts';
import { encodeDescriptor } from '../../../core/file/descriptor.ts';
import { FileSealer } from '../../../core/file/seal.ts';
import { createNativeCrypto } from '../../../crypto/native.ts';
import type { UserId } from '../../../core/user-id.ts';
import { decodeIncoming, decodeOutgoing, encodeIncoming, encodeOutgoing, type IncomingFileRecord, type OutgoingFileRecord } from './file-records.ts';

const crypto = createNativeCrypto();
const s = new FileSealer(crypto);
s.write(new Uint8Array(10));
const descriptor = s.finish('a.bin', '').descriptor;
const PEER = 'b'.repeat(32) as UserId;
const GROUP = 'a'.repeat(26);

describe('file records', () => {
  it('round-trip with and without a group', () => {
    const out: OutgoingFileRecord = { to: PEER, messageId: new Uint8Array(16).fill(3), descriptor, ackedChunks: 1, started: true, state: 'sending', createdAt: 5 };
    expect(decodeOutgoing(encodeOutgoing(out))).toEqual(out);
    expect(decodeOutgoing(encodeOutgoing({ ...out, groupId: GROUP }))).toEqual({ ...out, groupId: GROUP });
    const inc: IncomingFileRecord = { from: PEER, messageId: new Uint8Array(16).fill(4), sentAt: 9, descriptor, storedChunks: 0, state: 'receiving', createdAt: 6, cursor: 0 };
    expect(decodeIncoming(encodeIncoming(inc))).toEqual(inc);
    expect(decodeIncoming(encodeIncoming({ ...inc, groupId: GROUP }))).toEqual({ ...inc, groupId: GROUP });
  });

  it('version 1 records (before groups) still decode, without a group', () => {
    const d = encodeDescriptor(descriptor);
    const v1out = new Writer().u8(1).string16(PEER).fixed(new Uint8Array(16).fill(3)).bytes32(d).u32(1).bool(true).u8(0).u64(5).finish();
    expect(decodeOutgoing(v1out)).toEqual({ to: PEER, messageId: new Uint8Array(16).fill(3), descriptor, ackedChunks: 1, started: true, state: 'sending', createdAt: 5 });
    const v1in = new Writer().u8(1).string16(PEER).fixed(new Uint8Array(16).fill(4)).u64(9).bytes32(d).u32(0).u8(0).u64(6).u64(0).finish();
    expect(decodeIncoming(v1in)).toEqual({ from: PEER, messageId: new Uint8Array(16).fill(4), sentAt: 9, descriptor, storedChunks: 0, state: 'receiving', createdAt: 6, cursor: 0 });
    expect(() => decodeOutgoing(Uint8Array.of(3, ...v1out.subarray(1)))).toThrow(/version/);
  });
});
