/**
 * Where the in-memory nonce store remembers proofs once its exact cache is full (a flood of logins
 * from many fresh identities, which anyone can create): Bloom filters of fixed size, one per
 * generation of `windowMs`, so memory stays bounded however many logins arrive.
 *
 * A filter never forgets a nonce it was given while that proof can still verify (no false
 * negative: a replay is always refused). It can wrongly answer "seen" for a fresh nonce (a false
 * positive): that login is refused as a replay and the daemon retries with a new proof. The rate
 * grows with the flood: with 2^25 bits and 4 hashes, about 0.02% at one million nonces in a
 * generation, 0.4% at 2.4 million (20,000 logins/s, more than a broker core verifies), per live
 * generation. Positions come from a keyed hash (HMAC-SHA-256 with a random key per process), so
 * nobody can choose nonces that collide with another's.
 */
import { createHmac, randomBytes } from 'node:crypto';

/** Bits per generation (2^25 = 4 MiB), allocated only when the exact cache overflows. */
export const NONCE_FILTER_BITS_LOG2 = 25;
/** Hash positions per nonce: close to the best rate at the millions of nonces of a flood (all from one HMAC). */
export const NONCE_FILTER_HASHES = 4;

interface Generation {
  readonly start: number;
  readonly bits: Uint8Array;
}

export class NonceFilter {
  private generations: Generation[] = [];
  private readonly hashKey = randomBytes(32);
  private readonly mask: number;

  /**
   * `windowMs`: the proof skew window. A proof verifies from timestamp − window to timestamp +
   * window and its timestamp may be up to a window ahead, so a nonce added at t must be kept until t
   * + 2 windows; a generation takes nonces for one window, so it is dropped 3 windows after it began.
   */
  constructor(
    private readonly windowMs: number,
    private readonly bitsLog2: number = NONCE_FILTER_BITS_LOG2,
    private readonly hashes: number = NONCE_FILTER_HASHES,
  ) {
    if (bitsLog2 < 3 || bitsLog2 > 31 || hashes < 1 || hashes > 8) throw new RangeError('nonce filter: 3 ≤ bitsLog2 ≤ 31, 1 ≤ hashes ≤ 8');
    this.mask = 2 ** bitsLog2 - 1;
  }

  /** Generations alive (each holds 2^bitsLog2 bits). */
  get generationCount(): number {
    return this.generations.length;
  }

  add(key: string, now: number): void {
    this.expire(now);
    let current = this.generations[this.generations.length - 1];
    if (current === undefined || now - current.start >= this.windowMs) {
      current = { start: now, bits: new Uint8Array(2 ** (this.bitsLog2 - 3)) };
      this.generations.push(current);
    }
    for (const bit of this.positions(key)) current.bits[bit >>> 3]! |= 1 << (bit & 7);
  }

  /** True if the key was added (or, rarely, if another key set the same bits). */
  mayContain(key: string, now: number): boolean {
    this.expire(now);
    if (this.generations.length === 0) return false;
    const positions = this.positions(key);
    return this.generations.some((g) => positions.every((bit) => (g.bits[bit >>> 3]! & (1 << (bit & 7))) !== 0));
  }

  private positions(key: string): number[] {
    const digest = createHmac('sha256', this.hashKey).update(key).digest();
    const out: number[] = [];
    for (let i = 0; i < this.hashes; i++) out.push(digest.readUInt32BE(4 * i) & this.mask);
    return out;
  }

  private expire(now: number): void {
    while (this.generations.length > 0 && this.generations[0]!.start + 3 * this.windowMs <= now) this.generations.shift();
  }
}
