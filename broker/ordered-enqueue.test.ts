import { describe, expect, it } from 'vitest';
import { orderEnqueueCompletion } from './ordered-enqueue.ts';
import type { OrderedPacket } from './ordered-enqueue.ts';

/** A fake Aedes publish path: counter assigned at entry, enqueue after an (optional) retained store. */
function fakeBroker() {
  const resolvers = new Map<number, () => void>();
  const emitted: number[] = [];
  const persistence = {
    outgoingEnqueueCombi(_subs: unknown[], packet: OrderedPacket): Promise<unknown> {
      return new Promise<void>((resolve) => resolvers.set(packet.brokerCounter as number, resolve));
    },
  };
  const broker = {
    counter: 0,
    publish(packet: OrderedPacket & { retain?: boolean }, _client: unknown, done?: (err?: Error | null) => void): void {
      const p = { ...packet, brokerCounter: packet.brokerCounter || ++broker.counter };
      const afterStore = packet.retain ? new Promise((r) => setTimeout(r, 5)) : Promise.resolve();
      void afterStore
        .then(() => persistence.outgoingEnqueueCombi([], p))
        .then(() => {
          emitted.push(p.brokerCounter);
          done?.(null);
        });
    },
  };
  return { broker, persistence, resolvers, emitted };
}

const tick = () => new Promise((r) => setTimeout(r, 0));

describe('orderEnqueueCompletion (aedes#955)', () => {
  it('without it, enqueues that complete out of order are emitted out of order', async () => {
    const f = fakeBroker();
    for (let i = 0; i < 3; i++) f.broker.publish({ qos: 1 }, null);
    await tick();
    f.resolvers.get(3)?.();
    f.resolvers.get(1)?.();
    f.resolvers.get(2)?.();
    await tick();
    expect(f.emitted).toEqual([3, 1, 2]);
  });

  it('emits in publish order whatever order the writes complete in', async () => {
    const f = fakeBroker();
    const stats = orderEnqueueCompletion(f.broker, f.persistence);
    for (let i = 0; i < 5; i++) f.broker.publish({ qos: 1 }, null);
    await tick();
    for (const n of [5, 3, 1, 4, 2]) f.resolvers.get(n)?.();
    await tick();
    expect(f.emitted).toEqual([1, 2, 3, 4, 5]);
    expect(stats.pending()).toBe(0);
  });

  it('keeps a retained packet (stored before it is enqueued) ahead of later packets', async () => {
    const f = fakeBroker();
    orderEnqueueCompletion(f.broker, f.persistence);
    f.broker.publish({ qos: 1, retain: true } as OrderedPacket, null); // counter 1, enqueued ~5 ms later
    f.broker.publish({ qos: 1 }, null); // counter 2, enqueued at once
    await tick();
    f.resolvers.get(2)?.();
    await new Promise((r) => setTimeout(r, 20));
    expect(f.emitted).toEqual([]); // 2 waits for 1
    f.resolvers.get(1)?.();
    await tick();
    expect(f.emitted).toEqual([1, 2]);
  });

  it('does not reserve a place for QoS 0, and releases the place of a publish that fails before enqueueing', async () => {
    const f = fakeBroker();
    const inner = f.broker.publish;
    // the path Aedes takes when storing a retained copy fails: done(err), never enqueued
    f.broker.publish = (packet, client, done) => {
      if ((packet as { fail?: boolean }).fail) {
        ++f.broker.counter;
        return done?.(new Error('store failed'));
      }
      return inner(packet, client, done);
    };
    const stats = orderEnqueueCompletion(f.broker, f.persistence);
    const errors: Array<Error | null | undefined> = [];
    f.broker.publish({ qos: 0 }, null, () => undefined);
    f.broker.publish({ qos: 1, fail: true } as OrderedPacket, null, (err) => errors.push(err));
    f.broker.publish({ qos: 1 }, null);
    await tick();
    f.resolvers.get(3)?.();
    await tick();
    expect(errors.map((e) => e?.message)).toEqual(['store failed']);
    expect(f.emitted).toEqual([3]); // the failed publish (2) does not hold up the next one (3)
    f.resolvers.get(1)?.();
    await tick();
    expect(f.emitted).toEqual([3, 1]); // QoS 0 is not ordered (and never enqueues in Aedes)
    expect(stats.pending()).toBe(0);
  });
});
