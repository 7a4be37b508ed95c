/**
 * Crypto on libsodium-wrappers (WASM) plus HKDF/HMAC/SHA from node:crypto.
 * This is an adapter: the protocol core receives it as a `Crypto` and never imports it.
 */
import { createHash, createHmac, hkdfSync, randomFillSync, timingSafeEqual } from 'node:crypto';
import sodium from 'libsodium-wrappers';
import type { Crypto, KeyPair } from '../protocol/crypto.ts';

let ready: Promise<void> | undefined;

function bytes(b: ArrayBufferView): Uint8Array {
  return new Uint8Array(b.buffer, b.byteOffset, b.byteLength);
}

function randomBytes(length: number): Uint8Array {
  return randomFillSync(new Uint8Array(length));
}

function createSodiumCryptoSync(): Crypto {
  const s = sodium;
  return {
    // The OS CSPRNG through node:crypto: libsodium-wrappers' randombytes_buf calls
    // crypto.getRandomValues once per 4 bytes, which dominated the ratchet's profile.
    randomBytes,
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
    hkdf: (salt, ikm, info, length) => new Uint8Array(hkdfSync('sha256', ikm, salt, info, length)),
    hmac: (k, d) => bytes(createHmac('sha256', k).update(d).digest()),
    sha256: (d) => bytes(createHash('sha256').update(d).digest()),
    sha512: (d) => bytes(createHash('sha512').update(d).digest()),
    equal: (a, b) => a.length === b.length && timingSafeEqual(a, b),
    zero: (b) => s.memzero(b),
  };
}

/** Waits for the WASM module, then returns the provider. */
export async function createSodiumCrypto(): Promise<Crypto> {
  ready ??= sodium.ready;
  await ready;
  return createSodiumCryptoSync();
}
