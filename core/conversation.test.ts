import { beforeAll, describe, expect, it } from 'vitest';
import { createSodiumCrypto } from '../crypto/sodium.ts';
import type { Crypto, KeyPair } from './crypto.ts';
import { concat, toHex } from './bytes.ts';
import { ENVELOPE_KIND_PQ_HANDSHAKE, PQ_SEALED_SENDER_BYTES, encodeEnvelope, sealSender, type HandshakeEnvelope } from './envelope.ts';
import { KEM_CIPHERTEXT_BYTES } from './prekeys.ts';
import { deriveSealKey } from './x3dh.ts';
import { dh, identityDhPublic } from './keys.ts';
import {
  acceptHandshake,
  decodeEnvelope,
  decodePeerRecord,
  decodePrekeyState,
  decryptFromPeer,
  encodePeerRecord,
  encodePrekeyState,
  oneTimePrekeyCount,
  resendToPeer,
  startSession,
  unsealSender,
  verifyBundle,
  type SessionEnvelope,
} from './index.ts';
import { consumeOneTimePrekey } from './prekeys.ts';
import { handshakePrekeysPublished } from './handshake-prekeys.ts';
import { Party } from './handshake-vectors/party.ts';
import { codeOf } from './handshake-vectors/test-helpers.ts';

let crypto: Crypto;
beforeAll(async () => {
  crypto = await createSodiumCrypto();
});
const T0 = 1_700_000_000_000;
/** Where the ratchet message starts in a (PQXDH) handshake envelope. */
const MESSAGE_OFFSET = 2 + 32 + PQ_SEALED_SENDER_BYTES + KEM_CIPHERTEXT_BYTES;

function opkCount(p: Party): number {
  return oneTimePrekeyCount(decodePrekeyState(p.prekeys));
}

/** Bob keeps a single one-time prekey in his bundle (to force a race). */
function leaveOneOneTimePrekey(bob: Party): void {
  let s = decodePrekeyState(bob.prekeys);
  for (const k of s.oneTimePrekeys.slice(1)) s = consumeOneTimePrekey(s, k.id);
  bob.prekeys = encodePrekeyState(s);
  bob.publish(T0);
}

describe('X3DH through the facade (responder transaction)', () => {
  it('with a one-time prekey: consumed on success; without: no DH4 and the prekey stays', () => {
    const alice = new Party(crypto, T0);
    const bob = new Party(crypto, T0);
    expect(Party.texts(bob.receive(alice.send(bob, 'with', T0).envelope, T0))).toEqual(['with']);
    expect(opkCount(bob)).toBe(99);
    const carol = new Party(crypto, T0);
    carol.connect(bob, T0, { useOneTimePrekey: false });
    const x = carol.send(bob, 'x', T0).envelope;
    expect(unsealSender(crypto, bob.own(), decodeEnvelope(x) as HandshakeEnvelope).oneTimePrekeyId).toBeNull();
    expect(Party.texts(bob.receive(x, T0))).toEqual(['x']);
    expect(Party.texts(bob.receive(carol.send(bob, 'without', T0).envelope, T0))).toEqual(['without']);
    expect(opkCount(bob)).toBe(99);
  });

  it('a corrupted first message changes nothing and keeps the one-time prekey', () => {
    const alice = new Party(crypto, T0);
    const bob = new Party(crypto, T0);
    const good = alice.send(bob, 'first', T0).envelope;
    const before = bob.snapshot();
    for (const offset of [MESSAGE_OFFSET + 5, MESSAGE_OFFSET + 100, good.length - 1]) {
      const bad = good.slice();
      bad[offset] = bad[offset]! ^ 0x01;
      expect(codeOf(() => bob.receive(bad, T0))).toBe('BadMessage');
      expect(bob.snapshot()).toBe(before);
    }
    expect(opkCount(bob)).toBe(100);
    expect(Party.texts(bob.receive(good, T0))).toEqual(['first']);
    expect(opkCount(bob)).toBe(99);
  });

  it('repeated X3DH headers give one session, in any arrival order', () => {
    const alice = new Party(crypto, T0);
    const bob = new Party(crypto, T0);
    const sent = [1, 2, 3, 4, 5].map((i) => alice.send(bob, `m${i}`, T0).envelope);
    const got = [sent[3]!, sent[0]!, sent[4]!, sent[2]!, sent[1]!].flatMap((e) => Party.texts(bob.receive(e, T0)));
    expect(got).toEqual(['m1', 'm2', 'm3', 'm4', 'm5']);
    const rec = bob.peer(alice.userId)!;
    expect(rec.archived).toHaveLength(0);
    expect(rec.active!.id).toEqual(alice.peer(bob.userId)!.active!.id);
    expect(opkCount(bob)).toBe(99);
  });

  it('a replay of a handshake message on its session is a Duplicate and changes nothing', () => {
    const alice = new Party(crypto, T0);
    const bob = new Party(crypto, T0);
    const first = alice.send(bob, 'once', T0).envelope;
    bob.receive(first, T0);
    const before = bob.snapshot();
    expect(codeOf(() => bob.receive(first, T0 + 1))).toBe('Duplicate');
    expect(bob.snapshot()).toBe(before);
  });

  it('after the session was archived, a replay still goes to it (Duplicate), and late messages decrypt without promotion', () => {
    const alice = new Party(crypto, T0);
    const bob = new Party(crypto, T0);
    const first = alice.send(bob, 'one', T0).envelope;
    const late = alice.send(bob, 'two', T0).envelope;
    bob.receive(first, T0);
    bob.connect(alice, T0 + 5); // Bob starts a newer session: Alice's is archived
    const newest = bob.peer(alice.userId)!.active!.id;
    expect(bob.peer(alice.userId)!.archived).toHaveLength(1);
    const before = bob.snapshot();
    expect(codeOf(() => bob.receive(first, T0 + 6))).toBe('Duplicate');
    expect(bob.snapshot()).toBe(before);
    expect(Party.texts(bob.receive(late, T0 + 7))).toEqual(['two']);
    expect(bob.peer(alice.userId)!.active!.id).toEqual(newest);
  });

  it('once the session is gone: a replay without one-time prekey hits the replay cache, with one the prekey is gone', () => {
    const alice = new Party(crypto, T0);
    const bob = new Party(crypto, T0);
    alice.connect(bob, T0, { useOneTimePrekey: false });
    const noOpk = alice.send(bob, 'no opk', T0).envelope;
    bob.receive(noOpk, T0);
    const carol = new Party(crypto, T0);
    const withOpk = carol.send(bob, 'opk', T0).envelope;
    bob.receive(withOpk, T0);
    bob.peers.clear(); // the sessions are gone (evicted, or a corrupt record dropped)
    bob.tagIndex.clear();
    const before = bob.snapshot();
    expect(codeOf(() => bob.receive(noOpk, T0 + 1))).toBe('ReplayedHandshake');
    expect(codeOf(() => bob.receive(withOpk, T0 + 1))).toBe('StalePrekey');
    expect(bob.snapshot()).toBe(before);
  });

  it("a handshake replayed under another sender's identity fails and changes nothing", () => {
    const ephemerals: KeyPair[] = [];
    const recording: Crypto = {
      ...crypto,
      x25519KeyPair: () => {
        const kp = crypto.x25519KeyPair();
        ephemerals.push({ publicKey: kp.publicKey, privateKey: kp.privateKey.slice() });
        return kp;
      },
    };
    const alice = new Party(recording, T0);
    const bob = new Party(crypto, T0);
    const mallory = new Party(crypto, T0);
    const env = decodeEnvelope(alice.send(bob, 'for bob', T0).envelope) as HandshakeEnvelope;
    const ek = ephemerals.find((k) => toHex(k.publicKey) === toHex(env.ephemeralKey))!;
    const claim = unsealSender(crypto, bob.own(), env);
    // Mallory re-seals Alice's handshake (same EK, prekeys and ratchet message) as her own
    const dh2 = dh(crypto, ek.privateKey, identityDhPublic(crypto, bob.own().keyPair.publicKey));
    const sealed = sealSender(crypto, deriveSealKey(crypto, dh2), env.ephemeralKey, bob.own().keyPair.publicKey, {
      identityKey: mallory.own().keyPair.publicKey,
      signedPrekeyId: claim.signedPrekeyId,
      oneTimePrekeyId: claim.oneTimePrekeyId,
      bundleVersion: claim.bundleVersion,
      epoch: claim.epoch,
      pqPrekeyId: claim.pqPrekeyId,
    });
    const forged = encodeEnvelope({ ...env, sealed });
    expect(unsealSender(crypto, bob.own(), decodeEnvelope(forged) as HandshakeEnvelope).senderUserId).toBe(mallory.userId);
    const before = bob.snapshot();
    expect(codeOf(() => bob.receive(forged, T0))).toBe('BadMessage');
    expect(bob.snapshot()).toBe(before);
    expect(opkCount(bob)).toBe(100);
    expect(Party.texts(bob.receive(encodeEnvelope(env), T0))).toEqual(['for bob']);
  });

  it('a message for the wrong recipient is refused', () => {
    const alice = new Party(crypto, T0);
    const bob = new Party(crypto, T0);
    const carol = new Party(crypto, T0);
    const toBob = alice.send(bob, 'hi bob', T0).envelope;
    const before = carol.snapshot();
    expect(codeOf(() => carol.receive(toBob, T0))).toBe('WrongRecipient');
    expect(carol.snapshot()).toBe(before);
    // session kind: Carol's own sessions with Alice have no matching routing tag
    bob.receive(toBob, T0);
    alice.receive(bob.send(alice, 'ok', T0).envelope, T0);
    carol.receive(alice.send(carol, 'hi carol', T0).envelope, T0);
    const sessionToBob = decodeEnvelope(alice.send(bob, 'bob only', T0).envelope) as SessionEnvelope;
    expect(codeOf(() => decryptFromPeer(crypto, carol.peer(alice.userId)!, sessionToBob, T0))).toBe('NoSession');
  });

  it('low-order and malformed keys are refused with no state change', () => {
    const alice = new Party(crypto, T0);
    const bob = new Party(crypto, T0);
    const bytes = alice.send(bob, 'x', T0).envelope;
    const before = bob.snapshot();
    const lowOrder = bytes.slice();
    lowOrder.set(new Uint8Array(32), 2);
    expect(codeOf(() => bob.receive(lowOrder, T0))).toBe('InvalidKey');
    const env = decodeEnvelope(bytes) as HandshakeEnvelope;
    const topBit = env.ephemeralKey.slice();
    topBit[31] = topBit[31]! | 0x80;
    expect(codeOf(() => unsealSender(crypto, bob.own(), { ...env, ephemeralKey: topBit as never }))).toBe('InvalidKey');
    expect(bob.snapshot()).toBe(before);
    // a (buggy or malicious) bundle with a low-order signed prekey, validly signed, is refused
    const b = bob.bundle.slice();
    b.set(new Uint8Array(32), 39);
    const signed = b.subarray(0, b.length - 64);
    const label = new TextEncoder().encode('ratchetd-v1/bundle');
    const resigned = concat(signed, crypto.sign(concat(label, signed), bob.own().keyPair.privateKey));
    expect(codeOf(() => verifyBundle(crypto, resigned, bob.userId, T0))).toBe('InvalidKey');
  });

  it('a handshake from our own identity is refused', () => {
    const alice = new Party(crypto, T0);
    const bob = new Party(crypto, T0);
    const env = decodeEnvelope(alice.send(bob, 'x', T0).envelope) as HandshakeEnvelope;
    const sender = unsealSender(crypto, bob.own(), env);
    const self = { ...sender, senderUserId: bob.userId };
    const own = bob.own();
    expect(codeOf(() => acceptHandshake(crypto, own, decodePrekeyState(bob.prekeys), null, env, self, T0, () => false))).toBe('WrongRecipient');
    expect(codeOf(() => startSession(crypto, own, null, verifyBundle(crypto, bob.bundle, bob.userId, T0), T0))).toBe('WrongRecipient');
  });
});

describe('trust: a changed identity fails closed', () => {
  it('a handshake under a different identity key than the stored one is UntrustedIdentity, nothing changes', () => {
    const alice = new Party(crypto, T0);
    const bob = new Party(crypto, T0);
    const mallory = new Party(crypto, T0);
    bob.receive(alice.send(bob, 'hello', T0).envelope, T0);
    // the stored record says Alice's key is K; a record whose key was changed (tampered, or an identity
    // change the daemon has not approved) refuses Alice's real handshake
    const rec = bob.peer(alice.userId)!;
    const changed = decodePeerRecord(encodePeerRecord({ ...rec, peerIdentityKey: mallory.own().keyPair.publicKey }));
    const fresh = decodeEnvelope(alice.send(bob, 'again', T0).envelope);
    expect(fresh.kind).toBe('handshake');
    const h = fresh as HandshakeEnvelope;
    const sender = unsealSender(crypto, bob.own(), h);
    const prekeys = decodePrekeyState(bob.prekeys);
    const before = encodePeerRecord(changed);
    expect(codeOf(() => acceptHandshake(crypto, bob.own(), prekeys, changed, h, sender, T0, () => false))).toBe('UntrustedIdentity');
    expect(encodePeerRecord(changed)).toEqual(before);
    // and a sender claiming Alice's user id with another key
    const spoof = { ...sender, senderIdentityKey: mallory.own().keyPair.publicKey };
    expect(codeOf(() => acceptHandshake(crypto, bob.own(), prekeys, rec, h, spoof, T0, () => false))).toBe('UntrustedIdentity');
  });

  it('starting a session from a bundle of another identity than the stored one is UntrustedIdentity', () => {
    const alice = new Party(crypto, T0);
    const bob = new Party(crypto, T0);
    const mallory = new Party(crypto, T0);
    alice.send(bob, 'x', T0);
    const rec = alice.peer(bob.userId)!;
    const malloryBundle = verifyBundle(crypto, mallory.bundle, mallory.userId, T0);
    const before = encodePeerRecord(rec);
    expect(codeOf(() => startSession(crypto, alice.own(), rec, malloryBundle, T0))).toBe('UntrustedIdentity');
    expect(encodePeerRecord(rec)).toEqual(before);
  });
});

describe('one-time prekey race and reset', () => {
  it('the loser gets StalePrekey at the responder (nothing changes there); it sees from the signed bundle that its prekey is gone, starts afresh and re-sends: delivered once', () => {
    const alice = new Party(crypto, T0);
    const bob = new Party(crypto, T0);
    const carol = new Party(crypto, T0);
    leaveOneOneTimePrekey(bob);
    const offered = verifyBundle(crypto, bob.bundle, bob.userId, T0);
    const fromCarol = carol.send(bob, 'carol first', T0).envelope;
    const fromAlice = alice.send(bob, 'alice loses', T0);
    expect(Party.texts(bob.receive(fromCarol, T0))).toEqual(['carol first']);
    const before = bob.snapshot();
    expect(codeOf(() => bob.receive(fromAlice.envelope, T0))).toBe('StalePrekey');
    expect(bob.snapshot()).toBe(before);
    // alice, still unanswered, reads bob's bundle: the one she used still offers her prekeys, the
    // one bob published after carol's handshake does not
    const pending = alice.peer(bob.userId)!.active!;
    expect(handshakePrekeysPublished(crypto, alice.own(), pending, offered)).toBe(true);
    bob.publish(T0 + 1);
    const newer = verifyBundle(crypto, bob.bundle, bob.userId, T0 + 1, offered.bundleVersion);
    expect(handshakePrekeysPublished(crypto, alice.own(), pending, newer)).toBe(false);
    // a fresh session from that bundle, and the same content (id, seq, hash) again on it
    alice.connect(bob, T0 + 2);
    const again = resendToPeer(crypto, alice.own(), alice.peer(bob.userId)!, fromAlice.content, T0 + 2);
    alice.store(again.next);
    expect(again.envelope[1]).toBe(ENVELOPE_KIND_PQ_HANDSHAKE); // a (PQXDH) handshake of the new session
    expect(Party.texts(bob.receive(again.envelope, T0 + 2))).toEqual(['alice loses']);
    expect(codeOf(() => bob.receive(again.envelope, T0 + 3))).toBe('Duplicate');
    const reply = bob.send(alice, 'got it', T0 + 3).envelope;
    expect(Party.texts(alice.receive(reply, T0 + 3))).toEqual(['got it']);
    expect(Party.texts(bob.receive(alice.send(bob, 'and more', T0 + 4).envelope, T0 + 4))).toEqual(['and more']);
    // answered: nothing pending, nothing to replace
    expect(handshakePrekeysPublished(crypto, alice.own(), alice.peer(bob.userId)!.active!, newer)).toBe(true);
  });

  it('a reset from the peer (the daemon sends one after an authenticated TooFarAhead) makes the receiver adopt the reset session and re-send', () => {
    const alice = new Party(crypto, T0);
    const bob = new Party(crypto, T0);
    const carol = new Party(crypto, T0);
    leaveOneOneTimePrekey(bob);
    const fromCarol = carol.send(bob, 'carol first', T0).envelope;
    const fromAlice = alice.send(bob, 'alice loses', T0);
    expect(Party.texts(bob.receive(fromCarol, T0))).toEqual(['carol first']);
    const before = bob.snapshot();
    expect(codeOf(() => bob.receive(fromAlice.envelope, T0))).toBe('StalePrekey');
    expect(bob.snapshot()).toBe(before);
    // (the daemon no longer answers a StalePrekey: anyone can make one; this exercises the core's reset)
    const claimed = unsealSender(crypto, bob.own(), decodeEnvelope(fromAlice.envelope) as HandshakeEnvelope).senderUserId;
    expect(claimed).toBe(alice.userId);
    const reset = bob.send(alice, { kind: 'reset' }, T0 + 1).envelope;
    const r = alice.receive(reset, T0 + 1);
    expect(r.content.kind).toBe('reset');
    const aliceView = alice.peer(bob.userId)!;
    expect(aliceView.active!.id).toEqual(bob.peer(alice.userId)!.active!.id);
    expect(aliceView.archived[0]!.retired).toBe(true);
    // Alice re-sends her unacknowledged message (same content: id, seq, hash) over the adopted session
    const again = resendToPeer(crypto, alice.own(), alice.peer(bob.userId)!, fromAlice.content, T0 + 2);
    alice.store(again.next);
    expect(again.envelope[1]).toBe(1); // session kind: the adopted session already works both ways
    expect(Party.texts(bob.receive(again.envelope, T0 + 2))).toEqual(['alice loses']);
    expect(Party.texts(bob.receive(alice.send(bob, 'and more', T0 + 3).envelope, T0 + 3))).toEqual(['and more']);
  });
});
