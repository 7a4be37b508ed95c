/**
 * Held group items: an unauthenticated copy (its tag unknown) is kept in memory only, within its own
 * bounds; an item from a known sender is written in the transaction.
 */
import pino from 'pino';
import { describe, expect, it } from 'vitest';
import type { UserId } from '../../../core/user-id.ts';
import type { Store } from '../../store/store.ts';
import { Transaction } from '../transaction.ts';
import { GroupHeld, MAX_UNAUTHENTICATED_HELD_BYTES, MAX_UNAUTHENTICATED_HELD_ITEMS } from './group-held.ts';

const silent = pino({ level: 'silent' });
const unusedStore = {} as Store;

describe('held group items', () => {
  it('unauthenticated copies: never written, at most MAX_UNAUTHENTICATED_HELD_ITEMS, oldest evicted', () => {
    const held = new GroupHeld(unusedStore, silent);
    const tx = new Transaction();
    for (let i = 0; i < MAX_UNAUTHENTICATED_HELD_ITEMS + 5; i++) held.add(tx, null, new Uint8Array([i & 0xff, i >> 8]), 1_000 + i);
    expect(tx.ops).toEqual([]);
    expect(held.size).toBe(MAX_UNAUTHENTICATED_HELD_ITEMS);
    expect(held.evicted).toBe(5);
    const current = held.current(tx, 2_000);
    expect(current[0]!.receivedAt).toBe(1_005);
  });

  it('unauthenticated copies: at most MAX_UNAUTHENTICATED_HELD_BYTES in all', () => {
    const held = new GroupHeld(unusedStore, silent);
    const tx = new Transaction();
    const size = 1024 * 1024;
    for (let i = 0; i < 20; i++) held.add(tx, null, new Uint8Array(size), i);
    expect(held.size).toBe(MAX_UNAUTHENTICATED_HELD_BYTES / size);
    expect(tx.ops).toEqual([]);
  });

  it('an item from a known sender is written, and its removal deleted', () => {
    const held = new GroupHeld(unusedStore, silent);
    const tx = new Transaction();
    held.add(tx, 'a'.repeat(32) as UserId, new Uint8Array([1]), 1);
    expect(tx.ops.map((o) => `${o.type} ${o.kind}`)).toEqual(['put groupHeld']);
    held.remove(tx, held.current(tx, 1)[0]!);
    expect(tx.ops.map((o) => `${o.type} ${o.kind}`)).toEqual(['put groupHeld', 'del groupHeld']);
  });
});
