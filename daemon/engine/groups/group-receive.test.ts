/**
 * The receive side's verdicts on pairwise membership contents, with real core objects: only the
 * owner's next version is applied; a version sent by anyone else, a tampered one, or a fork is
 * refused (counted, nothing changes); a replay is dropped; a later version is held and applied once
 * the missing one arrives. (The relay cannot inject any of these: they travel inside pairwise
 * sessions; this is what a member that is not the owner, or a buggy owner, could try.)
 */
import { beforeEach, describe, expect, it } from 'vitest';
import { createSodiumCrypto } from '../../../crypto/sodium.ts';
import { ZERO_HASH } from '../../../core/content.ts';
import type { Crypto } from '../../../core/crypto.ts';
import { createIdentity, type LocalIdentity } from '../../../core/index.ts';
import { changeMembership, createMembership, encodeGroupContent, sealGroupContent, type Membership } from '../../../core/group/index.ts';
import { openMemoryStore } from '../../store/open-store.ts';
import { DEFAULT_TIMING } from '../config.ts';
import type { EngineContext } from '../context.ts';
import { Inbox } from '../inbox.ts';
import { silentLogger } from '../test-support.ts';
import { Transaction } from '../transaction.ts';
import { GroupHeld } from './group-held.ts';
import { GroupOutbox } from './group-outbox.ts';
import type { GroupPairwiseQueue } from './group-pairwise.ts';
import type { GroupParts } from './group-parts.ts';
import { GroupReceive } from './group-receive.ts';
import { GroupState } from './group-state.ts';

let crypto: Crypto;
let owner: LocalIdentity;
let member: LocalIdentity;
let other: LocalIdentity;
let parts: GroupParts;
let receive: GroupReceive;
let staged: Transaction[];

const T = 1_700_000_000_000;

beforeEach(async () => {
  crypto = await createSodiumCrypto();
  [owner, member, other] = [createIdentity(crypto), createIdentity(crypto), createIdentity(crypto)];
  const store = await openMemoryStore(crypto, crypto.randomBytes(32));
  const inbox = new Inbox(store, silentLogger);
  const ctx = { crypto, store, log: silentLogger, now: () => T, identity: member, inbox, timing: DEFAULT_TIMING } as unknown as EngineContext;
  const sent: unknown[] = [];
  const pairwise = { add: (_tx: Transaction, to: string, input: unknown) => sent.push({ to, input }) } as unknown as GroupPairwiseQueue;
  parts = { ctx, state: new GroupState(crypto, store, silentLogger), pairwise, outbox: new GroupOutbox(store, silentLogger), held: new GroupHeld(store, silentLogger), refused: new Map() };
  receive = new GroupReceive(parts, { scheduleReceipt: () => undefined, memberLeft: () => undefined, droppedGroup: () => undefined });
  staged = [];
});

const carry = (m: Membership | Uint8Array): Uint8Array =>
  encodeGroupContent(sealGroupContent(crypto, { kind: 'group-membership', membership: m instanceof Uint8Array ? m : m.bytes }, 1, ZERO_HASH, T));

function deliver(from: LocalIdentity, body: Uint8Array): Transaction {
  const tx = new Transaction();
  receive.onPairwise(tx, from.userId, body, []);
  staged.push(tx);
  return tx;
}

const totalRefused = (): number => [...parts.refused.values()].reduce((a, b) => a + b, 0);
const versionHere = (m: Membership): number | undefined => parts.state.get(m.groupIdText)?.view.version;

describe('membership versions at a member', () => {
  it('applies the owner\'s versions in order; refuses the same bytes from a non-owner, tampered bytes and forks', () => {
    const v1 = createMembership(crypto, owner, 'g', [member.userId, other.userId], T);
    // a non-owner relays the owner's (validly signed) version: refused, no group
    deliver(other, carry(v1));
    expect(versionHere(v1)).toBeUndefined();
    expect(parts.refused.get('NotGroupOwner')).toBe(1);
    // from the owner: joined
    deliver(owner, carry(v1));
    expect(versionHere(v1)).toBe(1);
    // tampered (a byte of the name flipped): refused, nothing changes
    const v2 = changeMembership(crypto, owner, v1, { name: 'renamed' }, T)!;
    const tampered = v2.bytes.slice();
    tampered[tampered.length - 70]! ^= 1;
    const before = totalRefused();
    deliver(owner, carry(tampered));
    expect(versionHere(v1)).toBe(1);
    expect(totalRefused()).toBe(before + 1);
    // a fork: another version 2, signed by the owner, that does not chain to the applied version 1
    const forkBase = { ...v1, hash: crypto.randomBytes(32) };
    const fork = changeMembership(crypto, owner, forkBase, { name: 'fork' }, T)!;
    deliver(owner, carry(fork));
    expect(parts.refused.get('ForkedGroupVersion')).toBe(1);
    expect(versionHere(v1)).toBe(1);
    // the real version 2: applied; a replay of version 1 afterwards: dropped, not refused
    deliver(owner, carry(v2));
    expect(versionHere(v1)).toBe(2);
    expect(parts.state.get(v1.groupIdText)!.view.name).toBe('renamed');
    const refusedSoFar = totalRefused();
    deliver(owner, carry(v1));
    expect(totalRefused()).toBe(refusedSoFar);
    expect(versionHere(v1)).toBe(2);
  });

  it('a version that skips one (the missing one lost for good) re-joins from it; the late one is then stale', () => {
    const v1 = createMembership(crypto, owner, 'g', [member.userId], T);
    const v2 = changeMembership(crypto, owner, v1, { add: [other.userId] }, T)!;
    const v3 = changeMembership(crypto, owner, v2, { name: 'three' }, T)!;
    deliver(owner, carry(v1));
    deliver(owner, carry(v3));
    expect(versionHere(v1)).toBe(3);
    const view = parts.state.get(v1.groupIdText)!.view;
    expect(view.name).toBe('three');
    expect(view.members).toContain(other.userId);
    expect(view.lastRemovalVersion).toBe(3); // the own sender key is replaced before the next send
    expect(parts.held.size).toBe(0);
    deliver(owner, carry(v2));
    expect(versionHere(v1)).toBe(3);
    expect(totalRefused()).toBe(0);
    // the same jump from someone else than the owner is refused
    const v5 = changeMembership(crypto, owner, changeMembership(crypto, owner, v3, { name: 'four' }, T)!, { name: 'five' }, T)!;
    deliver(other, carry(v5));
    expect(versionHere(v1)).toBe(3);
    expect(parts.refused.get('NotGroupOwner')).toBe(1);
  });

  it('a jump to a version that no longer lists this member drops the group', () => {
    const v1 = createMembership(crypto, owner, 'g', [member.userId, other.userId], T);
    const v2 = changeMembership(crypto, owner, v1, { name: 'two' }, T)!;
    const v3 = changeMembership(crypto, owner, v2, { remove: [member.userId] }, T)!;
    deliver(owner, carry(v1));
    deliver(owner, carry(v3));
    expect(parts.state.get(v1.groupIdText)).toBeUndefined();
    expect(parts.state.left.get(v1.groupIdText)).toMatchObject({ removed: true, version: 3 });
  });

  it('a removal of this member drops the group and a groupLeft record stays; an old version cannot re-join it', () => {
    const v1 = createMembership(crypto, owner, 'g', [member.userId, other.userId], T);
    const v2 = changeMembership(crypto, owner, v1, { remove: [member.userId] }, T)!;
    deliver(owner, carry(v1));
    const tx = deliver(owner, carry(v2));
    expect(parts.state.get(v1.groupIdText)).toBeUndefined();
    expect(parts.state.left.get(v1.groupIdText)).toMatchObject({ removed: true, version: 2 });
    expect(tx.ops.some((o) => o.kind === 'groupLeft' && o.type === 'put')).toBe(true);
    deliver(owner, carry(v1)); // a replay of the version that listed it
    expect(parts.state.get(v1.groupIdText)).toBeUndefined();
  });
});
