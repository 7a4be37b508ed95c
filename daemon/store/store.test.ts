import { mkdtemp, readdir, readFile, rm, stat, writeFile, chmod } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createSodiumCrypto } from '../../crypto/sodium.ts';
import type { Crypto } from '../../core/crypto.ts';
import { utf8 } from '../../core/bytes.ts';
import { openLevelBackend } from './level-backend.ts';
import { createMemoryBackend } from './memory-backend.ts';
import { openDataDirStore, openMemoryStore } from './open-store.ts';
import { openStore } from './schema.ts';
import { describeStoreContract } from './store-contract.ts';
import { CorruptRecordError, StoreConfigError } from './store.ts';
import { DEFAULT_KEY_FILE, SALT_FILE } from './store-key.ts';

const crypto: Crypto = await createSodiumCrypto();
const CHEAP_SCRYPT = { N: 1024, r: 8, p: 1 };
const dirs: string[] = [];
async function tempDir(): Promise<string> {
  const d = await mkdtemp(join(tmpdir(), 'ratchetd-store-'));
  dirs.push(d);
  return d;
}
afterEach(async () => {
  while (dirs.length) await rm(dirs.pop() as string, { recursive: true, force: true });
});

describeStoreContract('in-memory', async () => {
  const key = crypto.randomBytes(32);
  const backend = createMemoryBackend();
  let store = await openMemoryStore(crypto, key, backend);
  return {
    get store() {
      return store;
    },
    async reopen() {
      await store.close();
      store = await openMemoryStore(crypto, key, backend.reopen());
      return store;
    },
    async corruptAll(prefix) {
      for (const [k, v] of backend.data) if (k.startsWith(prefix)) v[v.length - 1] = (v[v.length - 1] ?? 0) ^ 1;
    },
    async cleanup() {
      await store.close();
    },
  };
});

describeStoreContract('LevelDB', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'ratchetd-store-'));
  const open = () => openDataDirStore({ dataDir: dir, crypto });
  let store = await open();
  return {
    get store() {
      return store;
    },
    async reopen() {
      await store.close();
      store = await open();
      return store;
    },
    async corruptAll(prefix) {
      // Rewrite the raw records underneath the store, through a second handle after closing.
      await store.close();
      const raw = await openLevelBackend(join(dir, 'store'));
      const ops = [];
      for await (const [k, v] of raw.iterate({ gte: prefix, lt: prefix + '\uffff' })) {
        const bad = v.slice();
        bad[5] = (bad[5] ?? 0) ^ 0x80;
        ops.push({ type: 'put' as const, key: k, value: bad });
      }
      await raw.batch(ops);
      await raw.close();
      store = await open();
    },
    async cleanup() {
      await store.close();
      await rm(dir, { recursive: true, force: true });
    },
  };
});

async function filesUnder(dir: string): Promise<Buffer> {
  const parts: Buffer[] = [];
  for (const entry of await readdir(dir, { withFileTypes: true, recursive: true })) {
    if (entry.isFile()) parts.push(await readFile(join(entry.parentPath, entry.name)));
  }
  return Buffer.concat(parts);
}

describe('LevelDB store at rest', () => {
  it('no plaintext, logical key of a blinded kind, or store key appears in the data dir', async () => {
    const dir = await tempDir();
    const store = await openDataDirStore({ dataDir: dir, crypto });
    const secret = utf8.encode('the-launch-code-is-0000-TOP-SECRET');
    const contactId = 'contactuseridthatmustnotleak2345';
    for (let i = 0; i < 50; i++) await store.put('peer', contactId, secret);
    await store.put('inbox', '0000000000000001', secret);
    await store.close(); // flushes the memtable and the log to disk
    const key = await readFile(join(dir, DEFAULT_KEY_FILE));
    const haystack = await filesUnder(join(dir, 'store'));
    expect(haystack.length).toBeGreaterThan(0);
    expect(haystack.includes(Buffer.from(secret))).toBe(false);
    expect(haystack.includes(Buffer.from(secret.subarray(0, 12)))).toBe(false);
    expect(haystack.includes(Buffer.from(contactId))).toBe(false);
    expect(haystack.includes(key)).toBe(false);
    expect(haystack.includes(key.subarray(0, 8))).toBe(false);
    // and the record is there, readable with the key
    const again = await openDataDirStore({ dataDir: dir, crypto });
    expect(await again.get('peer', contactId)).toEqual(secret);
    await again.close();
  });

  it('creates the key file with mode 0600 and refuses one that others can read', async () => {
    const dir = await tempDir();
    await (await openDataDirStore({ dataDir: dir, crypto })).close();
    const path = join(dir, DEFAULT_KEY_FILE);
    expect((await stat(path)).mode & 0o777).toBe(0o600);
    expect((await readFile(path)).length).toBe(32);
    await chmod(path, 0o644);
    await expect(openDataDirStore({ dataDir: dir, crypto })).rejects.toThrow(/chmod 600/);
  });

  it('refuses a store opened with another key, and a missing key file for an existing store', async () => {
    const dir = await tempDir();
    const s = await openDataDirStore({ dataDir: dir, crypto });
    await s.put('identity', 'self', utf8.encode('x'));
    await s.close();
    const path = join(dir, DEFAULT_KEY_FILE);
    await writeFile(path, crypto.randomBytes(32), { mode: 0o600 });
    const err = await openDataDirStore({ dataDir: dir, crypto }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(StoreConfigError);
    expect((err as StoreConfigError).message).toMatch(/wrong key file or passphrase/);
    await rm(path);
    await expect(openDataDirStore({ dataDir: dir, crypto })).rejects.toThrow(/not found/);
  });

  it('a passphrase store keeps a salt file, reopens with the passphrase, refuses a wrong one or none', async () => {
    const dir = await tempDir();
    const s = await openDataDirStore({ dataDir: dir, crypto, passphrase: 'correct horse', scrypt: CHEAP_SCRYPT });
    await s.put('identity', 'self', utf8.encode('id'));
    await s.close();
    const salt = JSON.parse(await readFile(join(dir, SALT_FILE), 'utf8')) as { N: number; salt: string };
    expect(salt.N).toBe(1024);
    expect(salt.salt).toMatch(/^[0-9a-f]{32}$/);
    const again = await openDataDirStore({ dataDir: dir, crypto, passphrase: 'correct horse' });
    expect(await again.get('identity', 'self')).toEqual(utf8.encode('id'));
    await again.close();
    await expect(openDataDirStore({ dataDir: dir, crypto, passphrase: 'wrong horse' })).rejects.toThrow(/wrong key file or passphrase/);
    await expect(openDataDirStore({ dataDir: dir, crypto })).rejects.toThrow(/passphrase/);
  });

  it('a key-file store opened with a passphrase says so', async () => {
    const dir = await tempDir();
    await (await openDataDirStore({ dataDir: dir, crypto })).close();
    await expect(openDataDirStore({ dataDir: dir, crypto, passphrase: 'pw', scrypt: CHEAP_SCRYPT })).rejects.toThrow(/key file, not a passphrase/);
  });
});

describe('record binding and schema', () => {
  it('a record moved to another key or kind does not decrypt (kind and key are in the AAD)', async () => {
    const backend = createMemoryBackend();
    const store = await openMemoryStore(crypto, crypto.randomBytes(32), backend);
    await store.put('inbox', '0000000000000001', utf8.encode('one'));
    await store.put('outbox', '0000000000000001', utf8.encode('two'));
    const one = backend.data.get('inbox!0000000000000001') as Uint8Array;
    backend.data.set('inbox!0000000000000002', one);
    backend.data.set('outbox!0000000000000001', one);
    await expect(store.get('inbox', '0000000000000002')).rejects.toBeInstanceOf(CorruptRecordError);
    await expect(store.get('outbox', '0000000000000001')).rejects.toBeInstanceOf(CorruptRecordError);
    expect(await store.get('inbox', '0000000000000001')).toEqual(utf8.encode('one'));
  });

  it('each write uses a fresh nonce (same value twice gives different bytes)', async () => {
    const backend = createMemoryBackend();
    const store = await openMemoryStore(crypto, crypto.randomBytes(32), backend);
    await store.put('meta', 'x', utf8.encode('same'));
    const a = (backend.data.get('meta!x') as Uint8Array).slice();
    await store.put('meta', 'x', utf8.encode('same'));
    const b = backend.data.get('meta!x') as Uint8Array;
    expect(Buffer.from(a).equals(Buffer.from(b))).toBe(false);
  });

  it('refuses a newer schema, migrates an older one in one batch with the version bump', async () => {
    const key = crypto.randomBytes(32);
    const backend = createMemoryBackend();
    const v1 = await openStore({ backend, crypto, storeKey: key.slice(), targetVersion: 1 });
    expect(v1.schemaVersion).toBe(1);
    await v1.put('meta', 'legacy', utf8.encode('old'));
    await v1.close();
    const v2 = await openStore({
      backend: backend.reopen(),
      crypto,
      storeKey: key.slice(),
      targetVersion: 2,
      migrations: [
        {
          from: 1,
          async migrate(s) {
            const old = await s.get('meta', 'legacy');
            return [
              { type: 'del', kind: 'meta', key: 'legacy' },
              { type: 'put', kind: 'meta', key: 'renamed', value: old ?? new Uint8Array(0) },
            ];
          },
        },
      ],
    });
    expect(v2.schemaVersion).toBe(2);
    expect(await v2.get('meta', 'legacy')).toBeUndefined();
    expect(await v2.get('meta', 'renamed')).toEqual(utf8.encode('old'));
    await v2.close();
    const err = await openStore({ backend: backend.reopen(), crypto, storeKey: key.slice(), targetVersion: 1 }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(StoreConfigError);
    expect((err as Error).message).toMatch(/newer than this ratchetd/);
    await expect(
      openStore({ backend: backend.reopen(), crypto, storeKey: key.slice(), targetVersion: 3 }),
    ).rejects.toThrow(/no migration from store schema v2/);
  });

  it('zeroes the store key it was given', async () => {
    const key = crypto.randomBytes(32);
    const store = await openStore({ backend: createMemoryBackend(), crypto, storeKey: key });
    expect(key.every((b) => b === 0)).toBe(true);
    await store.close();
  });
});
