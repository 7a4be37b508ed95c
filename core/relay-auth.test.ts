import { beforeAll, describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { createSodiumCrypto } from '../crypto/sodium.ts';
import type { Crypto } from './crypto.ts';
import { DecodeError, RatchetError } from './errors.ts';
import { RELAY_AUTH_MAX_SKEW_MS } from './limits.ts';
import { concat, lp, utf8, Writer } from './bytes.ts';
import {
  CHANNEL_BINDING_BYTES,
  RELAY_AUTH_VERSION,
  RELAY_PROOF_BYTES,
  createRelayProof,
  relayConnectOptions,
  relayProofReplayKey,
  verifyRelayProof,
} from './relay-auth.ts';
import type { RelayIdentity } from './relay-auth.ts';
import { deriveUserId } from './user-id.ts';

let crypto: Crypto;
let alice: RelayIdentity;
let bob: RelayIdentity;
const NOW = 1_700_000_000_000;
const AUD = 'ratchetd';

function identity(c: Crypto): RelayIdentity {
  const keyPair = c.ed25519KeyPair();
  return { userId: deriveUserId(c, keyPair.publicKey), keyPair };
}

function codeOf(f: () => unknown): string {
  try {
    f();
  } catch (e) {
    expect(e).toBeInstanceOf(RatchetError);
    return (e as RatchetError).code;
  }
  throw new Error('expected a RatchetError, nothing was thrown');
}

beforeAll(async () => {
  crypto = await createSodiumCrypto();
  alice = identity(crypto);
  bob = identity(crypto);
});

describe('relay CONNECT proof', () => {
  it('accepts a valid proof and returns the user id and nonce', () => {
    const p = createRelayProof(crypto, alice, alice.userId, AUD, NOW);
    expect(p.username).toBe(alice.userId);
    expect(p.password.length).toBe(RELAY_PROOF_BYTES);
    const v = verifyRelayProof(crypto, p.username, p.password, alice.userId, AUD, NOW + 1000, RELAY_AUTH_MAX_SKEW_MS);
    expect(v.userId).toBe(alice.userId);
    expect(v.nonce.length).toBe(16);
    expect(v.timestamp).toBe(NOW);
    expect(relayProofReplayKey(v)).toMatch(new RegExp(`^${alice.userId}:[0-9a-f]{32}$`));
  });

  it('uses a fresh nonce for every proof', () => {
    const a = createRelayProof(crypto, alice, alice.userId, AUD, NOW);
    const b = createRelayProof(crypto, alice, alice.userId, AUD, NOW);
    const va = verifyRelayProof(crypto, a.username, a.password, alice.userId, AUD, NOW);
    const vb = verifyRelayProof(crypto, b.username, b.password, alice.userId, AUD, NOW);
    expect(relayProofReplayKey(va)).not.toBe(relayProofReplayKey(vb));
  });

  it('refuses a flipped signature bit (BadSignature)', () => {
    const p = createRelayProof(crypto, alice, alice.userId, AUD, NOW);
    const bad = p.password.slice();
    bad[bad.length - 1] = (bad[bad.length - 1] ?? 0) ^ 0x01;
    expect(codeOf(() => verifyRelayProof(crypto, p.username, bad, alice.userId, AUD, NOW))).toBe('BadSignature');
  });

  it('refuses a changed timestamp or nonce (the signature covers them)', () => {
    const p = createRelayProof(crypto, alice, alice.userId, AUD, NOW);
    const ts = p.password.slice();
    ts[40] = (ts[40] ?? 0) ^ 0x01; // lowest byte of the timestamp: 1 ms later, still inside the window
    expect(codeOf(() => verifyRelayProof(crypto, p.username, ts, alice.userId, AUD, NOW))).toBe('BadSignature');
    const nonce = p.password.slice();
    nonce[41] = (nonce[41] ?? 0) ^ 0x80;
    expect(codeOf(() => verifyRelayProof(crypto, p.username, nonce, alice.userId, AUD, NOW))).toBe('BadSignature');
  });

  it('refuses a proof made for another audience (BadSignature)', () => {
    const p = createRelayProof(crypto, alice, alice.userId, 'other-relay', NOW);
    expect(codeOf(() => verifyRelayProof(crypto, p.username, p.password, alice.userId, AUD, NOW))).toBe('BadSignature');
  });

  it('refuses a username that is not derived from the presented key (IdentityMismatch)', () => {
    const p = createRelayProof(crypto, alice, alice.userId, AUD, NOW);
    expect(codeOf(() => verifyRelayProof(crypto, bob.userId, p.password, bob.userId, AUD, NOW))).toBe('IdentityMismatch');
  });

  it("refuses bob's key presented under alice's name, signed by bob", () => {
    const forged = createRelayProof(crypto, bob, alice.userId, AUD, NOW);
    expect(codeOf(() => verifyRelayProof(crypto, alice.userId, forged.password, alice.userId, AUD, NOW))).toBe(
      'IdentityMismatch',
    );
  });

  it('refuses a client id other than the user id (IdentityMismatch)', () => {
    const p = createRelayProof(crypto, alice, 'some-other-client', AUD, NOW);
    expect(codeOf(() => verifyRelayProof(crypto, p.username, p.password, 'some-other-client', AUD, NOW))).toBe(
      'IdentityMismatch',
    );
    const q = createRelayProof(crypto, alice, alice.userId, AUD, NOW);
    expect(codeOf(() => verifyRelayProof(crypto, q.username, q.password, bob.userId, AUD, NOW))).toBe('IdentityMismatch');
  });

  it('refuses an expired proof (StaleProof) and accepts one at the edge', () => {
    const p = createRelayProof(crypto, alice, alice.userId, AUD, NOW);
    expect(verifyRelayProof(crypto, p.username, p.password, alice.userId, AUD, NOW + 60_000, 60_000).userId).toBe(alice.userId);
    expect(codeOf(() => verifyRelayProof(crypto, p.username, p.password, alice.userId, AUD, NOW + 60_001, 60_000))).toBe(
      'StaleProof',
    );
  });

  it('refuses a proof from the future (FutureProof)', () => {
    const p = createRelayProof(crypto, alice, alice.userId, AUD, NOW + 60_001);
    expect(codeOf(() => verifyRelayProof(crypto, p.username, p.password, alice.userId, AUD, NOW, 60_000))).toBe('FutureProof');
  });

  it('refuses a missing username or password, a bad user id, a wrong version (DecodeError)', () => {
    const p = createRelayProof(crypto, alice, alice.userId, AUD, NOW);
    expect(codeOf(() => verifyRelayProof(crypto, undefined, p.password, alice.userId, AUD, NOW))).toBe('DecodeError');
    expect(codeOf(() => verifyRelayProof(crypto, p.username, undefined, alice.userId, AUD, NOW))).toBe('DecodeError');
    expect(codeOf(() => verifyRelayProof(crypto, 'ALICE', p.password, alice.userId, AUD, NOW))).toBe('DecodeError');
    for (const version of [1, 3]) {
      const other = p.password.slice();
      other[0] = version;
      expect(codeOf(() => verifyRelayProof(crypto, p.username, other, alice.userId, AUD, NOW))).toBe('UnsupportedVersion');
    }
    expect(codeOf(() => verifyRelayProof(crypto, p.username, p.password.subarray(1), alice.userId, AUD, NOW))).toBe(
      'DecodeError',
    );
  });

  it('refuses to sign for a user id that is not its own', () => {
    expect(codeOf(() => createRelayProof(crypto, { userId: bob.userId, keyPair: alice.keyPair }, bob.userId, AUD, NOW))).toBe(
      'IdentityMismatch',
    );
  });

  it('throws only typed errors for arbitrary passwords (fast-check seed 42)', () => {
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 0, maxLength: 200 }), (bytes) => {
        try {
          verifyRelayProof(crypto, alice.userId, bytes, alice.userId, AUD, NOW);
          return false; // random bytes must never verify
        } catch (e) {
          return e instanceof RatchetError;
        }
      }),
      { seed: 42, numRuns: 500 },
    );
  });

  it('throws only typed errors for arbitrary bytes of the right length (fast-check seed 42)', () => {
    fc.assert(
      fc.property(fc.uint8Array({ minLength: RELAY_PROOF_BYTES, maxLength: RELAY_PROOF_BYTES }), (bytes) => {
        const b = bytes.slice();
        b[0] = RELAY_AUTH_VERSION;
        try {
          verifyRelayProof(crypto, alice.userId, b, alice.userId, AUD, NOW);
          return false;
        } catch (e) {
          return e instanceof RatchetError && (e instanceof DecodeError || e.code === 'IdentityMismatch');
        }
      }),
      { seed: 42, numRuns: 300 },
    );
  });

  it('builds mqtt.js options that verify, with client id bound to the user id', () => {
    const o = relayConnectOptions(crypto, alice, AUD, NOW);
    expect(o).toMatchObject({ clientId: alice.userId, username: alice.userId, protocolVersion: 4, clean: false });
    expect(Buffer.isBuffer(o.password)).toBe(true);
    expect(verifyRelayProof(crypto, o.username, o.password, o.clientId, AUD, NOW).userId).toBe(alice.userId);
  });
});

describe('relay CONNECT proof, version 2: relay name and TLS channel binding', () => {
  const bindingA = new Uint8Array(CHANNEL_BINDING_BYTES).fill(0xa1);
  const bindingB = new Uint8Array(CHANNEL_BINDING_BYTES).fill(0xb2);

  it('verifies only with the channel binding it was made for', () => {
    const bound = createRelayProof(crypto, alice, alice.userId, AUD, NOW, bindingA);
    expect(verifyRelayProof(crypto, bound.username, bound.password, alice.userId, AUD, NOW, RELAY_AUTH_MAX_SKEW_MS, bindingA).userId).toBe(alice.userId);
    // another TLS connection, or a plain listener (a TLS-terminating proxy in front of the broker)
    expect(codeOf(() => verifyRelayProof(crypto, bound.username, bound.password, alice.userId, AUD, NOW, RELAY_AUTH_MAX_SKEW_MS, bindingB))).toBe('BadSignature');
    expect(codeOf(() => verifyRelayProof(crypto, bound.username, bound.password, alice.userId, AUD, NOW))).toBe('BadSignature');
    // an unbound proof (made for plain TCP) presented on a TLS connection
    const unbound = createRelayProof(crypto, alice, alice.userId, AUD, NOW);
    expect(codeOf(() => verifyRelayProof(crypto, unbound.username, unbound.password, alice.userId, AUD, NOW, RELAY_AUTH_MAX_SKEW_MS, bindingA))).toBe('BadSignature');
  });

  it('verifies only at a relay of the name it was made for', () => {
    const p = createRelayProof(crypto, alice, alice.userId, 'relay-eu', NOW);
    expect(verifyRelayProof(crypto, p.username, p.password, alice.userId, 'relay-eu', NOW).userId).toBe(alice.userId);
    expect(codeOf(() => verifyRelayProof(crypto, p.username, p.password, alice.userId, 'relay-us', NOW))).toBe('BadSignature');
  });

  it('refuses a channel binding that is neither empty nor 32 bytes (DecodeError)', () => {
    expect(codeOf(() => createRelayProof(crypto, alice, alice.userId, AUD, NOW, new Uint8Array(31)))).toBe('DecodeError');
    const p = createRelayProof(crypto, alice, alice.userId, AUD, NOW);
    expect(codeOf(() => verifyRelayProof(crypto, p.username, p.password, alice.userId, AUD, NOW, RELAY_AUTH_MAX_SKEW_MS, new Uint8Array(33)))).toBe('DecodeError');
  });

  it('signs exactly the documented message (checked against the raw primitives)', () => {
    const p = createRelayProof(crypto, alice, alice.userId, AUD, NOW, bindingA);
    expect(p.password[0]).toBe(2);
    const nonce = p.password.subarray(41, 57);
    const signature = p.password.subarray(57);
    const message = concat(
      utf8.encode('ratchetd-v2/relay-auth'),
      lp(utf8.encode(AUD)),
      lp(utf8.encode(alice.userId)),
      lp(utf8.encode(alice.userId)),
      new Writer().u64(NOW).finish(),
      nonce,
      lp(bindingA),
    );
    expect(crypto.verify(signature, message, alice.keyPair.publicKey)).toBe(true);
    expect(Buffer.from(p.password.subarray(1, 33)).equals(Buffer.from(alice.keyPair.publicKey))).toBe(true);
  });
});
