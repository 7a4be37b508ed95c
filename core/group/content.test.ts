/** Pairwise group contents, the seq log and per-member delivery state. */
import { readFileSync } from 'node:fs';
import { beforeAll, describe, expect, it } from 'vitest';
import { createNativeCrypto } from '../../crypto/native.ts';
import type { Crypto } from '../crypto.ts';
import { fromHex } from '../bytes.ts';
import { ZERO_HASH, decodeContent } from '../content.ts';
import { MAX_GROUP_SEQ_ABOVE } from '../limits.ts';
import { decodeGroupContent, encodeGroupContent, isGroupContentKind, isSequencedGroupKind, sealGroupContent } from './content.ts';
import { applyGroupReceipt, decodeMemberDelivery, encodeMemberDelivery, forgetDistribution, NEW_MEMBER_DELIVERY } from './delivery.ts';
import { decodeSeqLog, encodeSeqLog, missingSeqs, recordSeq, startSeqLog } from './seq-log.ts';
import type { GroupVectors } from './vectors/build-group-vectors.ts';
import { codeOf } from './test-fixtures.ts';

const V = JSON.parse(readFileSync(new URL('./vectors/group-vectors.json', import.meta.url), 'utf8')) as GroupVectors;
let crypto: Crypto;
beforeAll(() => {
  crypto = createNativeCrypto();
});

describe('group contents', () => {
  it('every kind round-trips; sequenced kinds carry seq ≥ 1, the others seq 0 and a zero prevHash', () => {
    for (const hex of Object.values(V.contents)) {
      const c = decodeGroupContent(fromHex(hex));
      expect(isGroupContentKind(fromHex(hex))).toBe(true);
      expect(c.seq === 0).toBe(!isSequencedGroupKind(c.kind));
      const again = sealGroupContent(crypto, c, 9, crypto.randomBytes(32), 1);
      expect(decodeGroupContent(encodeGroupContent(again))).toEqual(again);
      if (!isSequencedGroupKind(c.kind)) expect(again.prevHash).toEqual(ZERO_HASH);
    }
    expect(() => sealGroupContent(crypto, { kind: 'group-leave', groupId: new Uint8Array(16), membershipVersion: 1 }, 0, ZERO_HASH, 1)).toThrow(RangeError);
  });

  it('non-canonical encodings are refused: an unsequenced kind inside the sequence, a sequenced one outside it, a key id without its flag', () => {
    const receipt = fromHex(V.contents['receipt']!);
    const inSeq = receipt.slice();
    inSeq[2 + 16 + 7] = 1;
    expect(codeOf(() => decodeGroupContent(inSeq))).toBe('DecodeError');
    const leave = fromHex(V.contents['leave']!);
    const outSeq = leave.slice();
    outSeq.fill(0, 2 + 16, 2 + 16 + 8);
    expect(codeOf(() => decodeGroupContent(outSeq))).toBe('DecodeError');
    const request = decodeGroupContent(fromHex(V.contents['keyRequest']!));
    const noKey = encodeGroupContent({ ...request, kind: 'group-key-request', keyId: null } as never);
    const bad = noKey.slice();
    bad[66 + 16 + 8 + 1 + 3] = 1; // the key id's last byte, flag still 0
    expect(codeOf(() => decodeGroupContent(bad))).toBe('DecodeError');
  });

  it('decodeContent (what today’s engine calls) refuses every group kind as an unknown kind, so a peer’s group content never reaches it', () => {
    for (const hex of Object.values(V.contents)) expect(codeOf(() => decodeContent(fromHex(hex)))).toBe('DecodeError');
    // and the group decoder refuses the existing kinds
    const m = fromHex(V.contents['leave']!);
    m[1] = 1;
    expect(codeOf(() => decodeGroupContent(m))).toBe('DecodeError');
  });
});

describe('seq log', () => {
  it('exactly once, cumulative receipt, holes', () => {
    let log = startSeqLog(5);
    expect(log.upTo).toBe(4);
    for (const s of [7, 5, 9]) log = recordSeq(log, s).next;
    expect(log).toEqual({ upTo: 5, above: [7, 9] });
    expect(missingSeqs(log)).toEqual([{ from: 6, to: 6 }, { from: 8, to: 8 }]);
    expect(recordSeq(log, 7).duplicate).toBe(true);
    expect(recordSeq(log, 3).duplicate).toBe(true); // before this member's first message
    log = recordSeq(recordSeq(log, 6).next, 8).next;
    expect(log).toEqual({ upTo: 9, above: [] });
    expect(decodeSeqLog(encodeSeqLog(log))).toEqual(log);
  });

  it(`bounded: past ${MAX_GROUP_SEQ_ABOVE} seqs above a hole, the oldest hole is given up and reported`, () => {
    let log = startSeqLog(1);
    for (let s = 2; s <= MAX_GROUP_SEQ_ABOVE + 1; s++) log = recordSeq(log, s).next;
    expect(log.above.length).toBe(MAX_GROUP_SEQ_ABOVE);
    const r = recordSeq(log, MAX_GROUP_SEQ_ABOVE + 3);
    expect(r.givenUp).toEqual([{ from: 1, to: 1 }]);
    expect(r.next.upTo).toBe(MAX_GROUP_SEQ_ABOVE + 1);
    expect(r.next.above).toEqual([MAX_GROUP_SEQ_ABOVE + 3]);
  });
});

describe('member delivery', () => {
  it('cumulative receipts move forward only, and never past what was sent', () => {
    const d = { keyId: 7, deliveredUpTo: 3 };
    expect(applyGroupReceipt(d, 5, 10)).toEqual({ keyId: 7, deliveredUpTo: 5 });
    expect(applyGroupReceipt(d, 3, 10)).toBeNull();
    expect(applyGroupReceipt(d, 11, 10)).toBeNull();
    expect(forgetDistribution(d)).toEqual({ keyId: null, deliveredUpTo: 3 });
    for (const x of [d, NEW_MEMBER_DELIVERY]) expect(decodeMemberDelivery(encodeMemberDelivery(x))).toEqual(x);
  });
});
