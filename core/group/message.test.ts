/**
 * The group message: signed fields and signatures (every bit), a member forging another member's
 * message, and interoperability of the two libsodium builds.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { createNativeCrypto } from '../../crypto/native.ts';
import { createSodiumCrypto } from '../../crypto/sodium.ts';
import type { Crypto } from '../crypto.ts';
import type { LocalIdentity } from '../identity.ts';
import { distributionFor, createSenderKey, type OwnSenderKey } from './sender-key.ts';
import { acceptDistribution, decryptGroupMessage, encodeSenderChains, type SenderChains } from './receiver-chain.ts';
import { GROUP_HEADER_BYTES, GROUP_NONCE_BYTES, parseGroupMessage, sealGroupMessage, verifyGroupMessage } from './message.ts';
import { userIdBytes } from './ids.ts';
import { groupChainStep } from './group-kdf.ts';
import type { GroupView } from './view.ts';
import { codeOf, groupOf, identities, plaintext, seal, T0 } from './test-fixtures.ts';

const providers: Record<string, Crypto> = {};
beforeAll(async () => {
  providers.wasm = await createSodiumCrypto();
  providers.native = createNativeCrypto();
});

describe.each(['wasm', 'native'])('group message, %s provider', (name) => {
  let crypto: Crypto;
  let alice: LocalIdentity, bob: LocalIdentity, carol: LocalIdentity;
  let aliceView: GroupView, bobView: GroupView, carolView: GroupView;
  let aliceKey: OwnSenderKey;
  let carolChains: SenderChains;
  beforeAll(() => {
    crypto = providers[name]!;
    [alice, bob, carol] = identities(crypto, 3) as [LocalIdentity, LocalIdentity, LocalIdentity];
    const g = groupOf(crypto, alice, [bob, carol]);
    [aliceView, bobView, carolView] = [g.owner, g.views[0]!, g.views[1]!];
    aliceKey = createSenderKey(crypto, aliceView, T0, null);
    const d = (member: LocalIdentity) => distributionFor(crypto, aliceKey, aliceKey, member.userId, 1, aliceView);
    carolChains = acceptDistribution(crypto, carolView, carol.userId, alice.userId, null, d(carol), T0).next;
  });

  it('seals, verifies and decrypts', () => {
    const { bytes } = seal(crypto, aliceView, alice, aliceKey, 'hello group');
    const r = decryptGroupMessage(crypto, carolView, carolChains, bytes, T0);
    expect(new TextDecoder().decode(r.plaintext.body)).toBe('hello group');
    expect(bytes.length).toBe(9 + 24 + 256 + 16 + 64);
  });

  it('every bit of every signed field (header, nonce, ciphertext, group id, sender) and of the signature flipped: the signature fails', () => {
    const { bytes } = seal(crypto, aliceView, alice, aliceKey, 'signed');
    const m = parseGroupMessage(bytes);
    const groupId = aliceView.groupId;
    const sender = userIdBytes(alice.userId);
    expect(verifyGroupMessage(crypto, m, groupId, sender, aliceKey.signing.publicKey)).toBe(true);
    const flip = (b: Uint8Array, i: number): Uint8Array => {
      const c = b.slice();
      c[i >> 3]! ^= 1 << (i & 7);
      return c;
    };
    let checked = 0;
    const fields: [keyof typeof m | 'groupId' | 'sender', Uint8Array][] = [
      ['header', m.header],
      ['nonce', m.nonce],
      ['ciphertext', m.ciphertext],
      ['signature', m.signature],
      ['groupId', groupId],
      ['sender', sender],
    ];
    for (const [field, value] of fields) {
      for (let i = 0; i < value.length * 8; i++) {
        const f = flip(value, i);
        const mm = { ...m, ...(field === 'groupId' || field === 'sender' ? {} : { [field]: f }) };
        const ok = verifyGroupMessage(crypto, mm, field === 'groupId' ? f : groupId, field === 'sender' ? f : sender, aliceKey.signing.publicKey);
        expect(ok, `${field} bit ${i}`).toBe(false);
        checked++;
      }
    }
    expect(checked).toBe(8 * (GROUP_HEADER_BYTES + GROUP_NONCE_BYTES + m.ciphertext.length + 64 + 16 + 20));
  });

  it('a member forging another member’s message (it holds the chain, not the signing key) fails the signature and changes nothing', () => {
    // bob is a member: it has alice's chain key and can make a ciphertext under it, but must sign with a key of its own
    const bobsCopyOfAlice = distributionFor(crypto, aliceKey, aliceKey, bob.userId, 1, aliceView);
    const mk = groupChainStep(crypto, bobsCopyOfAlice.chainKey).messageKey;
    const bobSigning = crypto.ed25519KeyPair();
    const forged = sealGroupMessage(crypto, { groupId: bobView.groupId, sender: userIdBytes(alice.userId), keyId: aliceKey.keyId, iteration: 0, messageKey: mk, signingPrivateKey: bobSigning.privateKey, plaintext: plaintext('I am alice') });
    const before = encodeSenderChains(carolChains);
    expect(codeOf(() => decryptGroupMessage(crypto, carolView, carolChains, forged, T0))).toBe('BadSignature');
    expect(encodeSenderChains(carolChains)).toEqual(before);
    // and alice's genuine message 0 still decrypts afterwards
    const { bytes } = seal(crypto, aliceView, alice, aliceKey, 'the real one');
    expect(new TextDecoder().decode(decryptGroupMessage(crypto, carolView, carolChains, bytes, T0).plaintext.body)).toBe('the real one');
  });

  it('the two builds interoperate: sealed by one, received by the other', () => {
    const other = providers[name === 'wasm' ? 'native' : 'wasm']!;
    const { bytes } = seal(crypto, aliceView, alice, aliceKey, 'across builds');
    expect(new TextDecoder().decode(decryptGroupMessage(other, carolView, carolChains, bytes, T0).plaintext.body)).toBe('across builds');
  });
});
