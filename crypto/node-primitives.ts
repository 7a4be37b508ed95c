/**
 * The primitives both libsodium builds get from node:crypto: the OS CSPRNG, HKDF/HMAC-SHA256,
 * SHA-2 and constant-time comparison (standard libsodium-wrappers has no HKDF or HMAC-SHA256).
 */
import * as nodeCrypto from 'node:crypto';
import { createHash, createHmac, hkdfSync, randomFillSync, timingSafeEqual } from 'node:crypto';
import type { Crypto } from '../core/crypto.ts';

function view(b: ArrayBufferView): Uint8Array {
  return new Uint8Array(b.buffer, b.byteOffset, b.byteLength);
}

/**
 * OS CSPRNG output drawn 4 KiB at a time: every message asks for small amounts (a 16-byte message
 * id, 48 bytes of nonces, a 32-byte key), and each randomFillSync call costs far more than the bytes
 * (as node:crypto's own randomUUID, which batches the same way). Each byte is handed out once, and
 * zeroed in the pool when handed out; large requests bypass the pool. Module state is per isolate
 * (worker threads get their own pool) and Node never forks a running process, so no two consumers
 * can share pool bytes.
 */
const POOL_BYTES = 4096;
const MAX_POOLED_REQUEST = 256;
const pool = new Uint8Array(POOL_BYTES);
let poolOffset = POOL_BYTES; // empty: filled on first use

export function randomBytes(length: number): Uint8Array {
  if (length > MAX_POOLED_REQUEST) return randomFillSync(new Uint8Array(length));
  if (poolOffset + length > POOL_BYTES) {
    randomFillSync(pool);
    poolOffset = 0;
  }
  const out = pool.slice(poolOffset, poolOffset + length);
  pool.fill(0, poolOffset, poolOffset + length);
  poolOffset += length;
  return out;
}

/**
 * One-shot crypto.hash (Node >= 20.12) where available: no Hash object per call (the transcript hash
 * runs on every message); createHash otherwise. Same function, same bytes.
 */
const oneShotHash = (nodeCrypto as { hash?: (algorithm: string, data: Uint8Array, encoding: 'buffer') => Buffer }).hash;

function digest(algorithm: 'sha256' | 'sha512', d: Uint8Array): Uint8Array {
  return view(oneShotHash === undefined ? createHash(algorithm).update(d).digest() : oneShotHash(algorithm, d, 'buffer'));
}

export const nodePrimitives: Pick<Crypto, 'randomBytes' | 'hkdf' | 'hmac' | 'sha256' | 'sha256Stream' | 'sha512' | 'equal'> = {
  // libsodium-wrappers' randombytes_buf calls crypto.getRandomValues once per 4 bytes, which
  // dominated the ratchet's profile; node:crypto fills the whole buffer from the OS CSPRNG at once.
  randomBytes,
  hkdf: (salt, ikm, info, length) => new Uint8Array(hkdfSync('sha256', ikm, salt, info, length)),
  hmac: (k, d) => view(createHmac('sha256', k).update(d).digest()),
  sha256: (d) => digest('sha256', d),
  sha256Stream: () => {
    const h = createHash('sha256');
    return { update: (d) => void h.update(d), digest: () => view(h.digest()) };
  },
  sha512: (d) => digest('sha512', d),
  equal: (a, b) => a.length === b.length && timingSafeEqual(a, b),
};
