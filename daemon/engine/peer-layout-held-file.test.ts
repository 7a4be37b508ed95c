/**
 * A file descriptor is a sequenced content like a message: held back behind a hole it is stored as a
 * part of the split peer record (schema v2) and read back as the same record; a held-back part
 * that is not sequenced (a receipt) is still refused.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { toHex } from '../../core/bytes.ts';
import { encodeContent, sealContent, ZERO_HASH } from '../../core/content.ts';
import type { Crypto } from '../../core/crypto.ts';
import { chunkCountFor } from '../../core/file/format.ts';
import { encodePeerRecord } from '../../core/index.ts';
import { newPeerRecord, peerRecord, type PeerRecord } from '../../core/session.ts';
import type { UserId } from '../../core/user-id.ts';
import { createSodiumCrypto } from '../../crypto/sodium.ts';
import type { RecordKind } from '../store/kinds.ts';
import { decodePeerHead, newLayout, writePeerRecord } from './peer-layout.ts';

const PEER = 'c'.repeat(32) as UserId;
let crypto: Crypto;
beforeAll(async () => {
  crypto = await createSodiumCrypto();
});

function recordHolding(c: ReturnType<typeof sealContent>): PeerRecord {
  const r = newPeerRecord(PEER, new Uint8Array(32).fill(3));
  if (c.kind !== 'message' && c.kind !== 'file') throw new Error('only sequenced contents are held back');
  return peerRecord({
    peerUserId: r.peerUserId,
    peerIdentityKey: r.peerIdentityKey,
    maxEpoch: r.maxEpoch,
    peerBundleVersion: r.peerBundleVersion,
    active: r.active,
    archived: r.archived,
    transcript: { ...r.transcript, pending: [{ content: c, receivedAt: 1_000 }] },
  });
}

function written(record: PeerRecord): { head: Uint8Array; held: Array<[string, Uint8Array]> } {
  let head: Uint8Array | undefined;
  const held: Array<[string, Uint8Array]> = [];
  writePeerRecord(
    {
      put: (kind: RecordKind, key: string, value: Uint8Array) => {
        if (kind === 'peer') head = value;
        else if (kind === 'peerHeld') held.push([key, value]);
      },
      del: () => undefined,
    },
    PEER,
    newLayout(new Uint8Array(16).fill(1)),
    record,
  );
  return { head: head!, held };
}

describe('held-back file descriptors in the split peer record', () => {
  it('are written as a held part and assembled back into the same record', () => {
    const size = 5_000_000;
    const descriptor = {
      fileId: new Uint8Array(16).fill(4),
      fileKey: new Uint8Array(32).fill(5),
      header: new Uint8Array(24).fill(6),
      size,
      sha256: new Uint8Array(32).fill(7),
      chunkCount: chunkCountFor(size),
      fileName: 'big.bin',
      contentType: 'application/octet-stream',
    };
    const file = sealContent(crypto, { kind: 'file', descriptor }, 2, new Uint8Array(32).fill(8), 900);
    const record = recordHolding(file);
    const { head, held } = written(record);
    expect(held).toHaveLength(1);
    const { record: back, layout } = decodePeerHead(head).assemble({ sessions: [], skipped: [], held });
    expect(toHex(encodePeerRecord(back))).toBe(toHex(encodePeerRecord(record)));
    expect(back.transcript.pending[0]!.content.kind).toBe('file');
    expect(layout.held.size).toBe(1);
  });

  it('a held part that is not a sequenced content is refused', () => {
    const message = sealContent(crypto, { kind: 'message', body: new Uint8Array([1]), contentType: 'text/plain' }, 2, new Uint8Array(32).fill(8), 900);
    const { head, held } = written(recordHolding(message));
    // the same part with a receipt inside (outside the sequence: never held back)
    const receipt = encodeContent({ kind: 'receipt', upToSeq: 1, messageId: new Uint8Array(16), seq: 0, prevHash: ZERO_HASH, sentAt: 900 });
    const original = held[0]![1];
    const prefix = original.subarray(0, 1 + 8); // part version ‖ receivedAt
    const forged = new Uint8Array(prefix.length + 4 + receipt.length);
    forged.set(prefix);
    new DataView(forged.buffer).setUint32(prefix.length, receipt.length);
    forged.set(receipt, prefix.length + 4);
    expect(() => decodePeerHead(head).assemble({ sessions: [], skipped: [], held: [[held[0]![0], forged]] })).toThrow(/bad seq/);
  });
});
