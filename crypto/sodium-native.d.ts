// The subset of sodium-native 5 that crypto/native.ts uses (output buffers first, as in C).
declare module 'sodium-native' {
  type B = Uint8Array;
  export function crypto_scalarmult(q: B, n: B, p: B): void;
  export function crypto_scalarmult_base(q: B, n: B): void;
  export function crypto_sign_seed_keypair(pk: B, sk: B, seed: B): void;
  export function crypto_sign_detached(sig: B, m: B, sk: B): void;
  export function crypto_sign_verify_detached(sig: B, m: B, pk: B): boolean;
  export function crypto_sign_ed25519_pk_to_curve25519(x: B, ed: B): void;
  export function crypto_sign_ed25519_sk_to_curve25519(x: B, ed: B): void;
  export function crypto_aead_xchacha20poly1305_ietf_encrypt(c: B, m: B, ad: B | null, nsec: null, npub: B, k: B): number;
  export function crypto_aead_xchacha20poly1305_ietf_decrypt(m: B, nsec: null, c: B, ad: B | null, npub: B, k: B): number;
  export function sodium_memzero(b: B): void;
  export function crypto_secretstream_xchacha20poly1305_init_push(state: B, header: B, k: B): void;
  export function crypto_secretstream_xchacha20poly1305_push(state: B, c: B, m: B, ad: B | null, tag: number): number;
  export function crypto_secretstream_xchacha20poly1305_init_pull(state: B, header: B, k: B): void;
  export function crypto_secretstream_xchacha20poly1305_pull(state: B, m: B, tag: B, c: B, ad: B | null): number;
  export const crypto_secretstream_xchacha20poly1305_STATEBYTES: number;
  export function crypto_pwhash_async(out: B, passwd: B, salt: B, opslimit: number, memlimit: number, alg: number): Promise<void>;
  export const crypto_pwhash_ALG_ARGON2ID13: number;
  export const crypto_pwhash_SALTBYTES: number;
  const sodium: {
    crypto_secretstream_xchacha20poly1305_init_push: typeof crypto_secretstream_xchacha20poly1305_init_push;
    crypto_secretstream_xchacha20poly1305_push: typeof crypto_secretstream_xchacha20poly1305_push;
    crypto_secretstream_xchacha20poly1305_init_pull: typeof crypto_secretstream_xchacha20poly1305_init_pull;
    crypto_secretstream_xchacha20poly1305_pull: typeof crypto_secretstream_xchacha20poly1305_pull;
    crypto_secretstream_xchacha20poly1305_STATEBYTES: number;
    crypto_scalarmult: typeof crypto_scalarmult;
    crypto_scalarmult_base: typeof crypto_scalarmult_base;
    crypto_sign_seed_keypair: typeof crypto_sign_seed_keypair;
    crypto_sign_detached: typeof crypto_sign_detached;
    crypto_sign_verify_detached: typeof crypto_sign_verify_detached;
    crypto_sign_ed25519_pk_to_curve25519: typeof crypto_sign_ed25519_pk_to_curve25519;
    crypto_sign_ed25519_sk_to_curve25519: typeof crypto_sign_ed25519_sk_to_curve25519;
    crypto_aead_xchacha20poly1305_ietf_encrypt: typeof crypto_aead_xchacha20poly1305_ietf_encrypt;
    crypto_aead_xchacha20poly1305_ietf_decrypt: typeof crypto_aead_xchacha20poly1305_ietf_decrypt;
    sodium_memzero: typeof sodium_memzero;
    crypto_pwhash_async: typeof crypto_pwhash_async;
    crypto_pwhash_ALG_ARGON2ID13: number;
    crypto_pwhash_SALTBYTES: number;
  };
  export default sodium;
}
