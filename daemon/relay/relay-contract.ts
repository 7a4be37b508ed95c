/**
 * The contract every RelayTransport passes (run against the in-process fake and mqtt.js on Aedes).
 */
import { randomBytes } from 'node:crypto';
import { afterEach, describe, expect, it } from 'vitest';
import { utf8 } from '../../core/bytes.ts';
import type { UserId } from '../../core/user-id.ts';
import type { RelayTransport } from './transport.ts';

export interface RelayHarness {
  transport(userId: UserId): RelayTransport;
  cleanup(): Promise<void>;
}

/** A fresh syntactically valid user id (32 chars of a-z2-7). */
export function testUserId(): UserId {
  const alphabet = 'abcdefghijklmnopqrstuvwxyz234567';
  return Array.from(randomBytes(32), (b) => alphabet[b & 31]).join('') as UserId;
}

function collector(t: RelayTransport, options: { failFirst?: number } = {}) {
  const got: string[] = [];
  let failures = options.failFirst ?? 0;
  const waiters: Array<{ n: number; resolve(): void }> = [];
  t.onEnvelope(async (bytes) => {
    if (failures > 0) {
      failures -= 1;
      throw new Error('simulated storage failure');
    }
    got.push(utf8.decode(bytes));
    for (const w of [...waiters]) if (got.length >= w.n) w.resolve();
  });
  return {
    got,
    waitFor: (n: number) =>
      got.length >= n ? Promise.resolve() : new Promise<void>((resolve) => waiters.push({ n, resolve })),
  };
}

export function describeRelayContract(name: string, factory: () => Promise<RelayHarness>): void {
  describe(`RelayTransport contract: ${name}`, () => {
    let h: RelayHarness | undefined;
    const open: RelayTransport[] = [];
    afterEach(async () => {
      for (const t of open.splice(0)) await t.close();
      await h?.cleanup();
      h = undefined;
    });
    const make = async (): Promise<RelayHarness> => (h = await factory());
    const start = async (harness: RelayHarness, id: UserId, setup?: (t: RelayTransport) => void) => {
      const t = harness.transport(id);
      open.push(t);
      setup?.(t);
      t.start();
      await t.whenConnected();
      return t;
    };

    it('delivers an envelope to the recipient handler, byte for byte', async () => {
      const harness = await make();
      const alice = testUserId();
      const bob = testUserId();
      let bobGot: ReturnType<typeof collector> | undefined;
      await start(harness, bob, (t) => (bobGot = collector(t)));
      const a = await start(harness, alice, (t) => collector(t));
      await a.publishEnvelope(bob, utf8.encode('hello bob'));
      await bobGot?.waitFor(1);
      expect(bobGot?.got).toEqual(['hello bob']);
    });

    it('queues for an offline recipient and delivers everything, in order, when it comes back', async () => {
      const harness = await make();
      const alice = testUserId();
      const bob = testUserId();
      const first = await start(harness, bob, (t) => collector(t));
      await first.close();
      const a = await start(harness, alice, (t) => collector(t));
      for (let i = 0; i < 20; i++) await a.publishEnvelope(bob, utf8.encode(`m${i}`));
      let again: ReturnType<typeof collector> | undefined;
      await start(harness, bob, (t) => (again = collector(t)));
      await again?.waitFor(20);
      expect(again?.got).toEqual(Array.from({ length: 20 }, (_, i) => `m${i}`));
    });

    it('redelivers an envelope whose handler failed (not acked before it is stored)', async () => {
      const harness = await make();
      const alice = testUserId();
      const bob = testUserId();
      let bobGot: ReturnType<typeof collector> | undefined;
      await start(harness, bob, (t) => (bobGot = collector(t, { failFirst: 2 })));
      const a = await start(harness, alice, (t) => collector(t));
      await a.publishEnvelope(bob, utf8.encode('x'));
      await a.publishEnvelope(bob, utf8.encode('y'));
      await bobGot?.waitFor(2);
      expect(bobGot?.got.slice(0, 1)).toEqual(['x']);
      expect(new Set(bobGot?.got)).toEqual(new Set(['x', 'y']));
    });

    it('serves the retained bundle to anyone, the newest one, and null for a user without one', async () => {
      const harness = await make();
      const alice = testUserId();
      const bob = testUserId();
      const b = await start(harness, bob, (t) => collector(t));
      await b.publishBundle(utf8.encode('bundle v1'));
      await b.publishBundle(utf8.encode('bundle v2'));
      const a = await start(harness, alice, (t) => collector(t));
      expect(utf8.decode((await a.fetchBundle(bob)) ?? new Uint8Array())).toBe('bundle v2');
      expect(utf8.decode((await b.fetchBundle(bob)) ?? new Uint8Array())).toBe('bundle v2');
      expect(await a.fetchBundle(testUserId())).toBeNull();
    });

    it('refuses to publish when not connected, and after close', async () => {
      const harness = await make();
      const t = harness.transport(testUserId());
      open.push(t);
      t.onEnvelope(async () => undefined);
      await expect(t.publishEnvelope(testUserId(), utf8.encode('x'))).rejects.toMatchObject({ code: 'BrokerUnavailable' });
      t.start();
      await t.whenConnected();
      expect(t.connected).toBe(true);
      await t.close();
      expect(t.connected).toBe(false);
      await expect(t.publishEnvelope(testUserId(), utf8.encode('x'))).rejects.toMatchObject({ code: 'BrokerUnavailable' });
      await expect(t.whenConnected()).rejects.toMatchObject({ code: 'BrokerUnavailable' });
    });
  });
}
