/**
 * The rebase a restored daemon's reset carries (transcript.ts rebaseReceive): the peer adopts an
 * older position of the sender's transcript, and only from a reset that opened its session.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { createSodiumCrypto } from '../crypto/sodium.ts';
import type { Crypto } from './crypto.ts';
import { CONTENT_HEADER_BYTES, decodeContent, encodeContent, sealContent, ZERO_HASH } from './content.ts';
import { decodePeerRecord, encodePeerRecord, resendToPeer } from './index.ts';
import { peerRecord } from './session.ts';
import { Party } from './handshake-vectors/party.ts';
import { codeOf } from './handshake-vectors/test-helpers.ts';

let crypto: Crypto;
beforeAll(async () => {
  crypto = await createSodiumCrypto();
});
const T0 = 1_700_000_000_000;

/** bob's record of alice as a backup restores it: no session, the transcript as it was. */
function restoredFrom(saved: Uint8Array): Uint8Array {
  return encodePeerRecord(peerRecord({ ...decodePeerRecord(saved), active: null, archived: [] }));
}

function rebaseOf(bob: Party, alice: Party): { seq: number; hash: Uint8Array } {
  const t = bob.peer(alice.userId)!.transcript;
  return { seq: t.sendSeq, hash: t.sendHash };
}

describe('reset with a rebase', () => {
  it('encodes after the reset header (a plain reset is unchanged), round-trips, and refuses other trailing bytes', () => {
    const plain = encodeContent(sealContent(crypto, { kind: 'reset' }, 0, ZERO_HASH, T0));
    expect(plain.length).toBe(CONTENT_HEADER_BYTES);
    const hash = crypto.randomBytes(32);
    const withRebase = encodeContent(sealContent(crypto, { kind: 'reset', rebase: { seq: 7, hash } }, 0, ZERO_HASH, T0));
    expect(withRebase.length).toBe(CONTENT_HEADER_BYTES + 1 + 8 + 32);
    const back = decodeContent(withRebase);
    expect(back.kind === 'reset' && back.rebase?.seq === 7 && crypto.equal(back.rebase.hash, hash)).toBe(true);
    const badFlag = withRebase.slice();
    badFlag[CONTENT_HEADER_BYTES] = 2;
    expect(codeOf(() => decodeContent(badFlag))).toBe('DecodeError');
    expect(codeOf(() => decodeContent(withRebase.subarray(0, withRebase.length - 1)))).toBe('DecodeError');
    expect(codeOf(() => sealContent(crypto, { kind: 'reset', rebase: { seq: -1, hash } }, 0, ZERO_HASH, T0))).toBe('DecodeError');
  });

  it('a restored sender behind what the peer saw: the peer rebases on the reset and takes the reused seqs as new messages', () => {
    const alice = new Party(crypto, T0);
    const bob = new Party(crypto, T0);
    alice.receive(bob.send(alice, 'b1', T0).envelope, T0);
    bob.receive(alice.send(bob, 'a1', T0).envelope, T0);
    alice.publish(T0); // as a daemon does: b1's one-time prekeys are gone from the bundle the restored bob fetches
    const backup = bob.peers.get(alice.userId)!;
    for (const t of ['b2', 'b3']) alice.receive(bob.send(alice, t, T0).envelope, T0);
    expect(alice.peer(bob.userId)!.transcript.recvSeq).toBe(3);
    // without a rebase, the restored bob's next message is a fork
    bob.peers.set(alice.userId, restoredFrom(backup));
    const before = alice.snapshot();
    expect(codeOf(() => alice.receive(bob.send(alice, 'b2 again, other content', T0).envelope, T0))).toBe('TranscriptBroken');
    expect(alice.snapshot()).toBe(before);
    bob.peers.set(alice.userId, restoredFrom(backup));
    // with it, the reset opens bob's fresh session and rebases alice on seq 1
    const r = alice.receive(bob.send(alice, { kind: 'reset', rebase: rebaseOf(bob, alice) }, T0).envelope, T0);
    expect(r.content.kind).toBe('reset');
    expect(alice.peer(bob.userId)!.transcript.recvSeq).toBe(1);
    expect(Party.texts(alice.receive(bob.send(alice, 'b4', T0).envelope, T0))).toEqual(['b4']);
    expect(Party.texts(alice.receive(bob.send(alice, 'b5', T0).envelope, T0))).toEqual(['b5']);
    expect(alice.peer(bob.userId)!.transcript.recvSeq).toBe(3);
  });

  it('a rebase at the position the peer is at changes nothing; one that arrives after messages of its session is ignored', () => {
    const alice = new Party(crypto, T0);
    const bob = new Party(crypto, T0);
    alice.receive(bob.send(alice, 'b1', T0).envelope, T0);
    bob.receive(alice.send(bob, 'a1', T0).envelope, T0);
    alice.publish(T0); // as a daemon does: b1's one-time prekeys are gone from the bundle the restored bob fetches
    bob.peers.set(alice.userId, restoredFrom(bob.peers.get(alice.userId)!));
    const reset = bob.send(alice, { kind: 'reset', rebase: rebaseOf(bob, alice) }, T0).envelope;
    const second = bob.send(alice, 'b2', T0);
    const third = bob.send(alice, 'b3', T0);
    // the relay delays the reset: b2 opens the session, b3 follows, then the reset comes
    expect(Party.texts(alice.receive(second.envelope, T0))).toEqual(['b2']);
    expect(Party.texts(alice.receive(third.envelope, T0))).toEqual(['b3']);
    alice.receive(reset, T0);
    expect(alice.peer(bob.userId)!.transcript.recvSeq).toBe(3);
    // a retransmission of b2 is still a copy, not a second delivery
    const again = resendToPeer(crypto, bob.own(), bob.peer(alice.userId)!, second.content, T0);
    bob.store(again.next);
    const r = alice.receive(again.envelope, T0);
    expect(r.duplicate).toBe(true);
    expect(Party.texts(r)).toEqual([]);
  });

  it('a rebase in order at the same position (a migration from an up-to-date backup) keeps everything', () => {
    const alice = new Party(crypto, T0);
    const bob = new Party(crypto, T0);
    alice.receive(bob.send(alice, 'b1', T0).envelope, T0);
    bob.receive(alice.send(bob, 'a1', T0).envelope, T0);
    const seen = alice.peer(bob.userId)!.transcript;
    bob.peers.set(alice.userId, restoredFrom(bob.peers.get(alice.userId)!));
    // the restored daemon fetches alice's bundle as it is now (the one-time prekey of b1 is gone)
    alice.publish(T0);
    alice.receive(bob.send(alice, { kind: 'reset', rebase: rebaseOf(bob, alice) }, T0).envelope, T0);
    const after = alice.peer(bob.userId)!.transcript;
    expect(after.recvSeq).toBe(seen.recvSeq);
    expect(crypto.equal(after.recvHash, seen.recvHash)).toBe(true);
    expect(after.recent.hashOf(1)).toBeDefined();
    expect(Party.texts(alice.receive(bob.send(alice, 'b2', T0).envelope, T0))).toEqual(['b2']);
  });
});
