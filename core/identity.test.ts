import { beforeAll, describe, expect, it } from 'vitest';
import { inspect } from 'node:util';
import { createSodiumCrypto } from '../crypto/sodium.ts';
import type { Crypto } from './crypto.ts';
import { DecodeError } from './errors.ts';
import { IDENTITY_RECORD_BYTES, createIdentity, decodeIdentity, encodeIdentity, encodedIdentityKey } from './identity.ts';
import { deriveUserId, isUserId } from './user-id.ts';
import { codeOf, fuzzDecoder } from './handshake-vectors/test-helpers.ts';

let crypto: Crypto;
beforeAll(async () => {
  crypto = await createSodiumCrypto();
});

describe('identity', () => {
  it('derives the self-certifying user id from the Ed25519 public key', () => {
    const id = createIdentity(crypto);
    expect(id.keyPair.publicKey.length).toBe(32);
    expect(id.keyPair.privateKey.length).toBe(64);
    expect(isUserId(id.userId)).toBe(true);
    expect(id.userId).toBe(deriveUserId(crypto, id.keyPair.publicKey));
    expect(encodedIdentityKey(id)).toEqual(Uint8Array.of(0x01, ...id.keyPair.publicKey));
  });

  it('round-trips byte for byte', () => {
    const id = createIdentity(crypto);
    const bytes = encodeIdentity(id);
    expect(bytes.length).toBe(IDENTITY_RECORD_BYTES);
    const back = decodeIdentity(crypto, bytes);
    expect(back.userId).toBe(id.userId);
    expect(back.keyPair.privateKey).toEqual(id.keyPair.privateKey);
    expect(encodeIdentity(back)).toEqual(bytes);
  });

  it('refuses a record whose private key does not match its public key', () => {
    const a = encodeIdentity(createIdentity(crypto));
    const b = encodeIdentity(createIdentity(crypto));
    const mixed = new Uint8Array([...a.subarray(0, 33), ...b.subarray(33)]);
    expect(codeOf(() => decodeIdentity(crypto, mixed))).toBe('InvalidKey');
    const badSeed = a.slice();
    badSeed[40] = badSeed[40]! ^ 1;
    expect(codeOf(() => decodeIdentity(crypto, badSeed))).toBe('InvalidKey');
  });

  it('refuses unknown versions and wrong lengths', () => {
    const bytes = encodeIdentity(createIdentity(crypto));
    const v2 = bytes.slice();
    v2[0] = 2;
    expect(codeOf(() => decodeIdentity(crypto, v2))).toBe('UnsupportedVersion');
    expect(codeOf(() => decodeIdentity(crypto, bytes.slice(0, 96)))).toBe('DecodeError');
    expect(codeOf(() => decodeIdentity(crypto, new Uint8Array([...bytes, 0])))).toBe('DecodeError');
  });

  it('prints as [redacted]', () => {
    const id = createIdentity(crypto);
    expect(inspect(id)).not.toContain(Buffer.from(id.keyPair.privateKey).toString('hex').slice(0, 8));
    expect(JSON.stringify(id)).toBe('"[redacted]"');
  });

  it('the decoder throws only DecodeError on arbitrary bytes (seed 42)', () => {
    fuzzDecoder((b) => decodeIdentity(crypto, b), [encodeIdentity(createIdentity(crypto))], 500);
    expect(() => decodeIdentity(crypto, new Uint8Array(IDENTITY_RECORD_BYTES))).toThrow(DecodeError);
  });
});
