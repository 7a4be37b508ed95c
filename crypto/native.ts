/**
 * Crypto on sodium-native (libsodium compiled natively, shipped prebuilt): the same libsodium
 * functions as the WASM build, about 3x faster for X25519 and Ed25519.
 * The same known-answer tests run against both builds (crypto/providers.test.ts).
 * sodium-native 5.1 has no ML-KEM binding: the KEM comes from the WASM build (ml-kem-wasm.ts),
 * instantiated when this module is first imported (crypto/index.ts imports it only when the native
 * build is chosen), so createNativeCrypto stays synchronous.
 */
import sodium from 'sodium-native';
import { SECRETSTREAM_ABYTES, SECRETSTREAM_HEADER_BYTES, SECRETSTREAM_KEY_BYTES, type Crypto, type KeyPair } from '../core/crypto.ts';
import { nodePrimitives, randomBytes } from './node-primitives.ts';
import { loadWasmKem } from './ml-kem-wasm.ts';

const kem = await loadWasmKem();

const TAG = 16;

function out(n: number): Uint8Array {
  return new Uint8Array(n);
}

/** The caller's output buffer (which must have exactly n bytes), or a new one. */
function outputFor(into: Uint8Array | undefined, n: number): Uint8Array {
  if (into === undefined) return out(n);
  if (into.length !== n) throw new RangeError(`secretstream: the output buffer must be ${n} bytes`);
  return into;
}

/** libsodium reports failure (e.g. a low-order point) by a -1 return, which sodium-native throws. */
function x25519(sk: Uint8Array, pk: Uint8Array): Uint8Array {
  if (sk.length !== 32 || pk.length !== 32) throw new RangeError('x25519: keys must be 32 bytes');
  const q = out(32);
  try {
    sodium.crypto_scalarmult(q, sk, pk);
  } catch {
    throw new RangeError('x25519: invalid (low-order) public key');
  }
  return q;
}

function x25519PublicKey(sk: Uint8Array): Uint8Array {
  const q = out(32);
  sodium.crypto_scalarmult_base(q, sk);
  return q;
}

function ed25519KeyPairFromSeed(seed: Uint8Array): KeyPair {
  const publicKey = out(32);
  const privateKey = out(64);
  sodium.crypto_sign_seed_keypair(publicKey, privateKey, seed);
  return { publicKey, privateKey };
}

export function createNativeCrypto(): Crypto {
  return {
    ...nodePrimitives,
    ...kem,
    x25519,
    x25519KeyPair: (): KeyPair => {
      const privateKey = randomBytes(32);
      return { publicKey: x25519PublicKey(privateKey), privateKey };
    },
    x25519PublicKey,
    ed25519KeyPair: (): KeyPair => {
      const seed = randomBytes(32);
      const kp = ed25519KeyPairFromSeed(seed);
      sodium.sodium_memzero(seed);
      return kp;
    },
    ed25519KeyPairFromSeed,
    sign: (m, sk) => {
      const sig = out(64);
      sodium.crypto_sign_detached(sig, m, sk);
      return sig;
    },
    verify: (sig, m, pk) => {
      if (sig.length !== 64 || pk.length !== 32) return false;
      try {
        return sodium.crypto_sign_verify_detached(sig, m, pk);
      } catch {
        return false;
      }
    },
    ed25519PublicToX25519: (pk) => {
      const x = out(32);
      try {
        sodium.crypto_sign_ed25519_pk_to_curve25519(x, pk);
      } catch {
        throw new RangeError('ed25519PublicToX25519: invalid public key');
      }
      return x;
    },
    ed25519PrivateToX25519: (sk) => {
      const x = out(32);
      sodium.crypto_sign_ed25519_sk_to_curve25519(x, sk);
      return x;
    },
    aeadEncrypt: (k, n, p, ad) => {
      const c = out(p.length + TAG);
      sodium.crypto_aead_xchacha20poly1305_ietf_encrypt(c, p, ad, null, n, k);
      return c;
    },
    aeadDecrypt: (k, n, c, ad) => {
      if (c.length < TAG || k.length !== 32 || n.length !== 24) return null;
      const m = out(c.length - TAG);
      try {
        sodium.crypto_aead_xchacha20poly1305_ietf_decrypt(m, null, c, ad, n, k);
        return m;
      } catch {
        return null;
      }
    },
    secretstreamPush: (key) => {
      if (key.length !== SECRETSTREAM_KEY_BYTES) throw new RangeError('secretstream: key must be 32 bytes');
      const state = out(sodium.crypto_secretstream_xchacha20poly1305_STATEBYTES);
      const header = out(SECRETSTREAM_HEADER_BYTES);
      sodium.crypto_secretstream_xchacha20poly1305_init_push(state, header, key);
      return {
        header,
        push: (m, ad, tag, into) => {
          const c = outputFor(into, m.length + SECRETSTREAM_ABYTES);
          sodium.crypto_secretstream_xchacha20poly1305_push(state, c, m, ad, tag);
          return c;
        },
      };
    },
    secretstreamPull: (key, header) => {
      if (key.length !== SECRETSTREAM_KEY_BYTES || header.length !== SECRETSTREAM_HEADER_BYTES) return null;
      const state = out(sodium.crypto_secretstream_xchacha20poly1305_STATEBYTES);
      try {
        sodium.crypto_secretstream_xchacha20poly1305_init_pull(state, header, key);
      } catch {
        return null;
      }
      return {
        pull: (c, ad, into) => {
          if (c.length < SECRETSTREAM_ABYTES) return null;
          const m = outputFor(into, c.length - SECRETSTREAM_ABYTES);
          const tag = out(1);
          try {
            sodium.crypto_secretstream_xchacha20poly1305_pull(state, m, tag, c, ad);
          } catch {
            return null;
          }
          return { message: m, tag: tag[0]! };
        },
      };
    },
    zero: (b) => sodium.sodium_memzero(b),
  };
}
