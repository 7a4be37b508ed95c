/**
 * The Double Ratchet state (DR §3.2 / §4.4 state variables, header encryption variant). Immutable:
 * functions return a new state built with `with`, and never write into the byte arrays of an existing
 * one (arrays may be shared between a state and its successor). Prints as [redacted].
 */
import type { KeyPair } from './crypto.ts';
import type { SkippedStore } from './skipped-keys.ts';

export interface RatchetFields {
  /** DHs: our current ratchet key pair */
  readonly dhs: KeyPair;
  /** DHr: the peer's current ratchet public key (null for the responder until the first message) */
  readonly dhr: Uint8Array | null;
  /** RK: root key */
  readonly rk: Uint8Array;
  /** CKs: sending chain key (null for the responder until the first message) */
  readonly cks: Uint8Array | null;
  /** CKr: receiving chain key (null until a message of the peer's current chain is received) */
  readonly ckr: Uint8Array | null;
  /** Ns: number of the next message we send in the sending chain */
  readonly ns: number;
  /** Nr: number of the next message expected in the receiving chain */
  readonly nr: number;
  /** PN: number of messages in our previous sending chain */
  readonly pn: number;
  /** HKs: sending header key (null for the responder until the first message) */
  readonly hks: Uint8Array | null;
  /** HKr: receiving header key (null until the first DH step on receive) */
  readonly hkr: Uint8Array | null;
  /** NHKs: next sending header key */
  readonly nhks: Uint8Array;
  /** NHKr: next receiving header key (a header under it starts a DH ratchet step) */
  readonly nhkr: Uint8Array;
  /**
   * tag(HKs), tag(HKr), tag(NHKr): the routing tags of those header keys (kdf.ts headerKeyTag), kept
   * beside them so that routing costs no HMAC per message; null exactly when the key is null.
   */
  readonly hksTag: Uint8Array | null;
  readonly hkrTag: Uint8Array | null;
  readonly nhkrTag: Uint8Array;
  /** Receiving DH ratchet steps so far: the clock that expires skipped keys */
  readonly dhStep: number;
  /** Whether any message has been decrypted under this state */
  readonly received: boolean;
  /**
   * Former HKr values, newest first, at most SKIPPED_KEY_MAX_DH_STEPS: recognise late copies of
   * messages of recent chains (Duplicate rather than BadMessage) and find their skipped keys.
   */
  readonly retiredHeaderKeys: readonly Uint8Array[];
  /** tag(HK) of each retired header key, in the same order. */
  readonly retiredHeaderTags: readonly Uint8Array[];
  /** MKSKIPPED */
  readonly skipped: SkippedStore;
  /** AD from X3DH, bound into every message's AAD */
  readonly ad: Uint8Array;
}

const inspect = Symbol.for('nodejs.util.inspect.custom');

export class RatchetState implements RatchetFields {
  declare readonly dhs: KeyPair;
  declare readonly dhr: Uint8Array | null;
  declare readonly rk: Uint8Array;
  declare readonly cks: Uint8Array | null;
  declare readonly ckr: Uint8Array | null;
  declare readonly ns: number;
  declare readonly nr: number;
  declare readonly pn: number;
  declare readonly hks: Uint8Array | null;
  declare readonly hkr: Uint8Array | null;
  declare readonly nhks: Uint8Array;
  declare readonly nhkr: Uint8Array;
  declare readonly hksTag: Uint8Array | null;
  declare readonly hkrTag: Uint8Array | null;
  declare readonly nhkrTag: Uint8Array;
  declare readonly dhStep: number;
  declare readonly received: boolean;
  declare readonly retiredHeaderKeys: readonly Uint8Array[];
  declare readonly retiredHeaderTags: readonly Uint8Array[];
  declare readonly skipped: SkippedStore;
  declare readonly ad: Uint8Array;

  constructor(f: RatchetFields) {
    this.assign(f);
  }

  private assign(f: RatchetFields): void {
    const self = this as { -readonly [K in keyof RatchetFields]: RatchetFields[K] };
    self.dhs = f.dhs;
    self.dhr = f.dhr;
    self.rk = f.rk;
    self.cks = f.cks;
    self.ckr = f.ckr;
    self.ns = f.ns;
    self.nr = f.nr;
    self.pn = f.pn;
    self.hks = f.hks;
    self.hkr = f.hkr;
    self.nhks = f.nhks;
    self.nhkr = f.nhkr;
    self.hksTag = f.hksTag;
    self.hkrTag = f.hkrTag;
    self.nhkrTag = f.nhkrTag;
    self.dhStep = f.dhStep;
    self.received = f.received;
    self.retiredHeaderKeys = f.retiredHeaderKeys;
    self.retiredHeaderTags = f.retiredHeaderTags;
    self.skipped = f.skipped;
    self.ad = f.ad;
  }

  /** A new state with some fields replaced. */
  with(patch: Partial<RatchetFields>): RatchetState {
    return new RatchetState({ ...this, ...patch });
  }

  toJSON(): string {
    return '[redacted]';
  }

  toString(): string {
    return '[RatchetState redacted]';
  }

  [inspect](): string {
    return '[RatchetState redacted]';
  }
}
