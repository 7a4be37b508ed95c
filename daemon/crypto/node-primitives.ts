/**
 * The primitives both libsodium builds get from node:crypto: the OS CSPRNG, HKDF/HMAC-SHA256,
 * SHA-2 and constant-time comparison (standard libsodium-wrappers has no HKDF or HMAC-SHA256).
 */
import { createHash, createHmac, hkdfSync, randomFillSync, timingSafeEqual } from 'node:crypto';
import type { Crypto } from '../protocol/crypto.ts';

function view(b: ArrayBufferView): Uint8Array {
  return new Uint8Array(b.buffer, b.byteOffset, b.byteLength);
}

export function randomBytes(length: number): Uint8Array {
  return randomFillSync(new Uint8Array(length));
}

export const nodePrimitives: Pick<Crypto, 'randomBytes' | 'hkdf' | 'hmac' | 'sha256' | 'sha512' | 'equal'> = {
  // libsodium-wrappers' randombytes_buf calls crypto.getRandomValues once per 4 bytes, which
  // dominated the ratchet's profile; node:crypto fills the whole buffer from the OS CSPRNG at once.
  randomBytes,
  hkdf: (salt, ikm, info, length) => new Uint8Array(hkdfSync('sha256', ikm, salt, info, length)),
  hmac: (k, d) => view(createHmac('sha256', k).update(d).digest()),
  sha256: (d) => view(createHash('sha256').update(d).digest()),
  sha512: (d) => view(createHash('sha512').update(d).digest()),
  equal: (a, b) => a.length === b.length && timingSafeEqual(a, b),
};
