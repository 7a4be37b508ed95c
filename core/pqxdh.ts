/**
 * PQXDH key agreement (Signal PQXDH, hybrid): X3DH plus an ML-KEM-768 encapsulation to one of the
 * responder's PQ prekeys, both in one KDF, so the session key holds while either X25519 or ML-KEM
 * does (a recording kept for a future quantum computer is not enough).
 *
 *   DH1..DH4 as X3DH (x3dh.ts)      (CT, SS) = ML-KEM-768.Encaps(PQPK_B)
 *   SK ‖ HKa ‖ NHKb = HKDF(salt 0^32, 0xFF^32 ‖ DH1 ‖ DH2 ‖ DH3 [‖ DH4] ‖ SS, "ratchetd-v1/PQXDH", 96)
 *   AD = X3DH AD ‖ pq prekey id u32 ‖ SHA-256(PQPK_B) ‖ SHA-256(CT)
 *   handshake id = SHA-256("ratchetd-v1/pq-handshake-id" ‖ Enc(IK_A) ‖ Enc(IK_B) ‖ EK_A ‖ spk id u32
 *                  ‖ has opk u8 ‖ opk id u32 ‖ pq prekey id u32)[0..16]
 *   replay id and seal key: as X3DH.
 * The AD binds the PQ prekey used (its id and a hash of its public key) and the ciphertext, so a
 * session key can never be shared by two handshakes that differ in either. The initiator takes a
 * one-time PQ prekey at random when the bundle has any, else the signed last-resort one (whose reuse
 * the responder's replay cache guards, as for a handshake without a one-time prekey).
 *
 * A ciphertext that decapsulates to another secret (tampered, or made for another key) is not
 * detected here — ML-KEM's implicit rejection returns a pseudorandom secret — but at the first AEAD
 * of the ratchet message: the responder derives and changes nothing before that (conversation.ts).
 * Secrets are zeroed after use, as in x3dh.ts.
 */
import type { Crypto } from './crypto.ts';
import { DecodeError } from './errors.ts';
import { Writer, concat, utf8 } from './bytes.ts';
import type { LocalIdentity } from './identity.ts';
import type { BundlePqPrekey, VerifiedBundle } from './bundle.ts';
import { requireOneTimePrekey, requirePqPrekey, requireSignedPrekey, type PrekeyState } from './prekeys.ts';
import type { UserId } from './user-id.ts';
import { chooseOneTimePrekey, initiatorAgreement, randomIndex, responderAgreement, type InitiatorResult, type ResponderResult } from './x3dh.ts';

export const PQXDH_INFO = utf8.encode('ratchetd-v1/PQXDH');

export interface PqHandshakeParameters {
  readonly signedPrekeyId: number;
  readonly oneTimePrekeyId: number | null;
  readonly pqPrekeyId: number;
}

export interface PqInitiatorResult extends InitiatorResult {
  readonly pqPrekeyId: number;
  /** The ML-KEM-768 ciphertext (1,088 bytes) the handshake envelope carries. */
  readonly kemCiphertext: Uint8Array;
}

/** AD = X3DH AD ‖ pq prekey id u32 ‖ SHA-256(PQPK_B) ‖ SHA-256(CT). */
export function pqAssociatedData(crypto: Crypto, classicAd: Uint8Array, pqPrekeyId: number, pqPublicKey: Uint8Array, kemCiphertext: Uint8Array): Uint8Array {
  return concat(classicAd, new Writer().u32(pqPrekeyId).finish(), crypto.sha256(pqPublicKey), crypto.sha256(kemCiphertext));
}

/** The PQ prekey an initiator uses: a one-time one at random (unless `useOneTime` is false), else the last-resort one. */
function choosePqPrekey(crypto: Crypto, bundle: VerifiedBundle, useOneTime: boolean): BundlePqPrekey {
  const pq = bundle.pq;
  if (pq === null) throw new DecodeError('pqxdh: the bundle has no PQ prekeys');
  return useOneTime && pq.oneTime.length > 0 ? pq.oneTime[randomIndex(crypto, pq.oneTime.length)]! : pq.lastResort;
}

/**
 * The initiator's side (the bundle must have PQ prekeys). `useOneTimePrekey: false` uses neither a
 * one-time prekey nor a one-time PQ prekey (no DH4, the last-resort PQ prekey).
 */
export function pqxdhInitiate(
  crypto: Crypto,
  own: LocalIdentity,
  bundle: VerifiedBundle,
  options: { useOneTimePrekey?: boolean } = {},
): PqInitiatorResult {
  const useOneTime = options.useOneTimePrekey !== false;
  const opk = chooseOneTimePrekey(crypto, bundle, useOneTime);
  const pqPrekey = choosePqPrekey(crypto, bundle, useOneTime);
  let kem;
  try {
    kem = crypto.kemEncapsulate(pqPrekey.publicKey);
  } catch (e) {
    throw Object.assign(new DecodeError('pqxdh: the PQ prekey is not a valid ML-KEM-768 key', 'InvalidKey'), { cause: e });
  }
  const kemCiphertext = kem.ciphertext;
  const params = { signedPrekeyId: bundle.signedPrekey.id, oneTimePrekeyId: opk?.id ?? null, pqPrekeyId: pqPrekey.id };
  const hybrid = { sharedSecret: kem.sharedSecret, info: PQXDH_INFO, extendAd: (ad: Uint8Array) => pqAssociatedData(crypto, ad, pqPrekey.id, pqPrekey.publicKey, kemCiphertext) };
  return { ...initiatorAgreement(crypto, own, bundle, opk, params, hybrid), kemCiphertext };
}

/**
 * The responder's side: looks up SPK_B, OPK_B and the PQ prekey (StalePrekey if any is unknown),
 * decapsulates and derives the same secrets. Changes nothing: consuming the one-time prekeys is the
 * caller's business once the message decrypts.
 */
export function pqxdhRespond(
  crypto: Crypto,
  own: LocalIdentity,
  prekeys: PrekeyState,
  initiator: { identityKey: Uint8Array; userId: UserId },
  ephemeralKey: Uint8Array,
  kemCiphertext: Uint8Array,
  params: PqHandshakeParameters,
): ResponderResult {
  const spk = requireSignedPrekey(prekeys, params.signedPrekeyId);
  const opk = params.oneTimePrekeyId === null ? null : requireOneTimePrekey(prekeys, params.oneTimePrekeyId);
  const { prekey: pqPrekey } = requirePqPrekey(prekeys, params.pqPrekeyId);
  return responderAgreement(crypto, own, spk, opk, initiator, ephemeralKey, () => ({
    sharedSecret: crypto.kemDecapsulate(kemCiphertext, pqPrekey.keyPair.privateKey), // implicit rejection
    info: PQXDH_INFO,
    extendAd: (ad) => pqAssociatedData(crypto, ad, pqPrekey.id, pqPrekey.keyPair.publicKey, kemCiphertext),
  }));
}
