/**
 * Receiving chains: the skip limit at its boundary, duplicates and shuffles, the bounds on skipped
 * keys and retired chains, expiry, the distribution rules, and "a refusal changes nothing".
 */
import { beforeAll, describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { createNativeCrypto } from '../../crypto/native.ts';
import type { Crypto } from '../crypto.ts';
import type { LocalIdentity } from '../identity.ts';
import { GROUP_SKIPPED_KEY_MAX_AGE_MS, MAX_GROUP_SKIP, MAX_GROUP_SKIPPED_KEYS_PER_CHAIN, MAX_RETIRED_SENDER_CHAINS, RETIRED_SENDER_CHAIN_MAX_AGE_MS } from '../limits.ts';
import { createSenderKey, distributionFor, stepSenderKey, type OwnSenderKey } from './sender-key.ts';
import { acceptDistribution, decodeSenderChains, decryptGroupMessage, encodeSenderChains, expireSenderChains, skippedGroupKeyCount, type SenderChains } from './receiver-chain.ts';
import { changeMembership } from './membership.ts';
import { applyMembership, ownView, type GroupView } from './view.ts';
import { recordSeq, startSeqLog } from './seq-log.ts';
import { codeOf, groupOf, identities, seal, T0 } from './test-fixtures.ts';

let crypto: Crypto;
let alice: LocalIdentity, bob: LocalIdentity, carol: LocalIdentity;
let aliceView: GroupView, bobView: GroupView;
beforeAll(() => {
  crypto = createNativeCrypto();
  [alice, bob, carol] = identities(crypto, 3) as [LocalIdentity, LocalIdentity, LocalIdentity];
  const g = groupOf(crypto, alice, [bob, carol]);
  aliceView = g.owner;
  bobView = g.views[0]!;
});

function fresh(): { key: OwnSenderKey; chains: SenderChains } {
  const key = createSenderKey(crypto, aliceView, T0, null);
  const d = distributionFor(crypto, key, key, bob.userId, 1, aliceView);
  return { key, chains: acceptDistribution(crypto, bobView, bob.userId, alice.userId, null, d, T0).next };
}

/** The key advanced by n steps without sealing anything. */
function advance(key: OwnSenderKey, n: number): OwnSenderKey {
  for (let i = 0; i < n; i++) key = stepSenderKey(crypto, key).next;
  return key;
}

const text = (chains: SenderChains, bytes: Uint8Array): string => new TextDecoder().decode(decryptGroupMessage(crypto, bobView, chains, bytes, T0).plaintext.body);

describe('receiver chains', () => {
  it(`skip limit: a message ${MAX_GROUP_SKIP} steps ahead is accepted, ${MAX_GROUP_SKIP + 1} ahead is TooFarAhead with the state byte-identical`, () => {
    const { key, chains } = fresh();
    const atLimit = seal(crypto, aliceView, alice, advance(key, MAX_GROUP_SKIP), 'at the limit').bytes;
    const beyond = seal(crypto, aliceView, alice, advance(key, MAX_GROUP_SKIP + 1), 'one beyond').bytes;
    const before = encodeSenderChains(chains);
    expect(codeOf(() => decryptGroupMessage(crypto, bobView, chains, beyond, T0))).toBe('TooFarAhead');
    expect(encodeSenderChains(chains)).toEqual(before);
    const r = decryptGroupMessage(crypto, bobView, chains, atLimit, T0);
    expect(new TextDecoder().decode(r.plaintext.body)).toBe('at the limit');
    expect(skippedGroupKeyCount(r.next)).toBe(MAX_GROUP_SKIP);
    expect(r.next.chains[0]!.next).toBe(MAX_GROUP_SKIP + 1);
    // and from there, the one beyond is the next message
    expect(new TextDecoder().decode(decryptGroupMessage(crypto, bobView, r.next, beyond, T0).plaintext.body)).toBe('one beyond');
  });

  it('a forged far-ahead message is BadSignature, not TooFarAhead: nothing unauthenticated makes a member ask for keys', () => {
    const { key, chains } = fresh();
    const far = seal(crypto, aliceView, alice, advance(key, MAX_GROUP_SKIP + 5), 'far').bytes;
    far[far.length - 1]! ^= 1;
    expect(codeOf(() => decryptGroupMessage(crypto, bobView, chains, far, T0))).toBe('BadSignature');
  });

  it('shuffled and duplicated delivery (fast-check, seed 7): each message decrypts exactly once, the repeats are Duplicate', () => {
    const { key: k0, chains: c0 } = fresh();
    let key = k0;
    const sent: Uint8Array[] = [];
    for (let i = 0; i < 40; i++) {
      const s = seal(crypto, aliceView, alice, key, `m${i}`);
      sent.push(s.bytes);
      key = s.next;
    }
    fc.assert(
      fc.property(fc.array(fc.nat(sent.length - 1), { minLength: 40, maxLength: 120 }), fc.shuffledSubarray(sent.map((_, i) => i), { minLength: sent.length }), (extra, order) => {
        let chains = c0;
        let log = startSeqLog(1);
        const got: string[] = [];
        for (const i of [...order, ...extra]) {
          try {
            const r = decryptGroupMessage(crypto, bobView, chains, sent[i]!, T0);
            chains = r.next;
            const rec = recordSeq(log, r.plaintext.senderSeq);
            log = rec.next;
            expect(rec.duplicate).toBe(false);
            got.push(new TextDecoder().decode(r.plaintext.body));
          } catch (e) {
            expect(codeOf(() => { throw e; })).toBe('Duplicate');
          }
        }
        expect(got.sort()).toEqual(sent.map((_, i) => `m${i}`).sort());
        expect(log.upTo).toBe(40);
        expect(skippedGroupKeyCount(chains)).toBe(0);
      }),
      { seed: 7, numRuns: 30 },
    );
  });

  it(`at most ${MAX_GROUP_SKIPPED_KEYS_PER_CHAIN} skipped keys per chain, oldest evicted (its message is then a Duplicate)`, () => {
    const { key, chains } = fresh();
    const first = seal(crypto, aliceView, alice, key, 'first').bytes;
    const a = decryptGroupMessage(crypto, bobView, chains, seal(crypto, aliceView, alice, advance(key, MAX_GROUP_SKIP), 'a').bytes, T0).next;
    const b = decryptGroupMessage(crypto, bobView, a, seal(crypto, aliceView, alice, advance(key, 2 * MAX_GROUP_SKIP), 'b').bytes, T0).next;
    expect(skippedGroupKeyCount(b)).toBe(MAX_GROUP_SKIPPED_KEYS_PER_CHAIN);
    expect(codeOf(() => decryptGroupMessage(crypto, bobView, b, first, T0))).toBe('Duplicate');
    expect(text(a, first)).toBe('first'); // still there before the eviction
  });

  it('skipped keys expire after GROUP_SKIPPED_KEY_MAX_AGE_MS; a retired chain after RETIRED_SENDER_CHAIN_MAX_AGE_MS', () => {
    const { key, chains } = fresh();
    const m0 = seal(crypto, aliceView, alice, key, 'late').bytes;
    const skipped = decryptGroupMessage(crypto, bobView, chains, seal(crypto, aliceView, alice, advance(key, 3), 'x').bytes, T0).next;
    expect(skippedGroupKeyCount(expireSenderChains(skipped, T0 + GROUP_SKIPPED_KEY_MAX_AGE_MS))).toBe(3);
    const aged = expireSenderChains(skipped, T0 + GROUP_SKIPPED_KEY_MAX_AGE_MS + 1);
    expect(skippedGroupKeyCount(aged)).toBe(0);
    expect(codeOf(() => decryptGroupMessage(crypto, bobView, aged, m0, T0 + GROUP_SKIPPED_KEY_MAX_AGE_MS + 1))).toBe('Duplicate');
    const k2 = createSenderKey(crypto, aliceView, T0, key);
    const rotated = acceptDistribution(crypto, bobView, bob.userId, alice.userId, skipped, distributionFor(crypto, k2, k2, bob.userId, 5, aliceView), T0).next;
    expect(rotated.chains.length).toBe(2);
    expect(text(rotated, m0)).toBe('late'); // the retired chain still reads its late copies
    expect(expireSenderChains(rotated, T0 + RETIRED_SENDER_CHAIN_MAX_AGE_MS + 1).chains.map((c) => c.keyId)).toEqual([k2.keyId]);
  });

  it(`at most ${MAX_RETIRED_SENDER_CHAINS} retired chains per sender; the oldest one's messages are then UnknownSenderKey`, () => {
    let { key, chains } = fresh();
    const oldest = seal(crypto, aliceView, alice, key, 'old').bytes;
    for (let i = 0; i < MAX_RETIRED_SENDER_CHAINS + 1; i++) {
      key = createSenderKey(crypto, aliceView, T0, key);
      chains = acceptDistribution(crypto, bobView, bob.userId, alice.userId, chains, distributionFor(crypto, key, key, bob.userId, 1, aliceView), T0).next;
    }
    expect(chains.chains.length).toBe(1 + MAX_RETIRED_SENDER_CHAINS);
    expect(codeOf(() => decryptGroupMessage(crypto, bobView, chains, oldest, T0))).toBe('UnknownSenderKey');
  });

  it('distributions: a later step moves the chain forward, an earlier one changes nothing, another key under a known id is refused', () => {
    const { key, chains } = fresh();
    const later = advance(key, 10);
    const moved = acceptDistribution(crypto, bobView, bob.userId, alice.userId, chains, distributionFor(crypto, later, later, bob.userId, 11, aliceView), T0);
    expect(moved.changed).toBe(true);
    expect(moved.next.chains[0]!.next).toBe(10);
    const again = acceptDistribution(crypto, bobView, bob.userId, alice.userId, moved.next, distributionFor(crypto, key, key, bob.userId, 1, aliceView), T0);
    expect(again.changed).toBe(false);
    expect(again.next).toBe(moved.next);
    const impostor = { ...createSenderKey(crypto, aliceView, T0, null), keyId: key.keyId };
    expect(codeOf(() => acceptDistribution(crypto, bobView, bob.userId, alice.userId, chains, distributionFor(crypto, impostor, impostor, bob.userId, 1, aliceView), T0))).toBe('ConflictingSenderKey');
  });

  it('distributions: from a non-member, for a version not applied yet (held), for an earlier membership (stale)', () => {
    const mallory = identities(crypto, 1)[0]!;
    const { key } = fresh();
    const d = distributionFor(crypto, key, key, bob.userId, 1, aliceView);
    expect(codeOf(() => acceptDistribution(crypto, bobView, bob.userId, mallory.userId, null, d, T0))).toBe('NotGroupMember');
    const v2 = ownView(changeMembership(crypto, alice, aliceView, { add: [mallory.userId] }, T0)!, aliceView);
    const fromV2 = distributionFor(crypto, key, key, bob.userId, 1, v2);
    expect(codeOf(() => acceptDistribution(crypto, bobView, bob.userId, alice.userId, null, fromV2, T0))).toBe('GroupVersionBehind');
    // bob removed, then re-added: a key alice made for bob's first membership is stale
    const v3 = changeMembership(crypto, alice, v2, { remove: [bob.userId] }, T0)!;
    const v4 = changeMembership(crypto, alice, v3, { add: [bob.userId] }, T0)!;
    const rejoined = applyMembership(crypto, null, v4.bytes, alice.userId, bob.userId).view!;
    expect(codeOf(() => acceptDistribution(crypto, rejoined, bob.userId, alice.userId, null, fromV2, T0))).toBe('StaleGroupVersion');
  });

  it('a removed sender’s messages are refused (NotGroupMember)', () => {
    const { key, chains } = fresh();
    const m = seal(crypto, aliceView, alice, key, 'x').bytes;
    const v2 = changeMembership(crypto, alice, aliceView, { remove: [carol.userId] }, T0)!;
    const carolGone = applyMembership(crypto, bobView, v2.bytes, alice.userId, bob.userId).view!;
    expect(text(chains, m)).toBe('x');
    const carolChains = { ...chains, sender: carol.userId };
    expect(codeOf(() => decryptGroupMessage(crypto, carolGone, carolChains, m, T0))).toBe('NotGroupMember');
  });

  it('the record round-trips byte for byte, with skipped keys and retired chains', () => {
    const { key, chains } = fresh();
    const a = decryptGroupMessage(crypto, bobView, chains, seal(crypto, aliceView, alice, advance(key, 4), 'x').bytes, T0).next;
    const k2 = createSenderKey(crypto, aliceView, T0, key);
    const b = acceptDistribution(crypto, bobView, bob.userId, alice.userId, a, distributionFor(crypto, k2, k2, bob.userId, 6, aliceView), T0 + 5).next;
    const bytes = encodeSenderChains(b);
    expect(decodeSenderChains(bytes)).toEqual(b);
    expect(encodeSenderChains(decodeSenderChains(bytes))).toEqual(bytes);
    expect(String(b)).toBe('[redacted]');
  });
});
