/**
 * Crypto on libsodium-wrappers (WASM) plus HKDF/HMAC/SHA/randomness from node:crypto.
 * This is an adapter: the protocol core receives it as a `Crypto` and never imports it.
 */
import sodium from 'libsodium-wrappers';

type StateAddress = ReturnType<typeof sodium.crypto_secretstream_xchacha20poly1305_init_pull>;
type MessageTag = { message: Uint8Array; tag: number };
import { SECRETSTREAM_ABYTES, SECRETSTREAM_HEADER_BYTES, SECRETSTREAM_KEY_BYTES, type Crypto, type KeyPair } from '../core/crypto.ts';
import { nodePrimitives, randomBytes } from './node-primitives.ts';
import { loadWasmKem, type KemFunctions } from './ml-kem-wasm.ts';

let ready: Promise<void> | undefined;

/** A caller's output buffer must have exactly n bytes (checked before the stream moves on). */
function checkOutput(into: Uint8Array | undefined, n: number): void {
  if (into !== undefined && into.length !== n) throw new RangeError(`secretstream: the output buffer must be ${n} bytes`);
}

/** The WASM build returns new arrays: the result copied into the caller's buffer, when it gave one. */
function copiedInto(into: Uint8Array | undefined, result: Uint8Array): Uint8Array {
  if (into === undefined) return result;
  into.set(result);
  return into;
}

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
    secretstreamPush: (key) => {
      if (key.length !== SECRETSTREAM_KEY_BYTES) throw new RangeError('secretstream: key must be 32 bytes');
      const { state, header } = s.crypto_secretstream_xchacha20poly1305_init_push(key);
      return {
        header,
        push: (m, ad, tag, into) => {
          checkOutput(into, m.length + SECRETSTREAM_ABYTES);
          return copiedInto(into, s.crypto_secretstream_xchacha20poly1305_push(state, m, ad, tag));
        },
      };
    },
    secretstreamPull: (key, header) => {
      if (key.length !== SECRETSTREAM_KEY_BYTES || header.length !== SECRETSTREAM_HEADER_BYTES) return null;
      let state: StateAddress;
      try {
        state = s.crypto_secretstream_xchacha20poly1305_init_pull(header, key);
      } catch {
        return null;
      }
      return {
        pull: (c, ad, into) => {
          if (c.length < SECRETSTREAM_ABYTES) return null;
          checkOutput(into, c.length - SECRETSTREAM_ABYTES);
          try {
            const r = s.crypto_secretstream_xchacha20poly1305_pull(state, c, ad) as MessageTag | false;
            return r === false ? null : { message: copiedInto(into, r.message), tag: r.tag };
          } catch {
            return null;
          }
        },
      };
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
