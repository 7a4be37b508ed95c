/**
 * Crypto on libsodium-wrappers (WASM) plus HKDF/HMAC/SHA/randomness from node:crypto.
 * This is an adapter: the protocol core receives it as a `Crypto` and never imports it.
 */
import sodium from 'libsodium-wrappers';
import type { Crypto, KeyPair } from '../core/crypto.ts';
import { nodePrimitives, randomBytes } from './node-primitives.ts';
import { loadWasmKem, type KemFunctions } from './ml-kem-wasm.ts';

let ready: Promise<void> | undefined;

function createSodiumCryptoSync(kem: KemFunctions): Crypto {
  const s = sodium;
  return {
    ...nodePrimitives,
    ...kem,
    x25519: (sk, pk) => s.crypto_scalarmult(sk, pk),
    x25519KeyPair: (): KeyPair => {
      const privateKey = randomBytes(32);
      return { publicKey: s.crypto_scalarmult_base(privateKey), privateKey };
    },
    x25519PublicKey: (sk) => s.crypto_scalarmult_base(sk),
    ed25519KeyPair: (): KeyPair => {
      const seed = randomBytes(32);
      const kp = s.crypto_sign_seed_keypair(seed);
      s.memzero(seed);
      return { publicKey: kp.publicKey, privateKey: kp.privateKey };
    },
    ed25519KeyPairFromSeed: (seed): KeyPair => {
      const kp = s.crypto_sign_seed_keypair(seed);
      return { publicKey: kp.publicKey, privateKey: kp.privateKey };
    },
    sign: (m, sk) => s.crypto_sign_detached(m, sk),
    verify: (sig, m, pk) => {
      if (sig.length !== 64 || pk.length !== 32) return false;
      try {
        return s.crypto_sign_verify_detached(sig, m, pk);
      } catch {
        return false;
      }
    },
    ed25519PublicToX25519: (pk) => s.crypto_sign_ed25519_pk_to_curve25519(pk),
    ed25519PrivateToX25519: (sk) => s.crypto_sign_ed25519_sk_to_curve25519(sk),
    aeadEncrypt: (k, n, p, ad) => s.crypto_aead_xchacha20poly1305_ietf_encrypt(p, ad, null, n, k),
    aeadDecrypt: (k, n, c, ad) => {
      if (c.length < 16) return null;
      try {
        return s.crypto_aead_xchacha20poly1305_ietf_decrypt(null, c, ad, n, k);
      } catch {
        return null;
      }
    },
    zero: (b) => s.memzero(b),
  };
}

/** Waits for the WASM module, then returns the provider. */
export async function createSodiumCrypto(): Promise<Crypto> {
  ready ??= sodium.ready;
  await ready;
  return createSodiumCryptoSync(await loadWasmKem());
}
