/** Test helpers shared by the handshake-side tests (not used by production code). */

import fc from 'fast-check';
import { DecodeError, RatchetError } from '../errors.ts';

/** The `code` of the RatchetError `f` throws; fails the test if it returns or throws something else. */
export function codeOf(f: () => unknown): string {
  try {
    f();
  } catch (e) {
    if (e instanceof RatchetError) return e.code;
    throw new Error(`expected a RatchetError, got ${String(e)}`);
  }
  throw new Error('expected a throw, but the call returned');
}

export const FUZZ = { seed: 42, numRuns: 2000 } as const;

/**
 * Feeds arbitrary bytes (and, if given, single-byte corruptions and truncations of valid samples) to a
 * decoder: it must return or throw a DecodeError, nothing else. Failures name the seed (fast-check prints
 * it too).
 */
export function fuzzDecoder(decode: (bytes: Uint8Array) => unknown, samples: readonly Uint8Array[] = [], numRuns: number = FUZZ.numRuns): void {
  const check = (bytes: Uint8Array): boolean => {
    try {
      decode(bytes);
      return true;
    } catch (e) {
      if (e instanceof DecodeError) return true;
      throw new Error(`seed ${FUZZ.seed}: decoder threw ${e instanceof Error ? `${e.name}(${(e as RatchetError).code ?? ''})` : String(e)}`);
    }
  };
  fc.assert(fc.property(fc.uint8Array({ maxLength: 512 }), check), { seed: FUZZ.seed, numRuns });
  for (const sample of samples) {
    fc.assert(
      fc.property(fc.nat(sample.length - 1), fc.integer({ min: 1, max: 255 }), fc.nat(sample.length), (i, x, cut) => {
        const mutated = sample.slice();
        mutated[i] = mutated[i]! ^ x;
        return check(mutated) && check(sample.slice(0, cut));
      }),
      { seed: FUZZ.seed, numRuns: Math.min(numRuns, 1000) },
    );
  }
}

export function hex(b: Uint8Array): string {
  return Buffer.from(b).toString('hex');
}
