/**
 * Argon2id (libsodium crypto_pwhash, ALG_ARGON2ID13) for keys derived from a passphrase, run on
 * libuv's thread pool (crypto_pwhash_async) so the event loop is not blocked for the ~0.5 s it costs.
 * Only the native build (sodium-native) carries crypto_pwhash: the standard libsodium-wrappers build
 * does not, so without sodium-native this fails with a clear error instead of falling back.
 */
import { CodedError } from '../core/errors.ts';

export const ARGON2ID_SALT_BYTES = 16;

/** libsodium's named cost levels (opslimit passes, memlimit bytes). */
export const ARGON2ID_COSTS = {
  interactive: { opslimit: 2, memlimit: 64 * 1024 * 1024 },
  moderate: { opslimit: 3, memlimit: 256 * 1024 * 1024 },
  sensitive: { opslimit: 4, memlimit: 1024 * 1024 * 1024 },
} as const;

export type Argon2idCostName = keyof typeof ARGON2ID_COSTS;

export interface Argon2idCost {
  readonly opslimit: number;
  readonly memlimit: number;
}

/** Bounds a cost read from a file must stay within (a hostile file must not make us allocate 100 GiB). */
export const ARGON2ID_LIMITS = { minOps: 1, maxOps: 10, minMem: 8192, maxMem: ARGON2ID_COSTS.sensitive.memlimit } as const;

export class PasswordHashError extends CodedError<'PasswordHashUnavailable' | 'BadCost'> {}

export function checkArgon2idCost(c: Argon2idCost): void {
  const ok =
    Number.isSafeInteger(c.opslimit) &&
    Number.isSafeInteger(c.memlimit) &&
    c.opslimit >= ARGON2ID_LIMITS.minOps &&
    c.opslimit <= ARGON2ID_LIMITS.maxOps &&
    c.memlimit >= ARGON2ID_LIMITS.minMem &&
    c.memlimit <= ARGON2ID_LIMITS.maxMem;
  if (!ok) throw new PasswordHashError('BadCost', `Argon2id cost out of range (opslimit ${ARGON2ID_LIMITS.minOps}-${ARGON2ID_LIMITS.maxOps}, memlimit up to ${ARGON2ID_LIMITS.maxMem} bytes)`);
}

/** `length` bytes derived from the passphrase and salt with Argon2id at `cost`. */
export async function argon2id(passphrase: Uint8Array, salt: Uint8Array, cost: Argon2idCost, length: number): Promise<Uint8Array> {
  checkArgon2idCost(cost);
  if (salt.length !== ARGON2ID_SALT_BYTES) throw new PasswordHashError('BadCost', `the Argon2id salt must be ${ARGON2ID_SALT_BYTES} bytes`);
  let sodium: typeof import('sodium-native').default;
  try {
    sodium = (await import('sodium-native')).default;
  } catch (cause) {
    throw new PasswordHashError('PasswordHashUnavailable', 'Argon2id needs sodium-native (the native libsodium build), which does not load here', { cause });
  }
  const out = Buffer.alloc(length);
  await sodium.crypto_pwhash_async(out, passphrase, salt, cost.opslimit, cost.memlimit, sodium.crypto_pwhash_ALG_ARGON2ID13);
  const key = new Uint8Array(out);
  sodium.sodium_memzero(out);
  return key;
}
