/**
 * The contract every Store implementation passes (one suite per interface, run against
 * every implementation). Call it from a *.test.ts with a factory.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { utf8 } from '../../core/bytes.ts';
import { counterKey } from './kinds.ts';
import { CorruptRecordError, type IteratedRecord, type Store } from './store.ts';

export interface StoreHarness {
  store: Store;
  /** Closes the store and opens it again on the same data. */
  reopen(): Promise<Store>;
  /** Flips one byte of the stored (encrypted) value of every physical record whose key starts with the prefix. */
  corruptAll(kindPrefix: string): Promise<void>;
  cleanup(): Promise<void>;
}

const text = (s: string): Uint8Array => utf8.encode(s);

async function collect(it: AsyncIterable<IteratedRecord>): Promise<IteratedRecord[]> {
  const out: IteratedRecord[] = [];
  for await (const r of it) out.push(r);
  return out;
}
const keysOf = (rs: IteratedRecord[]): string[] => rs.map((r) => (r.ok ? r.key : '!corrupt'));

export function describeStoreContract(name: string, factory: () => Promise<StoreHarness>): void {
  describe(`Store contract: ${name}`, () => {
    let h: StoreHarness | undefined;
    afterEach(async () => {
      await h?.cleanup();
      h = undefined;
    });
    const make = async (): Promise<StoreHarness> => (h = await factory());

    it('gets what was put, undefined for a missing key, nothing after del', async () => {
      const { store } = await make();
      expect(await store.get('peer', 'alice')).toBeUndefined();
      await store.put('peer', 'alice', text('A'));
      await store.put('contact', 'alice', text('C'));
      expect(await store.get('peer', 'alice')).toEqual(text('A'));
      expect(await store.get('contact', 'alice')).toEqual(text('C'));
      await store.del('peer', 'alice');
      expect(await store.get('peer', 'alice')).toBeUndefined();
      expect(await store.get('contact', 'alice')).toEqual(text('C'));
    });

    it('stores the empty value and large values byte for byte', async () => {
      const { store } = await make();
      const big = new Uint8Array(300_000).map((_, i) => (i * 7) & 0xff);
      await store.put('inbox', counterKey(1), new Uint8Array(0));
      await store.put('inbox', counterKey(2), big);
      expect(await store.get('inbox', counterKey(1))).toEqual(new Uint8Array(0));
      expect(await store.get('inbox', counterKey(2))).toEqual(big);
    });

    it('a batch applies every op, in order', async () => {
      const { store } = await make();
      await store.put('outbox', counterKey(1), text('old'));
      await store.batch([
        { type: 'put', kind: 'outbox', key: counterKey(2), value: text('two') },
        { type: 'del', kind: 'outbox', key: counterKey(1) },
        { type: 'put', kind: 'idempotency', key: 'k', value: text('m') },
        { type: 'put', kind: 'outbox', key: counterKey(2), value: text('two-b') },
      ]);
      expect(await store.get('outbox', counterKey(1))).toBeUndefined();
      expect(await store.get('outbox', counterKey(2))).toEqual(text('two-b'));
      expect(await store.get('idempotency', 'k')).toEqual(text('m'));
    });

    it('a batch that fails validation writes nothing', async () => {
      const { store } = await make();
      await expect(
        store.batch([
          { type: 'put', kind: 'outbox', key: counterKey(1), value: text('x') },
          { type: 'put', kind: 'nonsense' as 'outbox', key: 'y', value: text('y') },
        ]),
      ).rejects.toThrow();
      expect(await store.get('outbox', counterKey(1))).toBeUndefined();
    });

    it('concurrent batches are all applied in submission order; an invalid one fails alone', async () => {
      const { store } = await make();
      const calls: Promise<void>[] = [];
      for (let i = 0; i < 50; i++) {
        calls.push(
          store.batch([
            { type: 'put', kind: 'meta', key: 'last', value: text(String(i)) },
            { type: 'put', kind: 'outbox', key: counterKey(i), value: text(`o${i}`) },
          ]),
        );
        if (i === 25) calls.push(store.batch([{ type: 'put', kind: 'bogus' as 'meta', key: 'x', value: text('x') }]).catch(() => undefined));
      }
      await Promise.all(calls);
      expect(utf8.decode((await store.get('meta', 'last')) ?? new Uint8Array())).toBe('49');
      expect(keysOf(await collect(store.iterate('outbox')))).toEqual(Array.from({ length: 50 }, (_, i) => counterKey(i)));
    });

    it('writes of one key by concurrent batches end in the last one: put after del, del after put, on blinded and plain kinds', async () => {
      const { store } = await make();
      const calls: Promise<void>[] = [];
      for (let i = 0; i < 20; i++) {
        calls.push(store.put('peer', 'alice', text(`p${i}`)));
        calls.push(store.batch([{ type: 'put', kind: 'inbox', key: counterKey(1), value: text(`i${i}`) }, { type: 'del', kind: 'peer', key: 'bob' }]));
        calls.push(store.batch([{ type: 'put', kind: 'peer', key: 'bob', value: text(`b${i}`) }, { type: 'del', kind: 'inbox', key: counterKey(1) }]));
      }
      calls.push(store.del('peer', 'alice'));
      calls.push(store.put('inbox', counterKey(1), text('last')));
      await Promise.all(calls);
      expect(await store.get('peer', 'alice')).toBeUndefined();
      expect(utf8.decode((await store.get('peer', 'bob')) ?? new Uint8Array())).toBe('b19');
      expect(utf8.decode((await store.get('inbox', counterKey(1))) ?? new Uint8Array())).toBe('last');
    });

    it('close waits for batches already accepted', async () => {
      const h = await make();
      const writes = Array.from({ length: 30 }, (_, i) => h.store.put('outbox', counterKey(i), text(`o${i}`)));
      await h.store.close();
      await Promise.all(writes);
      const reopened = await h.reopen();
      expect(keysOf(await collect(reopened.iterate('outbox')))).toHaveLength(30);
    });

    it('iterates an ordered kind in key order, with prefix, after, limit and reverse, and not other kinds', async () => {
      const { store } = await make();
      for (const n of [10, 2, 33, 1, 200]) await store.put('inbox', counterKey(n), text(String(n)));
      await store.put('outbox', counterKey(5), text('o'));
      await store.put('meta', 'z', text('m'));
      const all = await collect(store.iterate('inbox'));
      expect(keysOf(all)).toEqual([1, 2, 10, 33, 200].map(counterKey));
      expect(all.map((r) => (r.ok ? utf8.decode(r.value) : ''))).toEqual(['1', '2', '10', '33', '200']);
      expect(keysOf(await collect(store.iterate('inbox', { after: counterKey(2) })))).toEqual([10, 33, 200].map(counterKey));
      expect(keysOf(await collect(store.iterate('inbox', { after: counterKey(2), limit: 2 })))).toEqual([10, 33].map(counterKey));
      expect(keysOf(await collect(store.iterate('inbox', { reverse: true, limit: 1 })))).toEqual([counterKey(200)]);
      expect(keysOf(await collect(store.iterate('inbox', { prefix: '00000000000000' })))).toEqual([1, 2, 10, 33].map(counterKey));
      await store.put('meta', 'ab', text('1'));
      await store.put('meta', 'abc', text('2'));
      await store.put('meta', 'b', text('3'));
      expect(keysOf(await collect(store.iterate('meta', { prefix: 'ab' })))).toEqual(['ab', 'abc']);
    });

    it('iterates a blinded kind completely (unordered) and refuses range options on it', async () => {
      const { store } = await make();
      const ids = ['carol', 'alice', 'bob'];
      for (const id of ids) await store.put('contact', id, text(id.toUpperCase()));
      await store.put('peer', 'dave', text('D'));
      const all = await collect(store.iterate('contact'));
      expect(keysOf(all).sort()).toEqual(['alice', 'bob', 'carol']);
      for (const r of all) if (r.ok) expect(utf8.decode(r.value)).toBe(r.key.toUpperCase());
      await expect(collect(store.iterate('contact', { prefix: 'a' }))).rejects.toThrow(/blinded/);
    });

    it('keeps data across close and reopen', async () => {
      const harness = await make();
      await harness.store.put('identity', 'self', text('id'));
      await harness.store.put('peer', 'bob', text('B'));
      const again = await harness.reopen();
      expect(await again.get('identity', 'self')).toEqual(text('id'));
      expect(await again.get('peer', 'bob')).toEqual(text('B'));
      expect(again.schemaVersion).toBeGreaterThanOrEqual(1);
    });

    it('a corrupt record fails closed for that record only (get throws CorruptRecord, iterate reports it in place)', async () => {
      const harness = await make();
      await harness.store.put('inbox', counterKey(1), text('one'));
      await harness.store.put('contact', 'alice', text('A'));
      await harness.store.put('contact', 'bob', text('B'));
      await harness.corruptAll('contact!');
      const store = harness.store;
      const err = await store.get('contact', 'alice').catch((e: unknown) => e);
      expect(err).toBeInstanceOf(CorruptRecordError);
      expect((err as CorruptRecordError).code).toBe('CorruptRecord');
      expect(await store.get('inbox', counterKey(1))).toEqual(text('one'));
      const listed = await collect(store.iterate('contact'));
      expect(listed).toHaveLength(2);
      expect(listed.every((r) => !r.ok && r.error.code === 'CorruptRecord')).toBe(true);
    });

    it('refuses use after close', async () => {
      const { store } = await make();
      await store.close();
      await expect(store.get('peer', 'x')).rejects.toThrow(/closed/);
    });
  });
}
