/**
 * A removal racing a send has one defined outcome (daemons on in-memory stores over the in-process
 * relay; a is the owner, b the sender, c the member a removes):
 *   - a message b encrypted before b applied the removal is addressed to c (its membershipVersion
 *     still lists c): c reads it if it arrives before c applies its own removal, and never after — a
 *     removed member keeps no group state, so a late copy or pairwise bundle is dropped unread, and
 *     b, once it applies the removal, re-sends nothing to c;
 *   - a message b encrypted after b applied the removal never reaches c by any path: no copy or
 *     pairwise content is made for c, b's key is new, and b's copies for the others, injected into c's
 *     inbox, read nothing;
 *   - the remaining members get every one of these messages, once.
 * Both orders are driven: c offline while the race happens (its queue delivers in publish order), and
 * b's envelopes to c held in flight while the owner removes c and c applies it.
 */
import { describe, expect, it } from 'vitest';
import { DEFAULT_OUTBOX_POLICY } from '../outbox.ts';
import { text, type TestDaemon, type TestDaemonOptions } from '../test-support.ts';
import { engineTestScope } from '../test-scope.ts';
import type { GroupInfo } from '../types.ts';
import { atVersion, copiesTo, envelopesTo, groupTexts, inject, isCopy, relayGate, removedFrom, until, waitTexts, type RelayGate } from './group-test-support.ts';

const DAY = 24 * 3600_000;
const scope = engineTestScope();
const start = (o: TestDaemonOptions = {}): Promise<TestDaemon> => scope.start({ timing: { outbox: { ...DEFAULT_OUTBOX_POLICY, tickMs: 10, maxAgeMs: 365 * DAY } }, ...o });

async function trio(gate: RelayGate): Promise<{ a: TestDaemon; b: TestDaemon; c: TestDaemon; g: GroupInfo }> {
  const a = await start();
  const b = await start({ wrapRelay: (t) => gate.wrap(t) });
  const c = await start();
  const g = await a.daemon.backend.createGroup('ops', [b.userId, c.userId]);
  await Promise.all([atVersion(b, g.groupId, 1), atVersion(c, g.groupId, 1)]);
  return { a, b, c, g };
}

/** After the removal: b's later message reaches a alone; its copies for a, injected into c, read nothing. */
async function afterRemovalNeverReachesC(a: TestDaemon, b: TestDaemon, c: TestDaemon, g: GroupInfo): Promise<void> {
  const mark = scope.net.hub.published.length;
  await b.daemon.backend.send({ groupId: g.groupId, body: text('after') });
  await waitTexts(a, g.groupId, ['after'], 'a gets b\'s message sent after the removal');
  await scope.net.hub.idle();
  expect(envelopesTo(scope.net, c.userId, mark).filter(isCopy)).toEqual([]);
  await inject(scope.net, c.userId, [...copiesTo(scope.net, a.userId, mark), ...envelopesTo(scope.net, a.userId, mark)]);
  await scope.net.hub.idle();
  expect(groupTexts(c, g.groupId)).not.toContain('after');
  expect(c.log.texts()).not.toContain('after');
}

describe('a removal racing a send', () => {
  it('sent before the sender applied the removal and arriving before the removed member applies it: read; sent after: never', async () => {
    const gate = relayGate();
    const { a, b, c, g } = await trio(gate);
    await b.daemon.backend.send({ groupId: g.groupId, body: text('warm-up') });
    await waitTexts(c, g.groupId, ['warm-up'], 'c has b\'s key');
    await scope.net.hub.idle();
    // c is offline through the race: its queue keeps what is published to it, in publish order
    scope.net.hub.disconnect(c.userId);
    await b.daemon.backend.send({ groupId: g.groupId, body: text('before') }); // b still at version 1
    await a.daemon.backend.removeMembers(g.groupId, [c.userId]);
    await atVersion(b, g.groupId, 2);
    await waitTexts(a, g.groupId, ['before'], 'a gets it');
    scope.net.hub.reconnect(c.userId);
    await removedFrom(c, g.groupId);
    await scope.net.hub.idle();
    expect(groupTexts(c, g.groupId)).toEqual(['warm-up', 'before']);
    await afterRemovalNeverReachesC(a, b, c, g);
    expect(groupTexts(a, g.groupId)).toEqual(['warm-up', 'before', 'after']);
  });

  it.each(['a copy', 'a pairwise bundle'] as const)(
    'sent before the sender applied the removal, still in flight (%s) while the owner removes: dropped unread, never re-sent; sent after: never',
    async (how) => {
      const gate = relayGate();
      const { a, b, c, g } = await trio(gate);
      if (how === 'a copy') {
        await b.daemon.backend.send({ groupId: g.groupId, body: text('warm-up') });
        await waitTexts(c, g.groupId, ['warm-up'], 'c has b\'s key');
        await scope.net.hub.idle();
      }
      // everything b publishes to c is held in flight (the copy, or the pairwise message bundling b's key)
      gate.decide = (to) => (to === c.userId ? 'hold' : 'pass');
      await b.daemon.backend.send({ groupId: g.groupId, body: text('in flight') });
      await until(() => gate.held.length > 0, 'b\'s envelope to c is in flight');
      expect(gate.held.some((h) => isCopy(h.envelope))).toBe(how === 'a copy');
      await a.daemon.backend.removeMembers(g.groupId, [c.userId]);
      await removedFrom(c, g.groupId);
      await atVersion(b, g.groupId, 2);
      await waitTexts(a, g.groupId, ['in flight'], 'a gets it');
      gate.decide = () => 'pass';
      await gate.release();
      await scope.net.hub.idle();
      expect(groupTexts(c, g.groupId)).not.toContain('in flight');
      // b settled c at the removal: once a receipted, b's group outbox is empty, nothing is left to re-send
      await until(() => b.daemon.metrics()!.groupOutboxMessages === 0, 'b\'s group outbox empties');
      expect(c.log.texts()).not.toContain('in flight');
      await afterRemovalNeverReachesC(a, b, c, g);
      expect(groupTexts(a, g.groupId).filter((t) => t !== 'warm-up')).toEqual(['in flight', 'after']);
    },
  );
});
