/**
 * Sending and the scenarios of the issue, at the protocol level: removed members, joiners, rotation,
 * copies the relay cannot link, the large-message path, recovery, and the cost of one message.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { createNativeCrypto } from '../../crypto/native.ts';
import type { Crypto } from '../crypto.ts';
import { toHex } from '../bytes.ts';
import type { LocalIdentity } from '../identity.ts';
import { MAX_BODY_BYTES, SENDER_KEY_MAX_AGE_MS, SENDER_KEY_MAX_MESSAGES } from '../limits.ts';
import { MESSAGE_ID_BYTES } from '../content.ts';
import { decodeGroupEnvelope } from '../envelope.ts';
import { encodeGroupContent, sealGroupContent } from './content.ts';
import { missingSeqs } from './seq-log.ts';
import { MAX_GROUP_BODY_BYTES } from './plaintext.ts';
import { answerKeyRequest, planGroupSend } from './send.ts';
import { createSenderKey, rotationReason } from './sender-key.ts';
import { changeMembership } from './membership.ts';
import { ownView } from './view.ts';
import { GroupSim, snapshot } from './test-sim.ts';
import { codeOf, groupOf, identities, T0 } from './test-fixtures.ts';
import { ZERO_HASH } from '../content.ts';
import type { UserId } from '../user-id.ts';

let crypto: Crypto;
let people: LocalIdentity[];
beforeAll(() => {
  crypto = createNativeCrypto();
  people = identities(crypto, 6);
});
const id = (i: number): UserId => people[i]!.userId;
const body = (s: string): Uint8Array => new TextEncoder().encode(s);

/** All six people in a sim; people[0] owns a group of people[1..n-1], all joined and keyed by one message each. */
function settled(n: number): GroupSim {
  const sim = new GroupSim(crypto, people, T0);
  sim.create(id(0), people.slice(1, n).map((p) => p.userId));
  sim.drain();
  for (let i = 0; i < n; i++) sim.send(id(i), body(`hello from ${i}`));
  sim.drain();
  return sim;
}

/** Delivers pairwise contents until none moves. */
function flushPairwise(sim: GroupSim): void {
  let moved = true;
  while (moved) {
    moved = false;
    for (const key of sim.channels.keys()) while (sim.stepChannel(key)) moved = true;
  }
}

describe('group sending', () => {
  it('a removed member cannot read later messages: not from copies injected into its inbox, not from the inner message, not with a copy of its state', () => {
    const sim = settled(4);
    const [owner, alice, mallory] = [id(0), id(1), id(3)];
    const kept = snapshot(sim.user(mallory)); // its whole receiving state, before the removal
    sim.change(owner, { remove: [mallory] });
    sim.drain();
    const later = [sim.send(owner, body('after removal 1')), sim.send(alice, body('after removal 2'))];
    sim.drain();
    for (const m of later) {
      expect(m.addressed.has(mallory)).toBe(false);
      expect(sim.canRead(kept, m)).toBe(false);
      // every copy, injected into the removed member's inbox and processed as if addressed to it
      for (const c of m.copies) expect(sim.receiveCopy(mallory, c)).toBe('hold');
    }
    expect(sim.user(mallory).delivered.some((d) => later.some((m) => m.id === d.id))).toBe(false);
    // the members still read them
    for (const m of later) expect(sim.user(id(2)).delivered.some((d) => d.id === m.id)).toBe(true);
  });

  it('without rotation after the removal, that kept state would read the inner message (what the rotation is for)', () => {
    const sim = settled(4);
    const [owner, mallory] = [id(0), id(3)];
    const kept = snapshot(sim.user(mallory));
    const before = sim.send(owner, body('before removal'));
    expect(sim.canRead(kept, before)).toBe(true);
    sim.change(owner, { remove: [mallory] });
    const after = sim.send(owner, body('after removal'));
    expect(sim.user(owner).senderKey!.keyId).not.toBe(kept.chains.get(owner)!.chains[0]!.keyId);
    expect(sim.canRead(kept, after)).toBe(false);
  });

  it('a joiner cannot read earlier messages, even injected: its key starts at the current step', () => {
    const sim = settled(4);
    const [owner, alice] = [id(0), id(1)];
    const early = [sim.send(owner, body('early 1')), sim.send(alice, body('early 2'))];
    sim.change(owner, { add: [id(4)] });
    sim.drain();
    const joiner = id(4);
    const later = [sim.send(owner, body('late 1')), sim.send(alice, body('late 2'))];
    sim.drain();
    for (const m of later) expect(sim.user(joiner).delivered.some((d) => d.id === m.id)).toBe(true);
    for (const m of early) {
      expect(sim.canRead(sim.user(joiner), m)).toBe(false);
      for (const c of m.copies) expect(sim.receiveCopy(joiner, c)).not.toBe('done');
    }
    // the joiner's chain of the owner starts at the step of the first message it got
    expect(sim.user(joiner).chains.get(owner)!.chains[0]!.next).toBeGreaterThan(1);
  });

  it('copies: one ciphertext, one copy per member, no two sharing bytes beyond the frame and length; distinct tags per member', () => {
    const sim = settled(5);
    const m = sim.send(id(1), body('to everyone'));
    expect(m.copies.length).toBe(4);
    const envs = m.copies.map(decodeGroupEnvelope);
    expect(new Set(envs.map((e) => toHex(e.tag))).size).toBe(4);
    expect(new Set(envs.map((e) => toHex(e.nonce))).size).toBe(4);
    expect(new Set(m.copies.map((c) => c.length)).size).toBe(1);
    // no 12-byte run of the group message (header, nonce, ciphertext or signature) is in any copy
    const windows = new Set<string>();
    for (let i = 0; i + 12 <= m.inner.length; i++) windows.add(toHex(m.inner.subarray(i, i + 12)));
    for (const c of m.copies) for (let i = 0; i + 12 <= c.length; i++) expect(windows.has(toHex(c.subarray(i, i + 12)))).toBe(false);
  });

  it('one message costs one AEAD and one signature for the message, plus one AEAD per copy', () => {
    const sim = settled(5);
    const sender = sim.user(id(0));
    const counts = { aead: 0, sign: 0 };
    const counting: Crypto = { ...crypto, aeadEncrypt: (k, n, p, a) => (counts.aead++, crypto.aeadEncrypt(k, n, p, a)), sign: (m, k) => (counts.sign++, crypto.sign(m, k)) };
    const plan = planGroupSend(counting, { self: sender.id, view: sender.view!, senderKey: sender.senderKey, delivery: sender.delivery, input: { body: body('count me'), contentType: '' }, now: T0 });
    expect(plan.outputs.every((o) => o.copy !== null && o.pairwise.length === 0)).toBe(true);
    expect(counts).toEqual({ aead: 1 + 4, sign: 1 });
  });

  it('rotation: before the first message, after a removal, at 7 days, at 10,000 messages, on demand; not after an addition', () => {
    const [owner, a, b, c] = people as [LocalIdentity, LocalIdentity, LocalIdentity, LocalIdentity];
    const g = groupOf(crypto, owner, [a, b]);
    expect(rotationReason(null, g.owner, T0)).toBe('new');
    const key = createSenderKey(crypto, g.owner, T0, null);
    expect(rotationReason(key, g.owner, T0)).toBeNull();
    expect(rotationReason(key, g.owner, T0 + SENDER_KEY_MAX_AGE_MS - 1)).toBeNull();
    expect(rotationReason(key, g.owner, T0 + SENDER_KEY_MAX_AGE_MS)).toBe('age');
    expect(rotationReason({ ...key, iteration: SENDER_KEY_MAX_MESSAGES - 1 }, g.owner, T0)).toBeNull();
    expect(rotationReason({ ...key, iteration: SENDER_KEY_MAX_MESSAGES }, g.owner, T0)).toBe('count');
    const added = ownView(changeMembership(crypto, owner, g.owner, { add: [c.userId] }, T0)!, g.owner);
    expect(rotationReason(key, added, T0)).toBeNull();
    const removed = ownView(changeMembership(crypto, owner, added, { remove: [b.userId] }, T0)!, added);
    expect(rotationReason(key, removed, T0)).toBe('removal');
    const plan = planGroupSend(crypto, { self: owner.userId, view: removed, senderKey: key, delivery: new Map(), input: { body: body('x'), contentType: '' }, now: T0 });
    expect(plan.rotated).toBe('removal');
    expect(plan.senderKey.keyId).not.toBe(key.keyId);
    expect(plan.senderKey.nextSeq).toBe(key.nextSeq + 1); // senderSeq continues across keys
    // every remaining member gets the new key bundled pairwise, none a copy
    expect(plan.outputs.map((o) => o.to).sort()).toEqual([a.userId, c.userId].sort());
    expect(plan.outputs.every((o) => o.copy === null && o.pairwise[0]!.kind === 'group-message')).toBe(true);
  });

  it('a body above the 64 KiB bucket: the key goes pairwise alone and the message as a copy; the largest body fits every path', () => {
    const sim = settled(3);
    const sender = sim.user(id(1));
    sim.rotate(sender.id);
    const big = sim.send(sender.id, new Uint8Array(MAX_GROUP_BODY_BYTES).fill(7));
    expect(big.copies.length).toBe(2);
    sim.drain();
    for (const u of [id(0), id(2)]) expect(sim.user(u).delivered.some((d) => d.id === big.id)).toBe(true);
    // the pairwise re-send of the largest message fits one pairwise message exactly
    const s = sim.user(sender.id);
    const resent = sealGroupContent(crypto, { kind: 'group-message', groupId: s.view!.groupId, mode: 'resent', plaintext: { ...s.outbox.at(-1)!.plaintext, contentType: 'x'.repeat(255) } }, 1, ZERO_HASH, T0);
    expect(encodeGroupContent(resent).length).toBe(MAX_BODY_BYTES);
    expect(codeOf(() => planGroupSend(crypto, { self: s.id, view: s.view!, senderKey: s.senderKey, delivery: s.delivery, input: { body: new Uint8Array(MAX_GROUP_BODY_BYTES + 1), contentType: '' }, now: T0 }))).toBe('MessageTooLarge');
  });

  it('a send to a group this member left or was removed from is NotGroupMember', () => {
    const [owner, a] = people as [LocalIdentity, LocalIdentity];
    const g = groupOf(crypto, owner, [a]);
    const outside = people[5]!;
    expect(codeOf(() => planGroupSend(crypto, { self: outside.userId, view: g.owner, senderKey: null, delivery: new Map(), input: { body: body('x'), contentType: '' }, now: T0 }))).toBe('NotGroupMember');
    expect(() => planGroupSend(crypto, { self: owner.userId, view: g.owner, senderKey: null, delivery: new Map(), input: { body: body('x'), contentType: '', messageId: new Uint8Array(MESSAGE_ID_BYTES - 1) }, now: T0 })).toThrow(RangeError);
  });

  it('recovery: a lost copy is a hole in the seq log; a key request brings the key from the current step and the message re-sent, delivered once', () => {
    const sim = settled(3);
    const [alice, bob] = [id(1), id(2)];
    const lost = sim.send(alice, body('lost on the way'));
    sim.inboxes.set(bob, sim.inboxes.get(bob)!.filter((c) => !lost.copies.includes(c)));
    const next = sim.send(alice, body('arrives'));
    for (const c of [...sim.inboxes.get(bob)!]) sim.receiveCopy(bob, c);
    const log = sim.user(bob).logs.get(alice)!;
    expect(missingSeqs(log)).toEqual([{ from: log.upTo + 1, to: log.upTo + 1 }]);
    sim.keyRequest(bob, alice);
    flushPairwise(sim);
    const got = sim.user(bob).delivered.filter((d) => d.id === lost.id || d.id === next.id);
    expect(got.length).toBe(2);
    expect(missingSeqs(sim.user(bob).logs.get(alice)!)).toEqual([]);
  });

  it('recovery: a member that lost its key state gets fresh keys on request and reads from there', () => {
    const sim = settled(3);
    const [alice, bob] = [id(1), id(2)];
    sim.user(bob).chains.clear(); // its keys are gone (its seq log survives)
    const m = sim.send(alice, body('after the loss'));
    for (const c of m.copies) expect(sim.receiveCopy(bob, c)).toBe('hold'); // its copy no longer routes
    sim.keyRequest(bob, alice);
    sim.drain();
    expect(sim.user(bob).delivered.filter((d) => d.id === m.id).length).toBe(1);
    const after = sim.send(alice, body('and later'));
    sim.drain();
    expect(sim.user(bob).delivered.filter((d) => d.id === after.id).length).toBe(1);
  });

  it('key requests are answered only for members, and an outdated key is rotated before it is handed out', () => {
    const [owner, a, b] = people as [LocalIdentity, LocalIdentity, LocalIdentity];
    const g = groupOf(crypto, owner, [a, b]);
    const key = createSenderKey(crypto, g.owner, T0, null);
    const ask = (from: UserId, view = g.owner) => answerKeyRequest(crypto, { self: owner.userId, view, senderKey: key, delivery: new Map(), from, haveUpToSeq: 0, now: T0 });
    expect(codeOf(() => ask(id(5)))).toBe('NotGroupMember');
    const ok = ask(a.userId)!;
    expect(ok.senderKey).toBe(key);
    expect(ok.content.kind === 'group-sender-key' && ok.content.distribution.iteration).toBe(key.iteration);
    const removed = ownView(changeMembership(crypto, owner, g.owner, { remove: [b.userId] }, T0)!, g.owner);
    const after = ask(a.userId, removed)!;
    expect(after.senderKey.keyId).not.toBe(key.keyId);
    expect(after.content.kind === 'group-sender-key' && after.content.distribution.keyId).toBe(after.senderKey.keyId);
  });
});
