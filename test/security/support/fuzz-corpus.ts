/**
 * Deterministic fuzz inputs for a daemon's inbox: random bytes and mutations of captured real
 * envelopes and bundles (bit flips, byte overwrites, truncations, extensions, splices, kind and
 * version byte changes, damage that keeps the routing tag, exact replays). A seeded PRNG
 * (mulberry32) makes every run identical; the seed is part of every failure message.
 */
import { PROTOCOL_VERSION } from '../../../core/limits.ts';

export type Rng = () => number;

export function mulberry32(seed: number): Rng {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const int = (rng: Rng, n: number): number => Math.floor(rng() * n);

function randomBytes(rng: Rng, n: number): Uint8Array {
  const b = new Uint8Array(n);
  for (let i = 0; i < n; i++) b[i] = int(rng, 256);
  return b;
}

export type Mutation = 'random' | 'random-framed' | 'bitflip' | 'overwrite' | 'truncate' | 'extend' | 'splice' | 'kind' | 'version' | 'keep-tag' | 'replay' | 'large';

/** Envelope layout: version (1) ‖ kind (1) ‖ routing tag (16) or EK (32) ‖ … */
const SESSION_PREFIX = 18;

function mutate(rng: Rng, seed: Uint8Array, corpus: readonly Uint8Array[], how: Mutation): Uint8Array {
  const b = seed.slice();
  switch (how) {
    case 'bitflip': {
      const flips = 1 + int(rng, 8);
      for (let i = 0; i < flips; i++) b[int(rng, b.length)]! ^= 1 << int(rng, 8);
      return b;
    }
    case 'overwrite': {
      const start = int(rng, b.length);
      const len = 1 + int(rng, Math.min(64, b.length - start));
      b.set(randomBytes(rng, len), start);
      return b;
    }
    case 'truncate':
      return b.subarray(0, 1 + int(rng, b.length - 1));
    case 'extend': {
      const out = new Uint8Array(b.length + 1 + int(rng, 256));
      out.set(b);
      out.set(randomBytes(rng, out.length - b.length), b.length);
      return out;
    }
    case 'splice': {
      const other = corpus[int(rng, corpus.length)]!;
      const cut = int(rng, b.length);
      const from = int(rng, other.length);
      const out = new Uint8Array(cut + other.length - from);
      out.set(b.subarray(0, cut));
      out.set(other.subarray(from), cut);
      return out.length === 0 ? b : out;
    }
    case 'kind':
      if (b.length > 1) b[1] = rng() < 0.5 ? (b[1] === 1 ? 2 : 1) : int(rng, 256);
      return b;
    case 'version':
      b[0] = (b[0]! + 1 + int(rng, 255)) & 0xff;
      return b;
    case 'keep-tag': {
      // damage after the routing tag only: the daemon finds the session, then must refuse it
      if (b.length <= SESSION_PREFIX + 1) return b;
      const i = SESSION_PREFIX + int(rng, b.length - SESSION_PREFIX);
      b[i]! ^= 1 + int(rng, 255);
      return b;
    }
    default:
      return b;
  }
}

/** Relative weights (per mille, about): mostly mutations of real envelopes, a few huge payloads. */
const PLAN: Array<[Mutation, number]> = [
  ['random', 80],
  ['random-framed', 100],
  ['bitflip', 200],
  ['overwrite', 100],
  ['truncate', 80],
  ['extend', 60],
  ['splice', 100],
  ['kind', 60],
  ['version', 40],
  ['keep-tag', 150],
  ['replay', 30],
  ['large', 1],
];
const TOTAL_WEIGHT = PLAN.reduce((s, [, w]) => s + w, 0);

function pick(rng: Rng): Mutation {
  let r = int(rng, TOTAL_WEIGHT);
  for (const [m, w] of PLAN) {
    if (r < w) return m;
    r -= w;
  }
  return 'random';
}

/**
 * Yields `count` payloads (never empty, at most 200 KiB: the relay refuses empty inbox messages and
 * payloads over its limit) and tallies how many of each mutation were made.
 */
export function* fuzzPayloads(seed: number, count: number, corpus: readonly Uint8Array[], tally: Map<Mutation, number>): Generator<Uint8Array> {
  if (corpus.length === 0) throw new Error('fuzz corpus is empty');
  const rng = mulberry32(seed);
  for (let i = 0; i < count; i++) {
    const how = pick(rng);
    tally.set(how, (tally.get(how) ?? 0) + 1);
    let out: Uint8Array;
    if (how === 'random') out = randomBytes(rng, 1 + int(rng, 600));
    else if (how === 'large') out = randomBytes(rng, 16_384 + int(rng, 180_000));
    else if (how === 'random-framed') {
      out = randomBytes(rng, 2 + int(rng, 600));
      out[0] = PROTOCOL_VERSION;
      out[1] = 1 + int(rng, 2);
    } else out = mutate(rng, corpus[int(rng, corpus.length)]!, corpus, how);
    yield out.length === 0 ? Uint8Array.of(0) : out;
  }
}
