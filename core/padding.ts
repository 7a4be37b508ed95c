/**
 * Body padding: the plaintext is padded to the smallest of BODY_SIZE_BUCKETS that
 * holds it plus one marker byte, ISO/IEC 7816-4 style: plaintext ‖ 0x80 ‖ 0x00… . The marker makes
 * the padding unambiguous (any plaintext, including one ending in zeros, round-trips), and the relay
 * sees only the bucket.
 */
import { BODY_SIZE_BUCKETS } from './limits.ts';
import { DecodeError, RatchetError } from './errors.ts';

const MARKER = 0x80;

/** Largest plaintext that fits the largest bucket (one byte goes to the marker). */
export const MAX_PADDABLE_BYTES = BODY_SIZE_BUCKETS[BODY_SIZE_BUCKETS.length - 1]! - 1;

/** The bucket a plaintext of this length is padded to. */
export function paddedLength(plaintextLength: number): number {
  for (const bucket of BODY_SIZE_BUCKETS) if (plaintextLength < bucket) return bucket;
  throw new RatchetError('MessageTooLarge', `body of ${plaintextLength} bytes exceeds ${MAX_PADDABLE_BYTES}`);
}

export function isBodyBucket(length: number): boolean {
  return (BODY_SIZE_BUCKETS as readonly number[]).includes(length);
}

/** plaintext ‖ 0x80 ‖ zeros, to its bucket. A fresh buffer (the caller may zero it). */
export function pad(plaintext: Uint8Array): Uint8Array {
  const out = new Uint8Array(paddedLength(plaintext.length));
  out.set(plaintext);
  out[plaintext.length] = MARKER;
  return out;
}

/** Inverse of pad: strips trailing zeros and the marker. A view into `padded`. */
export function unpad(padded: Uint8Array): Uint8Array {
  if (!isBodyBucket(padded.length)) throw new DecodeError('padding: not a body bucket');
  let i = padded.length - 1;
  while (i >= 0 && padded[i] === 0) i--;
  if (i < 0 || padded[i] !== MARKER) throw new DecodeError('padding: no marker');
  return padded.subarray(0, i);
}
