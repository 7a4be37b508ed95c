/**
 * Where the 32-byte store key comes from:
 * - a key file (default `DATA/store.key`): 32 random bytes, created with mode 0600 when the store is
 *   new; refused if group or others can read it;
 * - or a passphrase through scrypt, with the salt and cost parameters in `DATA/store.salt` (not secret).
 * A data dir uses one of the two for its whole life; using the other gives a clear error.
 * Both files are created durably (durable-file.ts) before the store is: a power cut cannot leave a
 * store whose key file is missing or half-written.
 */
import { randomBytes, scrypt as scryptCb, type ScryptOptions } from 'node:crypto';
import { readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { createFileDurably } from './durable-file.ts';
import { StoreConfigError } from './store.ts';

export const STORE_KEY_BYTES = 32;
export const DEFAULT_KEY_FILE = 'store.key';
export const SALT_FILE = 'store.salt';

export interface ScryptParams {
  /** CPU/memory cost, a power of two. */
  N: number;
  r: number;
  p: number;
}
/** ~100 ms and 32 MiB on a small machine: costly to guess, fast enough for a daemon start. */
export const DEFAULT_SCRYPT: ScryptParams = { N: 2 ** 15, r: 8, p: 1 };

export interface StoreKeyOptions {
  dataDir: string;
  /** Whether the store already exists (a missing key file is then an error, not a new key). */
  storeExists: boolean;
  passphrase?: string | Uint8Array;
  keyFile?: string;
  /** Cost parameters for a new passphrase store (tests use a cheap N). */
  scrypt?: ScryptParams;
}

interface SaltFile {
  format: 'ratchetd-scrypt-v1';
  salt: string;
  N: number;
  r: number;
  p: number;
}

async function exists(path: string): Promise<boolean> {
  try {
    await stat(path);
    return true;
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return false;
    throw e;
  }
}

function scrypt(passphrase: string | Uint8Array, salt: Uint8Array, p: ScryptParams): Promise<Uint8Array> {
  const opts: ScryptOptions = { N: p.N, r: p.r, p: p.p, maxmem: 256 * p.N * p.r + 1024 * 1024 };
  return new Promise((resolve, reject) => {
    scryptCb(passphrase, salt, STORE_KEY_BYTES, opts, (err, key) => {
      if (err) reject(new StoreConfigError('scrypt failed', { cause: err }));
      else resolve(new Uint8Array(key.buffer, key.byteOffset, key.byteLength));
    });
  });
}

async function readSaltFile(path: string): Promise<SaltFile> {
  let parsed: unknown;
  try {
    parsed = JSON.parse(await readFile(path, 'utf8'));
  } catch (cause) {
    throw new StoreConfigError(`unreadable salt file ${path}`, { cause });
  }
  const s = parsed as Partial<SaltFile>;
  const ok =
    s.format === 'ratchetd-scrypt-v1' &&
    typeof s.salt === 'string' &&
    /^[0-9a-f]{32,128}$/.test(s.salt) &&
    [s.N, s.r, s.p].every((x) => Number.isSafeInteger(x) && (x as number) > 0) &&
    ((s.N as number) & ((s.N as number) - 1)) === 0;
  if (!ok) throw new StoreConfigError(`malformed salt file ${path}`);
  return s as SaltFile;
}

async function keyFromPassphrase(o: StoreKeyOptions, passphrase: string | Uint8Array): Promise<Uint8Array> {
  if (passphrase.length === 0) throw new StoreConfigError('the passphrase is empty');
  const saltPath = join(o.dataDir, SALT_FILE);
  if (await exists(saltPath)) {
    const s = await readSaltFile(saltPath);
    return scrypt(passphrase, Buffer.from(s.salt, 'hex'), s);
  }
  if (o.storeExists) {
    throw new StoreConfigError(`this data dir is protected by a key file, not a passphrase (no ${SALT_FILE})`);
  }
  const params = o.scrypt ?? DEFAULT_SCRYPT;
  const salt = randomBytes(16);
  const file: SaltFile = { format: 'ratchetd-scrypt-v1', salt: salt.toString('hex'), ...params };
  await createFileDurably(saltPath, JSON.stringify(file) + '\n', 0o600);
  return scrypt(passphrase, salt, params);
}

async function keyFromFile(o: StoreKeyOptions, path: string): Promise<Uint8Array> {
  if (!(await exists(path))) {
    if (await exists(join(o.dataDir, SALT_FILE))) {
      throw new StoreConfigError('this data dir is protected by a passphrase: give the passphrase');
    }
    if (o.storeExists) throw new StoreConfigError(`key file ${path} not found, and the store already exists`);
    const key = new Uint8Array(randomBytes(STORE_KEY_BYTES));
    await createFileDurably(path, key, 0o600);
    return key;
  }
  const st = await stat(path);
  if (!st.isFile()) throw new StoreConfigError(`key file ${path} is not a regular file`);
  if ((st.mode & 0o077) !== 0) {
    throw new StoreConfigError(`key file ${path} is accessible by other users (mode ${(st.mode & 0o777).toString(8)}): chmod 600 it`);
  }
  const buf = await readFile(path);
  if (buf.length !== STORE_KEY_BYTES) {
    buf.fill(0);
    throw new StoreConfigError(`key file ${path} must hold exactly ${STORE_KEY_BYTES} bytes`);
  }
  const key = new Uint8Array(buf);
  buf.fill(0);
  return key;
}

/** The store key for a data dir, creating a key file or salt for a new store. */
export async function loadStoreKey(o: StoreKeyOptions): Promise<Uint8Array> {
  if (o.passphrase !== undefined && o.keyFile !== undefined) {
    throw new StoreConfigError('give either a passphrase or a key file, not both');
  }
  if (o.passphrase !== undefined) return keyFromPassphrase(o, o.passphrase);
  return keyFromFile(o, o.keyFile ?? join(o.dataDir, DEFAULT_KEY_FILE));
}
