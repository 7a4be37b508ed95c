/**
 * Opening a store: derive the record keys, check the schema version (refuse a newer one, migrate an
 * older one), create the schema record in an empty store.
 *
 * The `meta!schema` record holds the version as a u32. It is encrypted like every record, so it also
 * proves the key: a store that does not decrypt it was opened with the wrong key or passphrase.
 */
import type { Crypto } from '../../core/crypto.ts';
import { Reader, Writer } from '../../core/bytes.ts';
import { DecodeError } from '../../core/errors.ts';
import type { RawBackend } from './backend.ts';
import { createEncryptedStore } from './encrypted-store.ts';
import { createRecordCipher } from './record-cipher.ts';
import { CorruptRecordError, StoreConfigError, type BatchOp, type Store } from './store.ts';

/**
 * The schema this code writes. Bump it with a Migration from the previous version.
 *   v1  one whole record per peer
 *   v2  peer records split: head, archived sessions, skipped-key blocks, held-back messages
 *       (daemon/engine/peer-layout.ts; migration in daemon/engine/store-migrations.ts)
 */
export const CURRENT_SCHEMA_VERSION = 2;
const SCHEMA_KEY = 'schema';

/** Rewrites a store from version `from` to `from + 1`; returns the ops, committed with the version bump. */
export interface Migration {
  readonly from: number;
  migrate(store: Store): Promise<BatchOp[]>;
}

export interface OpenStoreOptions {
  backend: RawBackend;
  crypto: Crypto;
  /** 32 bytes; zeroed once the record keys are derived. */
  storeKey: Uint8Array;
  migrations?: readonly Migration[];
  /** For tests of the migration path; defaults to CURRENT_SCHEMA_VERSION. */
  targetVersion?: number;
}

const encodeVersion = (v: number): Uint8Array => new Writer().u32(v).finish();
function decodeVersion(b: Uint8Array): number {
  const r = new Reader(b, 'schema record');
  const v = r.u32();
  r.end();
  return v;
}

export function schemaOp(version: number): BatchOp {
  return { type: 'put', kind: 'meta', key: SCHEMA_KEY, value: encodeVersion(version) };
}

export async function openStore(options: OpenStoreOptions): Promise<Store> {
  const { backend, crypto } = options;
  const target = options.targetVersion ?? CURRENT_SCHEMA_VERSION;
  const cipher = createRecordCipher(crypto, options.storeKey);
  crypto.zero(options.storeKey);
  const store = createEncryptedStore(backend, cipher, target);
  try {
    let version: number;
    try {
      const stored = await store.get('meta', SCHEMA_KEY);
      if (stored === undefined) {
        if (!(await isEmpty(backend))) throw new StoreConfigError('the store has data but no schema record: not a ratchetd store');
        await store.batch([schemaOp(target)]);
        return store;
      }
      version = decodeVersion(stored);
    } catch (e) {
      if (e instanceof CorruptRecordError || e instanceof DecodeError) {
        throw new StoreConfigError('cannot decrypt the store: wrong key file or passphrase (or a corrupt schema record)', { cause: e });
      }
      throw e;
    }
    if (version > target) {
      throw new StoreConfigError(`the store has schema v${version}, newer than this ratchetd (v${target}): upgrade ratchetd`);
    }
    while (version < target) {
      const m = options.migrations?.find((x) => x.from === version);
      if (m === undefined) throw new StoreConfigError(`no migration from store schema v${version}`);
      const ops = await m.migrate(store);
      version += 1;
      await store.batch([...ops, schemaOp(version)]);
    }
    return store;
  } catch (e) {
    await store.close();
    throw e;
  }
}

async function isEmpty(backend: RawBackend): Promise<boolean> {
  for await (const _ of backend.iterate({ gt: '', lt: '\uffff', limit: 1 })) return false;
  return true;
}
