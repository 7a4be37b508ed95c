import { describe, expect, it } from 'vitest';
import type { InboundMessage } from '../../daemon/api/backend.ts';
import type { UserId } from '../../core/user-id.ts';
import { createBackoff } from './backoff.ts';
import { Dispatcher, MAX_QUEUED, MAX_UNCLAIMED, type DispatcherConfig, type RouteOutcome } from './dispatcher.ts';

function message(n: number): InboundMessage {
  return { messageId: `m${n}`, from: 'peer' as UserId, body: new Uint8Array([n & 255]), contentType: 'text/plain', sentAt: n, receivedAt: n, cursor: n };
}

const tick = (): Promise<void> => new Promise((r) => setImmediate(r));

interface Harness {
  dispatcher: Dispatcher;
  acked: string[];
  ackCalls: string[][];
  errors: { id: string; attempt: number }[];
  config: DispatcherConfig;
}

function harness(route: (m: InboundMessage) => Promise<RouteOutcome>, overrides: Partial<DispatcherConfig> = {}): Harness {
  const acked: string[] = [];
  const ackCalls: string[][] = [];
  const errors: { id: string; attempt: number }[] = [];
  const config: DispatcherConfig = {
    route,
    ack: async (ids) => {
      ackCalls.push([...ids]);
    },
    concurrency: 1,
    retry: createBackoff({ initialDelayMs: 1, maxDelayMs: 2 }, { initialDelayMs: 1, maxDelayMs: 2 }),
    onHandlerError: (info) => errors.push({ id: info.message.messageId, attempt: info.attempt }),
    onAcked: (id) => acked.push(id),
    onAckFailed: () => undefined,
    ...overrides,
  };
  return { dispatcher: new Dispatcher(config), acked, ackCalls, errors, config };
}

async function until(check: () => boolean): Promise<void> {
  while (!check()) await new Promise((r) => setTimeout(r, 1));
}

describe('Dispatcher', () => {
  it('acks after the route resolved, once per message, ignoring re-offers of known and acked ids', async () => {
    const h = harness(async () => 'consumed');
    h.dispatcher.offer(message(1));
    h.dispatcher.offer(message(1));
    await until(() => h.acked.length === 1);
    h.dispatcher.offer(message(1));
    await tick();
    expect(h.ackCalls).toEqual([['m1']]);
  });

  it('retries a failing route with backoff until it succeeds', async () => {
    let calls = 0;
    const h = harness(async () => {
      calls++;
      if (calls < 3) throw new Error('boom');
      return 'consumed';
    });
    h.dispatcher.offer(message(7));
    await until(() => h.acked.length === 1);
    expect(h.errors).toEqual([
      { id: 'm7', attempt: 1 },
      { id: 'm7', attempt: 2 },
    ]);
    expect(h.ackCalls).toEqual([['m7']]);
  });

  it('keeps a failed ack pending and sends it with flushAcks; the message is not handled again meanwhile', async () => {
    let failAcks = true;
    let routes = 0;
    const flushed: string[][] = [];
    const h = harness(
      async () => {
        routes++;
        return 'consumed';
      },
      {
        ack: async (ids) => {
          if (failAcks) throw new Error('daemon gone');
          flushed.push([...ids]);
        },
      },
    );
    h.dispatcher.offer(message(1));
    await until(() => h.dispatcher.backlog().unconfirmedAcks === 1);
    h.dispatcher.offer(message(1)); // the replay after reconnecting
    await tick();
    expect(routes).toBe(1);
    failAcks = false;
    await h.dispatcher.flushAcks();
    expect(flushed).toEqual([['m1']]);
    expect(h.acked).toEqual(['m1']);
    expect(h.dispatcher.backlog().unconfirmedAcks).toBe(0);
  });

  it('keeps unclaimed messages (at most MAX_UNCLAIMED, newest kept) for takeUnclaimed', async () => {
    const h = harness(async () => 'unclaimed');
    for (let i = 0; i < MAX_UNCLAIMED + 5; i++) h.dispatcher.offer(message(i));
    await until(() => h.dispatcher.backlog().unclaimed === MAX_UNCLAIMED && h.dispatcher.backlog().queued === 0 && h.dispatcher.backlog().running === 0);
    expect(h.dispatcher.takeUnclaimed((m) => m.messageId === 'm0')).toBeUndefined();
    expect(h.dispatcher.takeUnclaimed((m) => m.messageId === 'm5')?.messageId).toBe('m5');
    expect(h.ackCalls).toEqual([]);
    h.dispatcher.offer(message(0)); // dropped from memory, so a replay may offer it again
    await until(() => h.dispatcher.backlog().unclaimed === MAX_UNCLAIMED);
  });

  it('room() waits while MAX_QUEUED messages wait for a handler and resolves as they drain', async () => {
    let release: () => void = () => undefined;
    const gate = new Promise<void>((r) => (release = r));
    const h = harness(async () => {
      await gate;
      return 'consumed';
    });
    for (let i = 0; i <= MAX_QUEUED; i++) h.dispatcher.offer(message(i));
    expect(h.dispatcher.backlog()).toMatchObject({ running: 1, queued: MAX_QUEUED });
    let roomy = false;
    const room = h.dispatcher.room().then(() => (roomy = true));
    await tick();
    expect(roomy).toBe(false);
    release();
    await room;
    expect(h.dispatcher.backlog().queued).toBeLessThan(MAX_QUEUED);
  });

  it('stop() forgets queued work, waits for the running handler and releases room() waiters', async () => {
    let release: () => void = () => undefined;
    const gate = new Promise<void>((r) => (release = r));
    const routed: string[] = [];
    const h = harness(async (m) => {
      routed.push(m.messageId);
      await gate;
      return 'consumed';
    });
    for (let i = 0; i <= MAX_QUEUED; i++) h.dispatcher.offer(message(i));
    const room = h.dispatcher.room();
    const stopped = h.dispatcher.stop(60_000);
    await room;
    release();
    expect(await stopped).toBe(true);
    expect(routed).toEqual(['m0']);
    expect(h.ackCalls).toEqual([['m0']]);
    h.dispatcher.offer(message(999));
    await tick();
    expect(routed).toEqual(['m0']);
  });

  it('stop() reports false when a handler outlives the timeout', async () => {
    const h = harness(() => new Promise<RouteOutcome>(() => undefined));
    h.dispatcher.offer(message(1));
    expect(await h.dispatcher.stop(5)).toBe(false);
    expect(h.ackCalls).toEqual([]);
  });
});
