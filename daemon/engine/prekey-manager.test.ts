import { beforeAll, describe, expect, it } from 'vitest';
import { createSodiumCrypto } from '../../crypto/sodium.ts';
import type { Crypto } from '../../core/crypto.ts';
import { createIdentity, createPrekeyState, decodePrekeyState, encodePrekeyState, oneTimePrekeyCount } from '../../core/index.ts';
import { ONE_TIME_PREKEYS_LOW_WATER, ONE_TIME_PREKEYS_TARGET } from '../../core/limits.ts';
import { consumeOneTimePrekey } from '../../core/prekeys.ts';
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
