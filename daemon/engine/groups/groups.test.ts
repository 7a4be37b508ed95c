/**
 * Groups through the engine: daemons on in-memory stores over the in-process relay (test-support.ts).
 * What the relay carries is real: pairwise Double Ratchet envelopes and group copies (kind 0x03).
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { utf8 } from '../../../core/bytes.ts';
import { ENVELOPE_KIND_GROUP } from '../../../core/envelope.ts';
import { createMemoryBackend } from '../../store/memory-backend.ts';
import { createTestNet, restartTestDaemon, startTestDaemon, text, type TestDaemon, type TestNet } from '../test-support.ts';
import type { DaemonEvent, GroupInfo, InboundMessage } from '../types.ts';
import { copiesTo, inject } from './group-test-support.ts';

let net: TestNet;
const running: TestDaemon[] = [];
async function start(): Promise<TestDaemon> {
  const d = await startTestDaemon(net);
  running.push(d);
  return d;
}

beforeEach(async () => {
  net = await createTestNet();
});
afterEach(async () => {
  for (const d of running.splice(0)) {
    d.unsubscribe();
    await d.daemon.close();
  }
});

const groupMessages = (d: TestDaemon, groupId: string): InboundMessage[] => d.log.messages().filter((m) => m.groupId === groupId);
const groupTexts = (d: TestDaemon, groupId: string): string[] => groupMessages(d, groupId).map((m) => utf8.decode(m.body));
const changes = (d: TestDaemon, groupId: string): Extract<DaemonEvent, { kind: 'groupChanged' }>[] =>
  d.log.events.flatMap((e) => (e.kind === 'groupChanged' && e.group.groupId === groupId ? [e] : []));

/** Waits until `d` has applied version `version` of the group (or learnt it is out). */
const atVersion = (d: TestDaemon, groupId: string, version: number) =>
  d.log.until((l) => l.events.some((e) => e.kind === 'groupChanged' && e.group.groupId === groupId && e.group.version >= version), `version ${version} at ${d.userId}`);

const waitTexts = (d: TestDaemon, groupId: string, n: number, what: string) => d.log.until(() => groupMessages(d, groupId).length >= n, what);


async function threeMembers(): Promise<{ a: TestDaemon; b: TestDaemon; c: TestDaemon; group: GroupInfo }> {
  const [a, b, c] = [await start(), await start(), await start()];
  const group = await a.daemon.backend.createGroup('ops', [b.userId, c.userId]);
  await Promise.all([atVersion(b, group.groupId, 1), atVersion(c, group.groupId, 1)]);
  return { a, b, c, group };
}

describe('groups in the engine', () => {
  it('three members exchange group messages: each once, with groupId and sender, never the own ones, delivered per member', async () => {
    const { a, b, c, group } = await threeMembers();
    expect(group).toMatchObject({ name: 'ops', owner: a.userId, version: 1 });
    expect(new Set(group.members)).toEqual(new Set([a.userId, b.userId, c.userId]));
    expect(changes(b, group.groupId)[0]).toMatchObject({ removed: false, group: { owner: a.userId, version: 1 } });
    expect(await c.daemon.backend.listGroups()).toEqual([expect.objectContaining({ groupId: group.groupId, version: 1 })]);

    const first = await a.daemon.backend.send({ groupId: group.groupId, body: text('one from a') });
    await a.daemon.backend.send({ groupId: group.groupId, body: text('two from a') });
    await Promise.all([waitTexts(b, group.groupId, 2, 'b gets a\'s two'), waitTexts(c, group.groupId, 2, 'c gets a\'s two')]);
    expect(groupTexts(b, group.groupId)).toEqual(['one from a', 'two from a']);
    expect(groupMessages(c, group.groupId).map((m) => m.from)).toEqual([a.userId, a.userId]);
    expect(groupMessages(c, group.groupId)[0]!.messageId).toBe(first.messageId);

    await b.daemon.backend.send({ groupId: group.groupId, body: text('hello from b') });
    await Promise.all([waitTexts(a, group.groupId, 1, 'a gets b\'s'), waitTexts(c, group.groupId, 3, 'c gets b\'s')]);
    expect(groupMessages(a, group.groupId).map((m) => [m.from, utf8.decode(m.body)])).toEqual([[b.userId, 'hello from b']]);
    expect(groupMessages(b, group.groupId).every((m) => m.from === a.userId)).toBe(true);

    // the second message travelled as copies (the key was bundled with the first, pairwise)
    expect(copiesTo(net, b.userId).length).toBeGreaterThanOrEqual(1);
    // per-member delivery from the members' cumulative receipts
    await a.log.until(
      (l) => [b.userId, c.userId].every((m) => l.events.some((e) => e.kind === 'delivery' && e.messageId === first.messageId && e.to === m && e.state === 'delivered')),
      'a learns both members got the first',
    );
    // nothing readable on the wire
    for (const p of net.hub.published) expect(Buffer.from(p.envelope).includes(Buffer.from('from a'))).toBe(false);
  });

  it('duplicated copies (the relay replaying them) and a retried Send with its idempotency key give each message once', async () => {
    const { a, b, group } = await threeMembers();
    const first = await a.daemon.backend.send({ groupId: group.groupId, body: text('m1'), idempotencyKey: 'k1' });
    const again = await a.daemon.backend.send({ groupId: group.groupId, body: text('m1'), idempotencyKey: 'k1' });
    expect(again.messageId).toBe(first.messageId);
    await expect(a.daemon.backend.send({ groupId: group.groupId, body: text('other'), idempotencyKey: 'k1' })).rejects.toMatchObject({ code: 'IdempotencyConflict' });
    for (const t of ['m2', 'm3', 'm4']) await a.daemon.backend.send({ groupId: group.groupId, body: text(t) });
    await waitTexts(b, group.groupId, 4, 'b gets four');
    await inject(net, b.userId, [...copiesTo(net, b.userId)].reverse());
    await inject(net, b.userId, copiesTo(net, b.userId));
    await net.hub.idle();
    expect(groupTexts(b, group.groupId)).toEqual(['m1', 'm2', 'm3', 'm4']);
  });

  it('only the owner changes the members; unknown groups and left groups are refused with their codes', async () => {
    const { a, b, c, group } = await threeMembers();
    await expect(b.daemon.backend.addMembers(group.groupId, [a.userId])).rejects.toMatchObject({ code: 'NotGroupOwner' });
    await expect(b.daemon.backend.removeMembers(group.groupId, [c.userId])).rejects.toMatchObject({ code: 'NotGroupOwner' });
    await expect(a.daemon.backend.send({ groupId: 'a'.repeat(26), body: text('x') })).rejects.toMatchObject({ code: 'UnknownGroup' });
    await expect(a.daemon.backend.removeMembers(group.groupId, [a.userId])).rejects.toMatchObject({ code: 'InvalidGroupChange' });
    await c.daemon.backend.leaveGroup(group.groupId);
    await expect(c.daemon.backend.send({ groupId: group.groupId, body: text('x') })).rejects.toMatchObject({ code: 'NotGroupMember' });
    expect(await c.daemon.backend.listGroups()).toEqual([]);
    // the owner removes the leaver: the others see version 2 without c
    await atVersion(b, group.groupId, 2);
    expect(changes(b, group.groupId).at(-1)!.group.members).not.toContain(c.userId);
    expect((await a.daemon.backend.listGroups())[0]!.members).toEqual(expect.not.arrayContaining([c.userId]));
  });

  it('a removed member reads nothing sent after the removal, even with the others\' copies injected into its inbox', async () => {
    const { a, b, c, group } = await threeMembers();
    await b.daemon.backend.send({ groupId: group.groupId, body: text('before') });
    await waitTexts(c, group.groupId, 1, 'c gets the first');
    const removed = await a.daemon.backend.removeMembers(group.groupId, [c.userId]);
    expect(removed.version).toBe(2);
    await atVersion(b, group.groupId, 2);
    await c.log.until(() => changes(c, group.groupId).some((e) => e.removed), 'c learns it is out');
    const mark = net.hub.published.length;
    await b.daemon.backend.send({ groupId: group.groupId, body: text('after one') });
    await b.daemon.backend.send({ groupId: group.groupId, body: text('after two') });
    await waitTexts(a, group.groupId, 2, 'a gets both');
    // nothing addressed to c any more; every copy b made for a, injected into c's inbox, reads nothing
    expect(copiesTo(net, c.userId, mark)).toEqual([]);
    const forA = copiesTo(net, a.userId, mark);
    await inject(net, c.userId, forA);
    await net.hub.idle();
    expect(groupTexts(c, group.groupId)).toEqual(['before']);
    await expect(c.daemon.backend.send({ groupId: group.groupId, body: text('x') })).rejects.toMatchObject({ code: 'NotGroupMember' });
  });

  it('a copy of a removed member\'s data dir (taken while it was a member) reads nothing sent after the removal', async () => {
    const { a, b, c, group } = await threeMembers();
    await b.daemon.backend.send({ groupId: group.groupId, body: text('shared') });
    await waitTexts(c, group.groupId, 1, 'c has b\'s key');
    // the thief's copy of c's store, with b's sender key in it
    c.unsubscribe();
    await c.daemon.close();
    running.splice(running.indexOf(c), 1);
    const stolen = new Map([...c.backend.data].map(([k, v]) => [k, v.slice()]));
    const cBack = await restartTestDaemon(net, c);
    running.push(cBack);
    await a.daemon.backend.removeMembers(group.groupId, [c.userId]);
    await atVersion(b, group.groupId, 2);
    await cBack.log.until(() => changes(cBack, group.groupId).some((e) => e.removed), 'c learns it is out');
    const mark = net.hub.published.length;
    await b.daemon.backend.send({ groupId: group.groupId, body: text('secret after removal') });
    await waitTexts(a, group.groupId, 1, 'a gets it');
    const forA = copiesTo(net, a.userId, mark);
    // b rotated before this send: the message went to a pairwise with the new key, not as a copy
    // under the key the stolen state holds; whatever b published for a, injected, reads nothing
    cBack.unsubscribe();
    await cBack.daemon.close();
    running.splice(running.indexOf(cBack), 1);
    const thief = await startTestDaemon(net, { backend: createMemoryBackend(stolen), storeKey: c.storeKey });
    running.push(thief);
    await inject(net, thief.userId, [...forA, ...net.hub.published.slice(mark).filter((p) => p.to === a.userId).map((p) => p.envelope)]);
    await net.hub.idle();
    expect(groupTexts(thief, group.groupId)).not.toContain('secret after removal');
    expect(thief.log.texts()).not.toContain('secret after removal');
  });

  it('a joiner reads nothing sent before it joined, even injected, and everything after', async () => {
    const { a, b, group } = await threeMembers();
    await a.daemon.backend.send({ groupId: group.groupId, body: text('old one') });
    await b.daemon.backend.send({ groupId: group.groupId, body: text('old two') });
    await waitTexts(a, group.groupId, 1, 'a gets b\'s');
    const old = [...copiesTo(net, b.userId), ...net.hub.published.filter((p) => p.envelope[1] === ENVELOPE_KIND_GROUP).map((p) => p.envelope)];
    const d = await start();
    await a.daemon.backend.addMembers(group.groupId, [d.userId]);
    await atVersion(d, group.groupId, 2);
    await atVersion(b, group.groupId, 2);
    await inject(net, d.userId, old);
    await b.daemon.backend.send({ groupId: group.groupId, body: text('new from b') });
    await a.daemon.backend.send({ groupId: group.groupId, body: text('new from a') });
    await waitTexts(d, group.groupId, 2, 'd gets the new ones');
    await net.hub.idle();
    expect(groupTexts(d, group.groupId).sort()).toEqual(['new from a', 'new from b']);
  });

  it('an offline member gets every message once, in each sender\'s order, after it comes back', async () => {
    const { a, b, c, group } = await threeMembers();
    await a.daemon.backend.send({ groupId: group.groupId, body: text('warm-up') });
    await waitTexts(c, group.groupId, 1, 'c has the key');
    c.unsubscribe();
    await c.daemon.close();
    running.splice(running.indexOf(c), 1);
    for (let i = 1; i <= 5; i++) await a.daemon.backend.send({ groupId: group.groupId, body: text(`a${i}`) });
    for (let i = 1; i <= 3; i++) await b.daemon.backend.send({ groupId: group.groupId, body: text(`b${i}`) });
    const back = await restartTestDaemon(net, c, { subscribeAfter: 0 });
    running.push(back);
    await waitTexts(back, group.groupId, 9, 'c gets all nine');
    await net.hub.idle();
    const got = groupTexts(back, group.groupId);
    expect(got.length).toBe(9);
    expect(new Set(got).size).toBe(9);
    expect(got.filter((t) => /^a\d$/.test(t))).toEqual(['a1', 'a2', 'a3', 'a4', 'a5']);
    expect(got.filter((t) => /^b\d$/.test(t))).toEqual(['b1', 'b2', 'b3']);
  });

  it('group state survives a restart: the sender key continues, the member keeps reading', async () => {
    const { a, b, group } = await threeMembers();
    await a.daemon.backend.send({ groupId: group.groupId, body: text('before restart') });
    await waitTexts(b, group.groupId, 1, 'b gets the first');
    const i = running.indexOf(a);
    a.unsubscribe();
    const again = await restartTestDaemon(net, a);
    running[i] = again;
    expect(await again.daemon.backend.listGroups()).toEqual([expect.objectContaining({ groupId: group.groupId, version: 1 })]);
    await again.daemon.backend.send({ groupId: group.groupId, body: text('after restart') });
    await waitTexts(b, group.groupId, 2, 'b gets the second');
    expect(groupTexts(b, group.groupId)).toEqual(['before restart', 'after restart']);
  });
});
