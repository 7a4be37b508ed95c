/**
 * The at-rest record format is fixed: data dirs written by earlier builds must
 * open. Golden vectors (fixed store key and nonce) pin the physical keys and the sealed bytes.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { createSodiumCrypto } from '../../crypto/sodium.ts';
import { toHex } from '../../core/bytes.ts';
import type { Crypto } from '../../core/crypto.ts';
import { createRecordCipher } from './record-cipher.ts';
import type { RecordKind } from './kinds.ts';

let crypto: Crypto;
beforeAll(async () => {
  const real = await createSodiumCrypto();
  crypto = { ...real, randomBytes: (n: number) => new Uint8Array(n).fill(7) }; // fixed nonce: vectors only
});

const VALUE = new Uint8Array([1, 2, 3, 4, 5]);
const NONCE_HEX = '01' + '07'.repeat(24);
const VECTORS: Array<{ kind: RecordKind; key: string; physical: string; sealedTail: string }> = [
  { kind: 'peer', key: 'u1abc', physical: 'peer!be4b10d393bb60b5838606294d1dfc0f0048eab5', sealedTail: '86ad5070c2246badc09b4ef6ad5005e535381aa7c7bf1104da2e860e' },
  { kind: 'inbox', key: '0000000000000001', physical: 'inbox!0000000000000001', sealedTail: '86b815719376389cf2a87ac3cbb9c6267a6a3b8f79039a6e958cb50dcbfbea33814a9d37fab176' },
  { kind: 'contact', key: 'ü-non-ascii', physical: 'contact!18f380d04589e0ecf45858167b0e180ca09a74bf', sealedTail: '86a4e6fd8e2867c2eff9399092e0f714495f3fe4e7b96845f555e84a18c41c62dafcd9' },
  { kind: 'outbox', key: '', physical: 'outbox!', sealedTail: '86a82443a0420d66cd2747738b10a99590c1453a2050b5' },
];

describe('record cipher golden vectors', () => {
  it.each(VECTORS)('$kind "$key": physical key and sealed bytes as written by earlier builds', ({ kind, key, physical, sealedTail }) => {
    const cipher = createRecordCipher(crypto, new Uint8Array(32).fill(1));
    expect(cipher.physicalKey(kind, key)).toBe(physical);
    expect(cipher.physicalKey(kind, key)).toBe(physical); // the memoised answer is the same
    const sealed = cipher.seal(kind, physical, key, VALUE);
    expect(toHex(sealed)).toBe(NONCE_HEX + sealedTail);
    const opened = cipher.open(kind, physical, sealed);
    expect(opened.key).toBe(key);
    expect([...opened.value]).toEqual([...VALUE]);
  });

  it('a record moved to another key or kind does not open', () => {
    const cipher = createRecordCipher(crypto, new Uint8Array(32).fill(1));
    const sealed = cipher.seal('inbox', 'inbox!0000000000000001', '0000000000000001', VALUE);
    expect(() => cipher.open('inbox', 'inbox!0000000000000002', sealed)).toThrow(/authentication failed/);
    expect(() => cipher.open('outbox', 'inbox!0000000000000001', sealed)).toThrow(/authentication failed/);
  });

  it('blinded keys stay right past the memo size', () => {
    const cipher = createRecordCipher(crypto, new Uint8Array(32).fill(1));
    const first = cipher.physicalKey('peer', 'u1abc');
    for (let i = 0; i < 5000; i++) cipher.physicalKey('peer', `other-${i}`);
    expect(cipher.physicalKey('peer', 'u1abc')).toBe(first);
    expect(cipher.physicalKey('peer', 'other-1')).not.toBe(cipher.physicalKey('peer', 'other-2'));
  });
});
