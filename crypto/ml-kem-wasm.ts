/**
 * ML-KEM-768 (FIPS 203) from libsodium-wrappers' standard build (libsodium 1.0.22's
 * crypto_kem_mlkem768_*). Both providers use it: sodium-native 5.1 has no ML-KEM binding, so the
 * native provider delegates the KEM here (native.ts loads it with the provider). Randomness (the key
 * seed d ‖ z and the encapsulation's m) comes from the same OS CSPRNG pool as everything else, so a
 * Crypto with injected randomness makes the KEM deterministic too.
 */
import sodium from 'libsodium-wrappers';
import type { Crypto, KemEncapsulation, KeyPair } from '../core/crypto.ts';
import { randomBytes } from './node-primitives.ts';

export const ML_KEM_768_PUBLIC_KEY_BYTES = 1184;
export const ML_KEM_768_PRIVATE_KEY_BYTES = 2400;
export const ML_KEM_768_CIPHERTEXT_BYTES = 1088;
export const ML_KEM_768_SEED_BYTES = 64;
const M_BYTES = 32;

export type KemFunctions = Pick<Crypto, 'kemKeyPair' | 'kemKeyPairFromSeed' | 'kemEncapsulate' | 'kemEncapsulateWithRandomness' | 'kemDecapsulate'>;

let loading: Promise<KemFunctions> | undefined;

function checkLength(what: string, b: Uint8Array, n: number): void {
  if (!(b instanceof Uint8Array) || b.length !== n) throw new RangeError(`ML-KEM-768: ${what} must be ${n} bytes`);
}

function kemFunctions(s: typeof sodium): KemFunctions {
  const fromSeed = (seed: Uint8Array): KeyPair => {
    checkLength('seed', seed, ML_KEM_768_SEED_BYTES);
    const kp = s.crypto_kem_mlkem768_seed_keypair(seed);
    return { publicKey: kp.publicKey, privateKey: kp.privateKey };
  };
  const encapsulate = (publicKey: Uint8Array, m: Uint8Array): KemEncapsulation => {
    checkLength('public key', publicKey, ML_KEM_768_PUBLIC_KEY_BYTES);
    checkLength('m', m, M_BYTES);
    try {
      const e = s.crypto_kem_mlkem768_enc_deterministic(publicKey, m);
      return { ciphertext: e.ciphertext, sharedSecret: e.sharedSecret };
    } catch {
      // libsodium refuses an encapsulation key whose coefficients are not reduced modulo q.
      throw new RangeError('ML-KEM-768: invalid public key');
    }
  };
  return {
    kemKeyPair: () => {
      const seed = randomBytes(ML_KEM_768_SEED_BYTES);
      try {
        return fromSeed(seed);
      } finally {
        s.memzero(seed);
      }
    },
    kemKeyPairFromSeed: fromSeed,
    kemEncapsulate: (publicKey) => {
      const m = randomBytes(M_BYTES);
      try {
        return encapsulate(publicKey, m);
      } finally {
        s.memzero(m);
      }
    },
    kemEncapsulateWithRandomness: encapsulate,
    kemDecapsulate: (ciphertext, privateKey) => {
      checkLength('ciphertext', ciphertext, ML_KEM_768_CIPHERTEXT_BYTES);
      checkLength('private key', privateKey, ML_KEM_768_PRIVATE_KEY_BYTES);
      try {
        return s.crypto_kem_mlkem768_dec(ciphertext, privateKey);
      } catch {
        throw new RangeError('ML-KEM-768: invalid private key');
      }
    },
  };
}

/** Instantiates the WASM build once (shared with the WASM provider) and returns the KEM functions. */
export function loadWasmKem(): Promise<KemFunctions> {
  loading ??= sodium.ready.then(() => kemFunctions(sodium));
  return loading;
}
