import { beforeAll, describe, expect, it } from 'vitest';
import { createSodiumCrypto } from '../../crypto/sodium.ts';
import type { Crypto } from '../../core/crypto.ts';
import { createIdentity, createPrekeyState, decodePrekeyState, encodePrekeyState, oneTimePrekeyCount } from '../../core/index.ts';
import {
  ONE_TIME_PREKEYS_LOW_WATER,
  ONE_TIME_PREKEYS_TARGET,
  PQ_ONE_TIME_PREKEYS_LOW_WATER,
  PQ_ONE_TIME_PREKEYS_TARGET,
  SIGNED_PREKEY_GRACE_MS,
  SIGNED_PREKEY_ROTATE_MS,
} from '../../core/limits.ts';
import { consumeOneTimePrekey, consumePqPrekey, requirePqPrekey } from '../../core/prekeys.ts';
import { verifyBundle } from '../../core/bundle.ts';
import type { RelayTransport } from '../relay/transport.ts';
import { openMemoryStore } from '../store/open-store.ts';
import { StoreError, type Store } from '../store/store.ts';
import { KeyedLock } from './keyed-lock.ts';
import { PrekeyManager } from './prekey-manager.ts';
import { silentLogger } from './test-support.ts';

let crypto: Crypto;
beforeAll(async () => {
  crypto = await createSodiumCrypto();
});

/** Offline: publishIfNeeded does nothing, so maintain() is only the store write. */
const offline = { connected: false } as unknown as RelayTransport;
const T0 = 1_700_000_000_000;

describe('prekey maintenance', () => {
  it('a maintenance write that fails leaves memory as it is on disk; the next run applies it', async () => {
    const inner = await openMemoryStore(crypto, crypto.randomBytes(32));
    let failBatches = false;
    const store: Store = { ...inner, schemaVersion: inner.schemaVersion, batch: (ops) => (failBatches ? Promise.reject(new StoreError('disk full')) : inner.batch(ops)) };
    // few one-time prekeys left: maintenance refills them
    let state = createPrekeyState(crypto, T0);
    for (const k of state.oneTimePrekeys.slice(ONE_TIME_PREKEYS_LOW_WATER - 1)) state = consumeOneTimePrekey(state, k.id);
    const low = oneTimePrekeyCount(state);
    await store.put('prekeys', 'self', encodePrekeyState(state));
    const timing = { bundleRepublishMs: 3600_000, bundleDebounceMs: 1000 };
    const manager = new PrekeyManager(crypto, store, offline, createIdentity(crypto), new KeyedLock(), silentLogger, () => T0, timing);
    await manager.load();
    expect(manager.oneTimePrekeys).toBe(low);

    failBatches = true;
    await expect(manager.maintain()).rejects.toThrow('disk full');
    expect(manager.oneTimePrekeys).toBe(low); // not ahead of the disk
    expect(oneTimePrekeyCount(decodePrekeyState((await store.get('prekeys', 'self'))!))).toBe(low);

    failBatches = false;
    await manager.maintain();
    expect(manager.oneTimePrekeys).toBe(ONE_TIME_PREKEYS_TARGET);
    expect(oneTimePrekeyCount(decodePrekeyState((await store.get('prekeys', 'self'))!))).toBe(ONE_TIME_PREKEYS_TARGET);
  });
});

describe('PQ prekeys (ML-KEM-768)', () => {
  const timing = { bundleRepublishMs: 3600_000, bundleDebounceMs: 1000 };

  it('a prekey record of the previous version (no PQ prekeys) is migrated by maintenance: record v2 stored, the next bundle is format 2', async () => {
    const store = await openMemoryStore(crypto, crypto.randomBytes(32));
    const identity = createIdentity(crypto);
    const legacy = { ...createPrekeyState(crypto, T0), pqLastResortPrekeys: [], pqOneTimePrekeys: [], nextPqPrekeyId: 1, pqSinceBundleVersion: 0 };
    const v1 = encodePrekeyState(legacy);
    v1[0] = 1; // the same fields in the version-1 layout end before the PQ section
    const classicOnly = v1.subarray(0, v1.length - (4 + 4 + 1 + 2));
    expect(decodePrekeyState(classicOnly).pqLastResortPrekeys).toEqual([]);
    await store.put('prekeys', 'self', classicOnly);
    const published: Uint8Array[] = [];
    const relay = { connected: true, publishBundle: async (b: Uint8Array) => void published.push(b) } as unknown as RelayTransport;
    const manager = new PrekeyManager(crypto, store, relay, identity, new KeyedLock(), silentLogger, () => T0 + 1, timing);
    await manager.load();
    expect(manager.pqOneTimePrekeys).toBe(0);
    await manager.maintain();
    const stored = (await store.get('prekeys', 'self'))!;
    expect(stored[0]).toBe(2);
    const state = decodePrekeyState(stored);
    expect(state.pqLastResortPrekeys).toHaveLength(1);
    expect(state.pqOneTimePrekeys).toHaveLength(PQ_ONE_TIME_PREKEYS_TARGET);
    expect(state.pqSinceBundleVersion).toBe(state.bundleVersion); // the bundle just built is the first PQ one
    expect(manager.pqOneTimePrekeys).toBe(PQ_ONE_TIME_PREKEYS_TARGET);
    expect(published).toHaveLength(1);
    const bundle = verifyBundle(crypto, published[0]!, identity.userId, T0 + 1);
    expect(bundle.pq?.oneTime).toHaveLength(PQ_ONE_TIME_PREKEYS_TARGET);
    expect(bundle.pq?.lastResort.id).toBe(state.pqLastResortPrekeys[0]!.id);
  });

  it('one-time PQ prekeys are refilled below the low-water mark; the last-resort one rotates with the signed prekey and is deleted after the grace', async () => {
    const store = await openMemoryStore(crypto, crypto.randomBytes(32));
    let state = createPrekeyState(crypto, T0);
    for (const k of state.pqOneTimePrekeys.slice(PQ_ONE_TIME_PREKEYS_LOW_WATER - 1)) state = consumePqPrekey(state, k.id);
    await store.put('prekeys', 'self', encodePrekeyState(state));
    let now = T0;
    const manager = new PrekeyManager(crypto, store, offline, createIdentity(crypto), new KeyedLock(), silentLogger, () => now, timing);
    await manager.load();
    expect(manager.pqOneTimePrekeys).toBe(PQ_ONE_TIME_PREKEYS_LOW_WATER - 1);
    await manager.maintain();
    expect(manager.pqOneTimePrekeys).toBe(PQ_ONE_TIME_PREKEYS_TARGET);
    const firstLastResort = decodePrekeyState((await store.get('prekeys', 'self'))!).pqLastResortPrekeys[0]!.id;
    now = T0 + SIGNED_PREKEY_ROTATE_MS;
    await manager.maintain();
    let s = decodePrekeyState((await store.get('prekeys', 'self'))!);
    expect(s.pqLastResortPrekeys.map((k) => [k.id, k.retiredAt === null])).toEqual([
      [firstLastResort, false],
      [s.pqLastResortPrekeys[1]!.id, true],
    ]);
    expect(requirePqPrekey(s, firstLastResort).oneTime).toBe(false); // still accepted in its grace period
    now += SIGNED_PREKEY_GRACE_MS;
    await manager.maintain();
    s = decodePrekeyState((await store.get('prekeys', 'self'))!);
    expect(s.pqLastResortPrekeys.map((k) => k.id)).not.toContain(firstLastResort);
    expect(() => requirePqPrekey(s, firstLastResort)).toThrow('PQ prekey already used or unknown');
  });
});
