/**
 * What one message costs in primitive calls, through the facade with records encoded and decoded
 * between every step and the routing-tag index kept up to date (handshake-vectors/party.ts), as a
 * daemon runs it. Pins that HKDF runs only where the protocol requires it, that routing costs no
 * HMAC (tags are stored beside their header keys), and that the routing tag picks the header key, so
 * no header is trial-decrypted under a wrong key. A change here is a performance regression or a
 * deliberate protocol change: never adjust the numbers without knowing which.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { createSodiumCrypto } from '../crypto/sodium.ts';
import type { Crypto } from './crypto.ts';
import { routingTags } from './index.ts';
import { Party } from './handshake-vectors/party.ts';
import { countingCrypto, type CallCounts } from './vectors/test-crypto.ts';

let base: Crypto;
beforeAll(async () => {
  base = await createSodiumCrypto();
});
const T0 = 1_700_000_000_000;

function answeredPair() {
  const counting = countingCrypto(base);
  const alice = new Party(counting.crypto, T0);
  const bob = new Party(counting.crypto, T0);
  bob.receive(alice.send(bob, 'hello', T0).envelope, T0);
  alice.receive(bob.send(alice, 'hi', T0).envelope, T0);
  return { counting, alice, bob };
}

function costOf(counting: ReturnType<typeof countingCrypto>, run: () => void): CallCounts {
  counting.reset();
  run();
  return { ...counting.counts };
}

describe('primitive calls per message (sender + receiver together)', () => {
  it('one way, within a chain: 2 HKDF (K on each side), 4 HMAC (KDF_CK on each side), one header decryption', () => {
    const { counting, alice, bob } = answeredPair();
    bob.receive(alice.send(bob, 'm1', T0).envelope, T0);
    const cost = costOf(counting, () => bob.receive(alice.send(bob, 'm2', T0).envelope, T0));
    expect(cost).toEqual({
      hkdf: 2, // K = HKDF(0^32, MK, "ratchetd-v1/DR-MK") on each side
      hmac: 4, // KDF_CK: CK' and MK on each side; routing tags are stored, not derived
      sha256: 2, // the transcript hash, once on each side
      x25519: 0,
      x25519KeyPair: 0,
      aeadEncrypt: 2, // header, body
      aeadDecrypt: 2, // header under the key the routing tag names, body
      randomBytes: 2, // message id; both nonces in one draw
    });
  });

  it('each message a DH ratchet step (ping-pong): + KDF_RK twice, the two X25519 and one key pair of DR, 2 HMAC for the new header keys’ tags', () => {
    const { counting, alice, bob } = answeredPair();
    bob.receive(alice.send(bob, 'm1', T0).envelope, T0);
    const cost = costOf(counting, () => alice.receive(bob.send(alice, 'r1', T0).envelope, T0));
    expect(cost).toEqual({
      hkdf: 4, // K on each side + KDF_RK twice on the receiver
      hmac: 6, // KDF_CK on each side + tag(HKs), tag(NHKr) for the header keys new in their role
      sha256: 2,
      x25519: 2,
      x25519KeyPair: 1,
      aeadEncrypt: 2,
      aeadDecrypt: 2, // the routing tag names NHKr: no failed trial under HKr first
      randomBytes: 2,
    });
  });

  it('a 256-byte payload with its content fields fits the 512 bucket (658-byte session envelope)', () => {
    const { alice, bob } = answeredPair();
    const sent = alice.send(bob, { kind: 'message', body: new Uint8Array(256), contentType: 'application/octet-stream' }, T0);
    // envelope: version, kind, tag (16) ‖ encrypted header (88) ‖ body nonce (24) ‖ 512 + AEAD tag (16)
    expect(sent.envelope.length).toBe(2 + 16 + 88 + 24 + 512 + 16);
    expect(Party.texts(bob.receive(sent.envelope, T0))).toHaveLength(1);
  });

  it('indexing every routing tag of a peer costs no primitive call', () => {
    const { counting, alice } = answeredPair();
    const peer = [...alice.peers.keys()][0]!;
    const cost = costOf(counting, () => expect(routingTags(counting.crypto, alice.peer(peer)!).length).toBeGreaterThan(1));
    expect(Object.values(cost).every((n) => n === 0)).toBe(true);
  });
});
