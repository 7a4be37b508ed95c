/**
 * Both libsodium builds behind the Crypto interface (WASM libsodium-wrappers and sodium-native) must
 * be interchangeable: the same known answers, byte-identical outputs for deterministic operations,
 * the same refusals, and a ratchet conversation across the two.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import type { Crypto } from '../core/crypto.ts';
import { initInitiator, initResponder, ratchetDecrypt, ratchetEncrypt } from '../core/ratchet.ts';
import { createNativeCrypto } from './native.ts';
import { createSodiumCrypto } from './sodium.ts';
import { loadCrypto } from './index.ts';

const unhex = (s: string): Uint8Array => new Uint8Array(Buffer.from(s, 'hex'));
const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex');

let wasm: Crypto;
let native: Crypto;
beforeAll(async () => {
  wasm = await createSodiumCrypto();
  native = createNativeCrypto();
});

const providers = (): [string, Crypto][] => [
  ['wasm', wasm],
  ['native', native],
];

describe.each(['wasm', 'native'])('%s provider', (name) => {
  const c = (): Crypto => (name === 'wasm' ? wasm : native);

  it('X25519 gives RFC 7748 §6.1', () => {
    const aliceSk = unhex('77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a');
    const bobPk = unhex('de9edb7d7b7dc1b4d35b61c2ece435373f8343c85b78674dadfc7e146f882b4f');
    expect(hex(c().x25519PublicKey(aliceSk))).toBe('8520f0098930a754748b7ddcb43ef75a0dbf3a0d26381af4eba4a98eaa9b4e6a');
    expect(hex(c().x25519(aliceSk, bobPk))).toBe('4a5d9d5ba4ce2de1728e3bf480350f25e07e21c947d19e3376f09b3c1e161742');
  });

  it('refuses a low-order point', () => {
    expect(() => c().x25519(c().randomBytes(32), new Uint8Array(32))).toThrow();
  });

  it('signs and verifies; a flipped bit fails', () => {
    const kp = c().ed25519KeyPair();
    const m = c().randomBytes(100);
    const sig = c().sign(m, kp.privateKey);
    expect(c().verify(sig, m, kp.publicKey)).toBe(true);
    sig[5]! ^= 1;
    expect(c().verify(sig, m, kp.publicKey)).toBe(false);
    expect(c().verify(new Uint8Array(3), m, kp.publicKey)).toBe(false);
  });

  it('AEAD round-trips and returns null on any tamper', () => {
    const k = c().randomBytes(32);
    const n = c().randomBytes(24);
    const ct = c().aeadEncrypt(k, n, Uint8Array.of(1, 2, 3), Uint8Array.of(9));
    expect([...c().aeadDecrypt(k, n, ct, Uint8Array.of(9))!]).toEqual([1, 2, 3]);
    expect(c().aeadDecrypt(k, n, ct, Uint8Array.of(8))).toBeNull();
    ct[0]! ^= 1;
    expect(c().aeadDecrypt(k, n, ct, Uint8Array.of(9))).toBeNull();
    expect(c().aeadDecrypt(k, n, new Uint8Array(5), Uint8Array.of(9))).toBeNull();
  });

  it('SHA-256 and SHA-512 give the FIPS 180-2 "abc" answers, also for a view into a larger buffer', () => {
    const abc = new TextEncoder().encode('xabcx').subarray(1, 4);
    expect(hex(c().sha256(abc))).toBe('ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad');
    expect(hex(c().sha512(abc))).toBe(
      'ddaf35a193617abacc417349ae20413112e6fa4e89a97ea20a9eeee64b55d39a2192992a274fc1a836ba3c23a3feebbd454d4423643ce80e2a9ac94fa54ca49f',
    );
    expect(c().sha256(new Uint8Array(0)).length).toBe(32);
  });

  it('randomBytes: exact lengths, fresh independent buffers, no 16-byte value twice across many pool refills', () => {
    const seen = new Set<string>();
    const lengths = [0, 1, 16, 24, 32, 48, 255, 256, 257, 5000];
    for (let i = 0; i < 20_000; i++) {
      const n = lengths[i % lengths.length]!;
      const b = c().randomBytes(n);
      expect(b.length).toBe(n);
      expect(b.byteOffset === 0 && b.buffer.byteLength === n).toBe(true); // not a view into a shared pool
      if (n >= 16) {
        const key = hex(b.subarray(0, 16));
        expect(seen.has(key)).toBe(false);
        seen.add(key);
      }
    }
    const a = c().randomBytes(32);
    const copy = a.slice();
    c().randomBytes(32).fill(0);
    expect(hex(a)).toBe(hex(copy));
    const big = c().randomBytes(4096);
    expect(big.some((x) => x !== 0)).toBe(true);
  });

  it('zero() overwrites', () => {
    const b = Uint8Array.of(1, 2, 3);
    c().zero(b);
    expect([...b]).toEqual([0, 0, 0]);
  });
});

describe('the two builds agree', () => {
  it('byte for byte on deterministic operations', () => {
    const seed = wasm.randomBytes(32);
    const [a, b] = providers().map(([, c]) => c.ed25519KeyPairFromSeed(seed));
    expect(hex(a!.privateKey)).toBe(hex(b!.privateKey));
    const m = wasm.randomBytes(64);
    expect(hex(wasm.sign(m, a!.privateKey))).toBe(hex(native.sign(m, a!.privateKey)));
    expect(hex(wasm.ed25519PublicToX25519(a!.publicKey))).toBe(hex(native.ed25519PublicToX25519(a!.publicKey)));
    expect(hex(wasm.ed25519PrivateToX25519(a!.privateKey))).toBe(hex(native.ed25519PrivateToX25519(a!.privateKey)));
    const k = wasm.randomBytes(32);
    const n = wasm.randomBytes(24);
    expect(hex(wasm.aeadEncrypt(k, n, m, seed))).toBe(hex(native.aeadEncrypt(k, n, m, seed)));
  });

  it('a ratchet conversation with one side on each build', () => {
    const init = {
      sharedSecret: wasm.randomBytes(32),
      sharedHeaderKeyA: wasm.randomBytes(32),
      sharedNextHeaderKeyB: wasm.randomBytes(32),
      associatedData: wasm.randomBytes(70),
    };
    const spk = native.x25519KeyPair();
    let alice = initInitiator(wasm, init, spk.publicKey, 0);
    let bob = initResponder(native, init, spk, 0);
    for (let i = 0; i < 6; i++) {
      const body = new TextEncoder().encode(`turn ${i}`);
      if (i % 2 === 0) {
        const e = ratchetEncrypt(wasm, alice, body, i);
        alice = e.next;
        const d = ratchetDecrypt(native, bob, e.message, i);
        bob = d.next;
        expect(new TextDecoder().decode(d.plaintext)).toBe(`turn ${i}`);
      } else {
        const e = ratchetEncrypt(native, bob, body, i);
        bob = e.next;
        const d = ratchetDecrypt(wasm, alice, e.message, i);
        alice = d.next;
        expect(new TextDecoder().decode(d.plaintext)).toBe(`turn ${i}`);
      }
    }
  });

  it('loadCrypto prefers the native build and honours an explicit choice', async () => {
    expect((await loadCrypto()).backend).toBe('native');
    expect((await loadCrypto('wasm')).backend).toBe('wasm');
  });
});
