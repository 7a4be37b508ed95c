/**
 * TEST ONLY. Builds a ratchet pair without X3DH: random SK, HKa, NHKb, AD and a fresh signed prekey
 * pair, as the X3DH output would give them.
 */
import type { Crypto } from '../crypto.ts';
import { RatchetError } from '../errors.ts';
import { initInitiator, initResponder, ratchetDecrypt, ratchetEncrypt, type RatchetInit, type RatchetState } from '../ratchet.ts';
import { encodeRatchetState } from '../ratchet-codec.ts';

export interface Pair {
  readonly init: RatchetInit;
  readonly alice: RatchetState;
  readonly bob: RatchetState;
}

export function newPair(crypto: Crypto, now = 0, associatedData?: Uint8Array): Pair {
  const init: RatchetInit = {
    sharedSecret: crypto.randomBytes(32),
    sharedHeaderKeyA: crypto.randomBytes(32),
    sharedNextHeaderKeyB: crypto.randomBytes(32),
    associatedData: associatedData ?? crypto.randomBytes(70),
  };
  const spk = crypto.x25519KeyPair();
  return { init, alice: initInitiator(crypto, init, spk.publicKey, now), bob: initResponder(crypto, init, spk, now) };
}

export const enc = (s: string): Uint8Array => new TextEncoder().encode(s);
export const dec = (b: Uint8Array): string => new TextDecoder().decode(b);
export const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex');
export const unhex = (s: string): Uint8Array => new Uint8Array(Buffer.from(s, 'hex'));

/** The encoded state, for byte-identity assertions. */
export const snap = (s: RatchetState): string => hex(encodeRatchetState(s));

/** A mutable holder for tests: one side of a conversation, replacing its state after each operation. */
export class Peer {
  constructor(
    private readonly crypto: Crypto,
    public state: RatchetState,
  ) {}

  send(text: string, now = 0): Uint8Array {
    const e = ratchetEncrypt(this.crypto, this.state, enc(text), now);
    this.state = e.next;
    return e.message;
  }

  receive(message: Uint8Array, now = 0): string {
    const d = ratchetDecrypt(this.crypto, this.state, message, now);
    this.state = d.next;
    return dec(d.plaintext);
  }

  /** Decrypts without keeping the new state. */
  peek(message: Uint8Array, now = 0): string {
    return dec(ratchetDecrypt(this.crypto, this.state, message, now).plaintext);
  }
}

/** The error code a call throws (RatchetError subclasses only), or 'none'. */
export function thrownCode(f: () => unknown): string {
  try {
    f();
  } catch (e) {
    if (e instanceof RatchetError) return e.code;
    throw e;
  }
  return 'none';
}
