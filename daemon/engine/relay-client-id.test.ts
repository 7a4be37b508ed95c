import { beforeAll, describe, expect, it } from 'vitest';
import { createIdentity } from '../../core/index.ts';
import type { Crypto } from '../../core/crypto.ts';
import { createSodiumCrypto } from '../../crypto/sodium.ts';
import { plainBrokerClientId } from './relay-client-id.ts';

let crypto: Crypto;
beforeAll(async () => {
  crypto = await createSodiumCrypto();
});

describe('plainBrokerClientId', () => {
  it('is the user id and a suffix from the identity key: the same on every call, another for another identity', () => {
    const alice = createIdentity(crypto);
    const bob = createIdentity(crypto);
    const id = plainBrokerClientId(crypto, alice);
    expect(id).toMatch(new RegExp(`^${alice.userId}-[0-9a-f]{20}$`));
    expect(plainBrokerClientId(crypto, alice)).toBe(id);
    expect(plainBrokerClientId(crypto, bob)).not.toBe(id);
    expect(plainBrokerClientId(crypto, bob).startsWith(`${bob.userId}-`)).toBe(true);
  });

  it('depends on the private key, not only on what is public (the user id)', () => {
    const alice = createIdentity(crypto);
    const forged = { userId: alice.userId, keyPair: { publicKey: alice.keyPair.publicKey, privateKey: crypto.randomBytes(64) } };
    expect(plainBrokerClientId(crypto, forged)).not.toBe(plainBrokerClientId(crypto, alice));
  });
});
