/**
 * The cryptographic primitives the protocol core needs, passed in so the core stays pure and can run
 * on either libsodium build (WASM libsodium-wrappers or native). No primitive is implemented here.
 * Randomness is part of this interface, so tests can inject it (golden vectors).
 */
export interface KeyPair {
  readonly publicKey: Uint8Array;
  readonly privateKey: Uint8Array;
}

/** crypto_secretstream_xchacha20poly1305 tags (libsodium's values). */
export const SECRETSTREAM_TAG_MESSAGE = 0;
export const SECRETSTREAM_TAG_FINAL = 3;
/** Bytes a secretstream adds to each message (a tag byte, a 16-byte MAC). */
export const SECRETSTREAM_ABYTES = 17;
export const SECRETSTREAM_HEADER_BYTES = 24;
export const SECRETSTREAM_KEY_BYTES = 32;

/** The sealing end of one crypto_secretstream_xchacha20poly1305 stream. */
export interface SecretstreamPush {
  /** The stream header (24 bytes): the reading end needs it with the key. */
  readonly header: Uint8Array;
  /**
   * Seals the next message of the stream: ciphertext = message length + SECRETSTREAM_ABYTES. With
   * `into` (exactly that long; RangeError otherwise) the ciphertext is written there and `into` is
   * returned: a caller sealing many chunks reuses its buffers instead of allocating one per chunk.
   */
  push(message: Uint8Array, ad: Uint8Array, tag: number, into?: Uint8Array): Uint8Array;
}

/** The reading end: messages must come in the order they were sealed. */
export interface SecretstreamPull {
  /**
   * Opens the next message; null when it does not authenticate (wrong key, order, ad or bytes), in
   * which case the stream state is unchanged and the right message can still follow. With `into`
   * (exactly ciphertext length − SECRETSTREAM_ABYTES; RangeError otherwise) the message is written
   * there and `message` is `into` (after a failure its contents are undefined).
   */
  pull(ciphertext: Uint8Array, ad: Uint8Array, into?: Uint8Array): { message: Uint8Array; tag: number } | null;
}

/** Incremental SHA-256 (files are hashed as they stream). */
export interface Sha256Stream {
  update(data: Uint8Array): void;
  /** The digest; the stream may not be used after. */
  digest(): Uint8Array;
}

export interface Crypto {
  /** Cryptographically secure random bytes. */
  randomBytes(length: number): Uint8Array;

  /** X25519 (crypto_scalarmult). Throws on a low-order point (all-zero output). */
  x25519(privateKey: Uint8Array, publicKey: Uint8Array): Uint8Array;
  /** A fresh X25519 key pair (crypto_box_keypair semantics: private key is 32 random bytes). */
  x25519KeyPair(): KeyPair;
  /** X25519 public key of a private key (crypto_scalarmult_base). */
  x25519PublicKey(privateKey: Uint8Array): Uint8Array;

  /** A fresh Ed25519 key pair; privateKey is libsodium's 64-byte secret key (seed ‖ public key). */
  ed25519KeyPair(): KeyPair;
  /** Ed25519 key pair from a 32-byte seed. */
  ed25519KeyPairFromSeed(seed: Uint8Array): KeyPair;
  /** Detached Ed25519 signature (64 bytes). */
  sign(message: Uint8Array, privateKey: Uint8Array): Uint8Array;
  /** Verifies a detached Ed25519 signature; false on any failure, never throws for bad input. */
  verify(signature: Uint8Array, message: Uint8Array, publicKey: Uint8Array): boolean;
  /** crypto_sign_ed25519_pk_to_curve25519; throws on an invalid point. */
  ed25519PublicToX25519(publicKey: Uint8Array): Uint8Array;
  /** crypto_sign_ed25519_sk_to_curve25519. */
  ed25519PrivateToX25519(privateKey: Uint8Array): Uint8Array;

  /**
   * A fresh ML-KEM-768 key pair (FIPS 203 ML-KEM.KeyGen_internal on a 64-byte seed d ‖ z drawn from
   * randomBytes): publicKey is the 1,184-byte encapsulation key, privateKey the 2,400-byte
   * decapsulation key.
   */
  kemKeyPair(): KeyPair;
  /** ML-KEM-768 key pair from a 64-byte seed (d ‖ z). */
  kemKeyPairFromSeed(seed: Uint8Array): KeyPair;
  /**
   * ML-KEM-768 Encaps with 32 random bytes m drawn from randomBytes. Throws RangeError when the
   * public key fails FIPS 203's input checks (length, coefficients reduced modulo q).
   */
  kemEncapsulate(publicKey: Uint8Array): KemEncapsulation;
  /** ML-KEM.Encaps_internal with the given 32-byte m: for known-answer tests and golden vectors only. */
  kemEncapsulateWithRandomness(publicKey: Uint8Array, m: Uint8Array): KemEncapsulation;
  /**
   * ML-KEM-768 Decaps. Implicit rejection: a ciphertext that was not made for this key gives a
   * pseudorandom secret, never an error. Throws RangeError for a wrong ciphertext or key length.
   */
  kemDecapsulate(ciphertext: Uint8Array, privateKey: Uint8Array): Uint8Array;

  /** XChaCha20-Poly1305 (IETF). key 32, nonce 24; output = ciphertext ‖ 16-byte tag. */
  aeadEncrypt(key: Uint8Array, nonce: Uint8Array, plaintext: Uint8Array, aad: Uint8Array): Uint8Array;
  /** Returns null when the tag does not verify (never throws for a bad tag). */
  aeadDecrypt(key: Uint8Array, nonce: Uint8Array, ciphertext: Uint8Array, aad: Uint8Array): Uint8Array | null;

  /** Starts a secretstream under a 32-byte key (throws RangeError for another length). */
  secretstreamPush(key: Uint8Array): SecretstreamPush;
  /** Starts reading a secretstream; null for a key or header of the wrong length. */
  secretstreamPull(key: Uint8Array, header: Uint8Array): SecretstreamPull | null;

  /** HKDF-SHA256 (RFC 5869). */
  hkdf(salt: Uint8Array, ikm: Uint8Array, info: Uint8Array, length: number): Uint8Array;
  /** HMAC-SHA256. */
  hmac(key: Uint8Array, data: Uint8Array): Uint8Array;
  sha256(data: Uint8Array): Uint8Array;
  /** A fresh incremental SHA-256. */
  sha256Stream(): Sha256Stream;
  sha512(data: Uint8Array): Uint8Array;

  /** Constant-time equality (false for different lengths). */
  equal(a: Uint8Array, b: Uint8Array): boolean;
  /** Overwrites the buffer with zeros. */
  zero(buffer: Uint8Array): void;
}

/** One ML-KEM encapsulation: the ciphertext for the key's owner and the 32-byte shared secret. */
export interface KemEncapsulation {
  readonly ciphertext: Uint8Array;
  readonly sharedSecret: Uint8Array;
}
