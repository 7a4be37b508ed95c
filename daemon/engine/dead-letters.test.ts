/**
 * Dead-letter marks (dead-letters.ts): durable across restarts, counted in the status, cleared by
 * a re-drive or by the message's ack (in the ack's own batch), never kept for a message that is no
 * longer unacked.
 */
import { describe, expect, it } from 'vitest';
import { engineTestScope } from './test-scope.ts';
import { counterKey } from '../store/kinds.ts';
import { openStoppedStore, text, type TestDaemon } from './test-support.ts';
import type { InboundMessage } from './types.ts';

const scope = engineTestScope();

async function received(alice: TestDaemon, bob: TestDaemon, texts: string[]): Promise<InboundMessage[]> {
  for (const t of texts) await alice.daemon.backend.send({ to: bob.userId, body: text(t) });
  await bob.log.until((l) => l.messages().length >= texts.length, 'messages');
  return bob.log.messages();
}

const info = { attempts: 21, lastError: 'HTTP 503', firstAttemptAt: 1_000 };

describe('dead letters', () => {
  it('are durable, counted, listed oldest first and cleared by a re-drive', async () => {
    const alice = await scope.start();
    let bob = await scope.start();
    const [m1, m2, m3] = await received(alice, bob, ['one', 'two', 'three']);
    await bob.daemon.backend.addDeadLetter(m3!, info);
    await bob.daemon.backend.addDeadLetter(m1!, info);
    bob = await scope.restart(bob);
    expect(await bob.daemon.backend.getStatus()).toMatchObject({ deadLetters: 2, inboxDepth: 3 });
    const { deadLetters, total } = await bob.daemon.backend.listDeadLetters(10);
    expect(total).toBe(2);
    expect(deadLetters.map((d) => [d.messageId, d.from, d.cursor, d.attempts, d.lastError, d.firstAttemptAt])).toEqual([
      [m1!.messageId, alice.userId, m1!.cursor, 21, 'HTTP 503', 1_000],
      [m3!.messageId, alice.userId, m3!.cursor, 21, 'HTTP 503', 1_000],
    ]);
    expect((await bob.daemon.backend.listDeadLetters(1)).deadLetters.map((d) => d.messageId)).toEqual([m1!.messageId]);
    expect(await bob.daemon.backend.redriveDeadLetters([m2!.messageId, 'nope'])).toEqual([]); // not dead letters
    expect(await bob.daemon.backend.redriveDeadLetters([m3!.messageId])).toEqual([m3!.messageId]);
    bob = await scope.restart(bob);
    expect((await bob.daemon.backend.listDeadLetters(10)).deadLetters.map((d) => d.messageId)).toEqual([m1!.messageId]);
    expect(await bob.daemon.backend.redriveDeadLetters([])).toEqual([m1!.messageId]);
    expect((await bob.daemon.backend.getStatus()).deadLetters).toBe(0);
    expect((await bob.daemon.backend.getStatus()).inboxDepth).toBe(3); // a re-drive acks nothing
  });

  it('an ack deletes the mark with the message, in the same batch', async () => {
    const alice = await scope.start();
    let bob = await scope.start();
    const [m1] = await received(alice, bob, ['one']);
    await bob.daemon.backend.addDeadLetter(m1!, info);
    await bob.daemon.backend.ack([m1!.messageId]);
    expect((await bob.daemon.backend.getStatus()).deadLetters).toBe(0);
    bob.unsubscribe();
    await bob.daemon.close();
    const store = await openStoppedStore(scope.net, bob);
    expect(await store.get('deadLetter', counterKey(m1!.cursor))).toBeUndefined();
    expect(await store.get('inbox', counterKey(m1!.cursor))).toBeUndefined();
    await store.close();
    bob = await scope.restart(bob);
    expect((await bob.daemon.backend.listDeadLetters(10)).total).toBe(0);
  });

  it('a message no longer unacked gets no mark, and a mark whose message is gone is dropped at start', async () => {
    const alice = await scope.start();
    let bob = await scope.start();
    const [m1, m2] = await received(alice, bob, ['one', 'two']);
    await bob.daemon.backend.ack([m1!.messageId]);
    await bob.daemon.backend.addDeadLetter(m1!, info);
    expect((await bob.daemon.backend.getStatus()).deadLetters).toBe(0);
    await bob.daemon.backend.addDeadLetter(m2!, info);
    // m2's inbox record disappears while the daemon is down (as if acked by an older version)
    bob.unsubscribe();
    await bob.daemon.close();
    const store = await openStoppedStore(scope.net, bob);
    await store.del('inbox', counterKey(m2!.cursor));
    await store.close();
    bob = await scope.restart(bob);
    expect(await bob.daemon.backend.getStatus()).toMatchObject({ deadLetters: 0, inboxDepth: 0 });
    await scope.stop(bob);
    const after = await openStoppedStore(scope.net, bob);
    expect(await after.get('deadLetter', counterKey(m2!.cursor))).toBeUndefined();
    await after.close();
  });
});
