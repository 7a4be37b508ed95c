/**
 * Receipts to a peer that keeps sending leave at most once per receiptIntervalMs, each covering
 * everything before it: a stream costs both sides a receipt (a transaction, usually a DH step each)
 * per interval, not per receiptDelayMs, and every message is still reported delivered.
 */
import { describe, expect, it } from 'vitest';
import { text } from './test-support.ts';
import { engineTestScope } from './test-scope.ts';

const scope = engineTestScope();

describe('receipt pacing', () => {
  it('a stream gets at most one receipt per interval (plus the first, answered at once), and every message is delivered', async () => {
    const INTERVAL = 250;
    const MESSAGES = 200;
    const alice = await scope.start();
    const bob = await scope.start({ timing: { receiptDelayMs: 1, receiptIntervalMs: INTERVAL } });
    const receiptsToAlice = (): number => scope.net.hub.published.filter((p) => p.to === alice.userId).length;
    const t0 = performance.now();
    const ids: string[] = [];
    for (let i = 0; i < MESSAGES; i++) {
      ids.push((await alice.daemon.backend.send({ to: bob.userId, body: text(`m${i}`) })).messageId);
      // one at a time through bob, so that without pacing each would get its own receipt 1 ms later
      await bob.log.until((l) => l.messages().length === i + 1, `bob receives m${i}`);
    }
    await alice.log.until((l) => ids.every((id) => l.events.some((e) => e.kind === 'delivery' && e.messageId === id && e.state === 'delivered')), 'every message delivered');
    const elapsed = performance.now() - t0;
    expect(bob.log.texts()).toEqual(ids.map((_, i) => `m${i}`));
    // The first message (from a silent peer) is answered in its own transaction; then one receipt
    // per interval at most. Without pacing (receipts coalesced over receiptDelayMs only) this stream
    // gets about one receipt per 30 ms on a quiet machine.
    expect(receiptsToAlice()).toBeLessThanOrEqual(2 + Math.ceil(elapsed / INTERVAL));
  });
});
