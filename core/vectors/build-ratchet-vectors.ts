/**
 * Runs the scripted golden conversation of ratchet-vectors.ts (the same steps as golden.test.ts) and
 * prints its outputs, for a deliberate, versioned change of the message or state format:
 *   npx tsx core/vectors/build-ratchet-vectors.ts
 * Copy the printed values into ratchet-vectors.ts only when the format change is intended (bump the
 * version byte of what changed); the inputs above `conversation`'s outputs never change.
 */
import type { Crypto } from '../crypto.ts';
import { encodeRatchetState, initInitiator, initResponder, ratchetDecrypt, ratchetEncrypt } from '../ratchet.ts';
import { RATCHET_VECTORS } from './ratchet-vectors.ts';
import { scriptedCrypto } from './test-crypto.ts';
import { hex, unhex } from './ratchet-fixtures.ts';

export const VECTOR_T0 = 1_700_000_000_000;

/** The golden conversation: Alice's first message, Bob's reply (a DH step on each side). */
export function runGoldenConversation(crypto: Crypto) {
  const c = RATCHET_VECTORS.conversation;
  const init = {
    sharedSecret: unhex(c.sharedSecret),
    sharedHeaderKeyA: unhex(c.sharedHeaderKeyA),
    sharedNextHeaderKeyB: unhex(c.sharedNextHeaderKeyB),
    associatedData: unhex(c.associatedData),
  };
  const spkPrivate = unhex(c.responderSignedPrekeyPrivate);
  const spk = { privateKey: spkPrivate, publicKey: crypto.x25519PublicKey(spkPrivate) };
  const ca = scriptedCrypto(crypto, [unhex(c.initiatorRatchetPrivate), unhex(c.initiatorNonces), unhex(c.initiatorRatchetPrivate2)]);
  const cb = scriptedCrypto(crypto, [unhex(c.responderRatchetPrivate), unhex(c.responderNonces)]);
  const alice0 = initInitiator(ca, init, spk.publicKey, VECTOR_T0);
  const bob0 = initResponder(cb, init, spk, VECTOR_T0);
  const e1 = ratchetEncrypt(ca, alice0, unhex(c.plaintext1), VECTOR_T0);
  const d1 = ratchetDecrypt(cb, bob0, e1.message, VECTOR_T0 + 1);
  const e2 = ratchetEncrypt(cb, d1.next, unhex(c.plaintext2), VECTOR_T0 + 2);
  const d2 = ratchetDecrypt(ca, e1.next, e2.message, VECTOR_T0 + 3);
  return { e1, d1, e2, d2, spk, ca, cb };
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const { createSodiumCrypto } = await import('../../crypto/sodium.ts');
  const r = runGoldenConversation(await createSodiumCrypto());
  console.log(
    JSON.stringify(
      {
        message1: hex(r.e1.message),
        headerKey1: hex(r.e1.headerKey),
        message2: hex(r.e2.message),
        headerKey2: hex(r.e2.headerKey),
        responderStateAfterReply: hex(encodeRatchetState(r.e2.next)),
        initiatorStateAfterReply: hex(encodeRatchetState(r.d2.next)),
      },
      null,
      2,
    ),
  );
}
