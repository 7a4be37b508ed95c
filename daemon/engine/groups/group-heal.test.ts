/**
 * Rotation heals a copied member state (daemons on in-memory stores over the in-process relay).
 * A thief copies member c's data dir (its store: identity, pairwise sessions, the senders' keys) while
 * c stays a member. Until the senders rotate, a daemon started from the copy reads c's copies — the
 * post-compromise story is weaker than MLS's, and this test shows exactly how. Then c's pairwise
 * sessions with the senders heal (two round trips each: c's new ratchet keys are not in the copy), the
 * owner removes someone else (d), and each sender rotates before its next send, its new key reaching
 * c over the healed session. From then on the copy reads nothing new: not the pairwise bundles, not
 * the copies to c, not the copies to anyone else — all injected into its inbox.
 */
import { describe, expect, it } from 'vitest';
import { createMemoryBackend } from '../../store/memory-backend.ts';
import { restartTestDaemon, text, type TestDaemon, type TestDaemonOptions } from '../test-support.ts';
import { engineTestScope } from '../test-scope.ts';
import { atVersion, envelopesTo, groupTexts, inject, isCopy, removedFrom, until, waitTexts } from './group-test-support.ts';

const scope = engineTestScope();
const start = (o: TestDaemonOptions = {}): Promise<TestDaemon> => scope.start(o);

describe('rotation heals a copied member state', () => {
  it.each([
    ['a removal of someone else', 'removal'],
    ['RotateGroupKey on each sender (on demand)', 'demand'],
  ] as const)('a copy of a member\'s data dir reads until the senders rotate over healed sessions (%s), then nothing new, even injected', async (_name, how) => {
    const [a, b, c0, d] = [await start(), await start(), await start(), await start()];
    const g = await a.daemon.backend.createGroup('ops', [b.userId, c0.userId, d.userId]);
    await Promise.all([b, c0, d].map((x) => atVersion(x, g.groupId, 1)));
    await a.daemon.backend.send({ groupId: g.groupId, body: text('a0') });
    await b.daemon.backend.send({ groupId: g.groupId, body: text('b0') });
    await waitTexts(c0, g.groupId, ['a0', 'b0'], 'c has both senders\' keys');
    await scope.net.hub.idle();

    // the thief's copy of c's data dir
    await scope.stop(c0);
    const stolen = new Map([...c0.backend.data].map(([k, v]) => [k, v.slice()]));
    const c = scope.track(await restartTestDaemon(scope.net, c0, { subscribeAfter: 0 }));
    const mark = scope.net.hub.published.length;

    // before any rotation the copy still reads c's copies (checked below: the control)
    await b.daemon.backend.send({ groupId: g.groupId, body: text('before rotation') });
    await waitTexts(c, g.groupId, ['before rotation'], 'c reads it');

    // c's pairwise sessions with a and b heal: two round trips each, so that c makes a ratchet key
    // pair after the theft and the sender's replies are encrypted to it (the Double Ratchet's healing)
    for (const x of [a, b]) {
      for (const round of [1, 2]) {
        await c.daemon.backend.send({ to: x.userId, body: text(`ping ${round}`) });
        await x.log.until((l) => l.texts(c.userId).includes(`ping ${round}`), 'the ping arrives');
        await x.daemon.backend.send({ to: c.userId, body: text(`pong ${round}`) });
        await c.log.until((l) => l.texts(x.userId).includes(`pong ${round}`), 'the pong arrives');
      }
    }
    await scope.net.hub.idle();

    // the owner removes d (a and b rotate before their next send), or a and b rotate on demand; the
    // new keys reach c pairwise
    const rotation = scope.net.hub.published.length;
    if (how === 'removal') {
      await a.daemon.backend.removeMembers(g.groupId, [d.userId]);
      await Promise.all([atVersion(b, g.groupId, 2), atVersion(c, g.groupId, 2), removedFrom(d, g.groupId)]);
    } else {
      const keys = [await a.daemon.backend.rotateGroupKey(g.groupId), await b.daemon.backend.rotateGroupKey(g.groupId)];
      expect(keys.every((k) => Number.isInteger(k.keyId))).toBe(true);
    }
    const after = ['a after 1', 'a after 2', 'b after 1', 'b after 2'];
    for (const t of after) await (t.startsWith('a') ? a : b).daemon.backend.send({ groupId: g.groupId, body: text(t) });
    await waitTexts(c, g.groupId, after, 'c reads everything after the rotation');
    await scope.net.hub.idle();
    // the second message under each new key reached c as a copy (so the copies are part of what is injected)
    expect(envelopesTo(scope.net, c.userId, rotation).filter(isCopy).length).toBeGreaterThanOrEqual(2);
    await until(() => a.daemon.metrics()!.groupOutboxMessages === 0 && b.daemon.metrics()!.groupOutboxMessages === 0, 'every member receipted');
    await scope.stop(c);

    // a daemon started from the copy, with everything published to c since the theft and every
    // copy and pairwise message to the other members after the rotation injected into its inbox
    const thief = await start({ backend: createMemoryBackend(stolen), storeKey: c.storeKey });
    expect(thief.userId).toBe(c.userId);
    const toOthers = scope.net.hub.published.slice(rotation).filter((p) => p.to !== c.userId).map((p) => p.envelope);
    await inject(scope.net, thief.userId, [...envelopesTo(scope.net, c.userId, mark), ...toOthers]);
    await scope.net.hub.idle();
    const read = groupTexts(thief, g.groupId);
    expect(read).toContain('before rotation'); // the control: a copied state reads until the senders rotate
    for (const t of after) expect(read).not.toContain(t);
    for (const t of after) expect(thief.log.texts()).not.toContain(t);
    // the healed pairwise sessions: the copy reads nothing sent after the second round trip
    expect(thief.log.texts()).not.toContain('pong 2');
  });
});
