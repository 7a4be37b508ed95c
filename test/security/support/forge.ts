/**
 * Envelopes an attacker can make, for the forged-handshake tests (engine and real processes):
 *  - a handshake sealed to the recipient's public identity key that names any sender (the sealed
 *    block needs nothing secret), with any prekey ids, carrying a ratchet message that no key
 *    agreement of the named sender produced;
 *  - a session envelope with a routing tag seen on the wire and a damaged body (what the relay can do);
 * and one a genuine peer sends: a message too far ahead (TooFarAhead), from that peer's own state.
 */
import { randomBytes } from 'node:crypto';
import type { Crypto } from '../../../core/crypto.ts';
import { encodeEnvelope, sealSender, type HandshakeEnvelope } from '../../../core/envelope.ts';
import { encryptForPeer, type LocalIdentity, type PeerRecord } from '../../../core/index.ts';
import { dh, identityDhPublic } from '../../../core/keys.ts';
import { MAX_SKIP } from '../../../core/limits.ts';
import { deriveSealKey } from '../../../core/x3dh.ts';

/** encHeader (88) ‖ body nonce (24) ‖ a 256-byte bucket + tag (16): a well-formed ratchet message length. */
const RATCHET_MESSAGE_BYTES = 88 + 24 + 256 + 16;

export interface ForgedClaim {
  /** The recipient's raw Ed25519 identity key (public: in its bundle). */
  readonly recipientIdentityKey: Uint8Array;
  /** Whom the handshake names as its sender (any public identity key). */
  readonly claimedIdentityKey: Uint8Array;
  readonly signedPrekeyId: number;
  readonly oneTimePrekeyId: number | null;
  readonly bundleVersion?: number;
  readonly epoch?: number;
  /** Length of the (random) ratchet message; default a short message's. */
  readonly messageBytes?: number;
}

/** A handshake envelope that unseals to `claim` at the recipient; its ratchet message is random. */
export function forgeHandshake(crypto: Crypto, claim: ForgedClaim): Uint8Array {
  const ek = crypto.x25519KeyPair();
  const dh2 = dh(crypto, ek.privateKey, identityDhPublic(crypto, claim.recipientIdentityKey)); // X25519(EK_A, IK_B)
  const sealed = sealSender(crypto, deriveSealKey(crypto, dh2), ek.publicKey, claim.recipientIdentityKey, {
    identityKey: claim.claimedIdentityKey,
    signedPrekeyId: claim.signedPrekeyId,
    oneTimePrekeyId: claim.oneTimePrekeyId,
    bundleVersion: claim.bundleVersion ?? 1,
    epoch: claim.epoch ?? Date.now(),
  });
  return encodeEnvelope({ kind: 'handshake', ephemeralKey: ek.publicKey as HandshakeEnvelope['ephemeralKey'], sealed, message: randomBytes(claim.messageBytes ?? RATCHET_MESSAGE_BYTES) });
}

/** Session envelope layout: version ‖ 0x01 ‖ tag (16) ‖ encrypted header (88) ‖ body nonce (24) ‖ body. */
const HEADER_AT = 18;
const HEADER_BYTES = 88;
const BODY_AT = HEADER_AT + HEADER_BYTES + 24;

/**
 * A copy of a session envelope (its routing tag kept) with one bit flipped in the encrypted header
 * (it no longer opens: BadMessage) or in the body (for an envelope already received, the header still
 * opens and says so first: Duplicate; for one not yet received: BadMessage). `n` picks the bit.
 */
export function damageSessionEnvelope(envelope: Uint8Array, where: 'header' | 'body', n: number): Uint8Array {
  if (envelope[1] !== 0x01) throw new Error('not a session envelope');
  const out = envelope.slice();
  const i = where === 'header' ? HEADER_AT + (n % HEADER_BYTES) : BODY_AT + (n % (out.length - BODY_AT));
  out[i] = out[i]! ^ (1 << (n % 8));
  return out;
}

/**
 * What `own` would send on its active session towards the record's peer after MAX_SKIP + 1 more
 * messages that never arrived: the peer can read its header (so it is authentic) and finds it too
 * far ahead. Pure: `record` is not changed.
 */
export function messageTooFarAhead(crypto: Crypto, own: LocalIdentity, record: PeerRecord, now: number): Uint8Array {
  let current = record;
  let envelope: Uint8Array | undefined;
  for (let i = 0; i <= MAX_SKIP + 1; i++) {
    const sent = encryptForPeer(crypto, own, current, { kind: 'message', body: new Uint8Array(1), contentType: 'text/plain' }, now);
    current = sent.next;
    envelope = sent.envelope;
  }
  if (envelope![1] !== 0x01) throw new Error('the session is not answered yet: its messages are handshakes');
  return envelope!;
}
