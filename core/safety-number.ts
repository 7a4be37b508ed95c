/**
 * Safety numbers: the numeric fingerprint shape of libsignal, over our key encoding and
 * user ids, so two users compare 60 digits out of band.
 *
 * For each side:  H0 = SHA-512(version (2 bytes, 0x0000) ‖ Enc(IK) ‖ stable id ‖ Enc(IK))
 *                 Hi = SHA-512(Hi-1 ‖ Enc(IK))            for i = 1 … 5199   (5200 hashes in all)
 * The first 30 bytes of the result, read as six 5-byte big-endian numbers, each mod 100000 and written
 * as 5 digits, give that side's 30 digits. The two halves are ordered (smaller string first) and
 * concatenated, so both users see the same 60 digits. Stable id = the UTF-8 user id.
 */
import type { Crypto } from './crypto.ts';
import { concat, utf8 } from './bytes.ts';
import { encodeEd25519PublicKey } from './keys.ts';
import type { UserId } from './user-id.ts';

/** libsignal's iteration count for displayable fingerprints (> 112 bits against a targeted collision). */
export const SAFETY_NUMBER_ITERATIONS = 5200;
/** The fingerprint format version hashed first (libsignal's 0x0000). */
const FINGERPRINT_VERSION = Uint8Array.of(0x00, 0x00);
export const SAFETY_NUMBER_DIGITS = 60;

export interface SafetyNumberParty {
  readonly userId: UserId;
  /** Raw Ed25519 identity public key (32 bytes). */
  readonly identityKey: Uint8Array;
}

/** Five bytes big-endian mod 100000, as five digits. */
function fiveDigits(chunk: Uint8Array): string {
  let value = 0;
  for (const byte of chunk) value = value * 256 + byte; // < 2^40, exact in a double
  return String(value % 100_000).padStart(5, '0');
}

/**
 * One side's 30 digits from an encoded public key and a stable identifier (exported for the
 * known-answer test against libsignal's vector, which uses its own key encoding and phone numbers).
 */
export function fingerprintDigits(
  crypto: Crypto,
  stableId: Uint8Array,
  encodedPublicKey: Uint8Array,
  iterations: number = SAFETY_NUMBER_ITERATIONS,
): string {
  if (!Number.isInteger(iterations) || iterations < 2) throw new RangeError('iterations must be an integer ≥ 2');
  let digest = crypto.sha512(concat(FINGERPRINT_VERSION, encodedPublicKey, stableId, encodedPublicKey));
  for (let i = 1; i < iterations; i++) digest = crypto.sha512(concat(digest, encodedPublicKey));
  let out = '';
  for (let i = 0; i < 6; i++) out += fiveDigits(digest.subarray(i * 5, i * 5 + 5));
  return out;
}

/** Orders the two halves so that both sides display the same string. */
export function combineFingerprints(local: string, remote: string): string {
  return local < remote ? local + remote : remote + local;
}

/** The 60-digit safety number of a pair of users; the same whichever side computes it. */
export function safetyNumber(crypto: Crypto, a: SafetyNumberParty, b: SafetyNumberParty): string {
  const half = (p: SafetyNumberParty): string =>
    fingerprintDigits(crypto, utf8.encode(p.userId), encodeEd25519PublicKey(p.identityKey));
  return combineFingerprints(half(a), half(b));
}

/** "12345 67890 …" (twelve groups of five) for display. */
export function formatSafetyNumber(digits: string): string {
  return (digits.match(/.{1,5}/g) ?? []).join(' ');
}

/** Accepts a typed safety number with spaces; returns the 60 digits, or null if it is not one. */
export function normalizeSafetyNumber(input: string): string | null {
  const digits = input.replace(/\s+/g, '');
  return /^\d{60}$/.test(digits) ? digits : null;
}
