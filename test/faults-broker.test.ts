/**
 * Broker crash found by the kill -9 fault run (test/faults/): after a restart, the broker process
 * died with an unhandled rejection "no such packet" from aedes-persistence-level's outgoingUpdate.
 * The ordering wrappers start each persistence operation at once but attach their handler to it only
 * after the previous operation settled; an operation that rejects while an earlier one is still
 * running is unhandled for that long, and Node 20 ends the process on an unhandled rejection.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { orderEnqueueCompletion, type OrderedPacket } from '../broker/ordered-enqueue.ts';
import { orderUpdateCompletion } from '../broker/ordered-update.ts';

let unhandled: unknown[] = [];
const record = (reason: unknown): void => {
  unhandled.push(reason);
};
beforeEach(() => {
  unhandled = [];
  process.on('unhandledRejection', record);
});
afterEach(() => {
  process.off('unhandledRejection', record);
});

/** A macrotask later: Node has reported unhandled rejections by then. */
const afterUnhandledCheck = () => new Promise((r) => setTimeout(r, 20));

describe('ordering wrappers never leave a failed persistence operation unhandled', () => {
  it('orderUpdateCompletion: an update failing while an earlier one of the same client is pending', async () => {
    let releaseFirst!: () => void;
    const persistence = {
      outgoingUpdate(_client: { id: string }, packet: unknown): Promise<unknown> {
        if (packet === 1) return new Promise<void>((resolve) => (releaseFirst = resolve));
        return Promise.reject(new Error('no such packet'));
      },
    };
    orderUpdateCompletion(persistence);
    const first = persistence.outgoingUpdate({ id: 'bob' }, 1);
    const second = persistence.outgoingUpdate({ id: 'bob' }, 2).then(
      () => 'ok',
      (e: Error) => e.message,
    );
    await afterUnhandledCheck();
    releaseFirst();
    await first;
    expect(await second).toBe('no such packet');
    expect(unhandled).toEqual([]);
  });

  it('orderEnqueueCompletion: an enqueue failing while an earlier publish is still being enqueued', async () => {
    let releaseFirst!: () => void;
    const broker = {
      counter: 0,
      publish(packet: OrderedPacket, _client: unknown, done?: (err?: Error | null) => void): void {
        broker.counter += 1;
        void persistence.outgoingEnqueueCombi([{}], { ...packet, brokerCounter: broker.counter }).then(
          () => done?.(null),
          (e: Error) => done?.(e),
        );
      },
    };
    const persistence = {
      outgoingEnqueueCombi(_subs: unknown[], packet: OrderedPacket): Promise<unknown> {
        if (packet.brokerCounter === 1) return new Promise<void>((resolve) => (releaseFirst = resolve));
        return Promise.reject(new Error('write failed'));
      },
    };
    orderEnqueueCompletion(broker, persistence);
    const outcomes: string[] = [];
    broker.publish({ qos: 1 }, null, (err) => outcomes.push(err ? err.message : 'ok'));
    broker.publish({ qos: 1 }, null, (err) => outcomes.push(err ? err.message : 'ok'));
    await afterUnhandledCheck();
    releaseFirst();
    await afterUnhandledCheck();
    expect(outcomes).toEqual(['ok', 'write failed']);
    expect(unhandled).toEqual([]);
  });
});
