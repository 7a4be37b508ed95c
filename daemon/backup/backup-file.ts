/**
 * The backup file: the backup contents (backup-contents.ts) encrypted under a passphrase.
 *
 *   magic "ratchetd-backup\n" (16) ‖ format u8 (= 1) ‖ kdf u8 (1 = Argon2id v1.3)
 *   ‖ opslimit u32 ‖ memlimit u32 (bytes) ‖ salt 16 ‖ check 32 ‖ nonce 24 ‖ length u32 ‖ ciphertext
 *
 * key = Argon2id(passphrase, salt, opslimit, memlimit) (32 bytes); from it, by HKDF-SHA256 with
 * distinct labels, a check key and a data key. `check` = HMAC(check key, the header before it): a
 * wrong passphrase is told apart from a damaged body. The ciphertext is XChaCha20-Poly1305 over the
 * contents with every header byte before it as associated data, so no header byte can be changed
 * unnoticed. A reader checks everything before it returns anything: a file that fails any check
 * yields a BackupError and no contents.
 */
import { Reader, Writer, concat, utf8 } from '../../core/bytes.ts';
import type { Crypto } from '../../core/crypto.ts';
import { DecodeError } from '../../core/errors.ts';
import { ARGON2ID_SALT_BYTES, argon2id, checkArgon2idCost, PasswordHashError, type Argon2idCost } from '../../crypto/password-hash.ts';
import { BackupError } from './errors.ts';

export const BACKUP_MAGIC = utf8.encode('ratchetd-backup\n');
export const BACKUP_FORMAT_VERSION = 1;
const KDF_ARGON2ID13 = 1;
const KEY_BYTES = 32;
const CHECK_BYTES = 32;
const NONCE_BYTES = 24;
const TAG_BYTES = 16;
/** magic ‖ format ‖ kdf ‖ opslimit ‖ memlimit ‖ salt */
const PARAMS_BYTES = BACKUP_MAGIC.length + 1 + 1 + 4 + 4 + ARGON2ID_SALT_BYTES;
const HEADER_BYTES = PARAMS_BYTES + CHECK_BYTES + NONCE_BYTES + 4;
/** Contents larger than this are refused (the whole file is held in memory). */
export const MAX_BACKUP_CONTENTS_BYTES = 1 << 30;

const CHECK_LABEL = utf8.encode('ratchetd backup v1 passphrase check');
const DATA_LABEL = utf8.encode('ratchetd backup v1 contents key');

interface Keys {
  check: Uint8Array;
  data: Uint8Array;
}

async function deriveKeys(crypto: Crypto, passphrase: Uint8Array, salt: Uint8Array, cost: Argon2idCost): Promise<Keys> {
  if (passphrase.length === 0) throw new BackupError('WrongPassphrase', 'the backup passphrase is empty');
  const master = await argon2id(passphrase, salt, cost, KEY_BYTES);
  try {
    return { check: crypto.hkdf(salt, master, CHECK_LABEL, KEY_BYTES), data: crypto.hkdf(salt, master, DATA_LABEL, KEY_BYTES) };
  } finally {
    crypto.zero(master);
  }
}

function zeroKeys(crypto: Crypto, k: Keys): void {
  crypto.zero(k.check);
  crypto.zero(k.data);
}

/** Encrypts backup contents under the passphrase. */
export async function sealBackup(crypto: Crypto, contents: Uint8Array, passphrase: Uint8Array, cost: Argon2idCost): Promise<Uint8Array> {
  checkArgon2idCost(cost);
  if (contents.length > MAX_BACKUP_CONTENTS_BYTES) throw new BackupError('UnsupportedVersion', 'the backup contents exceed 1 GiB');
  const salt = crypto.randomBytes(ARGON2ID_SALT_BYTES);
  const keys = await deriveKeys(crypto, passphrase, salt, cost);
  try {
    const params = new Writer().fixed(BACKUP_MAGIC).u8(BACKUP_FORMAT_VERSION).u8(KDF_ARGON2ID13).u32(cost.opslimit).u32(cost.memlimit).fixed(salt).finish();
    const check = crypto.hmac(keys.check, params);
    const nonce = crypto.randomBytes(NONCE_BYTES);
    const header = new Writer().fixed(params).fixed(check).fixed(nonce).u32(contents.length + TAG_BYTES).finish();
    return concat(header, crypto.aeadEncrypt(keys.data, nonce, contents, header));
  } finally {
    zeroKeys(crypto, keys);
  }
}

/** Decrypts a backup file; throws BackupError (NotABackup, UnsupportedVersion, Truncated, WrongPassphrase, Tampered). */
export async function openBackup(crypto: Crypto, file: Uint8Array, passphrase: Uint8Array): Promise<Uint8Array> {
  if (file.length < BACKUP_MAGIC.length || !crypto.equal(file.subarray(0, BACKUP_MAGIC.length), BACKUP_MAGIC)) {
    throw new BackupError('NotABackup', 'not a ratchetd backup file (no backup header)');
  }
  if (file.length < HEADER_BYTES) throw new BackupError('Truncated', 'the backup file is truncated (its header is incomplete)');
  let header;
  try {
    const r = new Reader(file.subarray(0, HEADER_BYTES), 'backup header');
    r.fixed(BACKUP_MAGIC.length);
    const format = r.u8();
    const kdf = r.u8();
    const cost = { opslimit: r.u32(), memlimit: r.u32() };
    const salt = r.fixed(ARGON2ID_SALT_BYTES);
    const check = r.fixed(CHECK_BYTES);
    const nonce = r.fixed(NONCE_BYTES);
    const length = r.u32();
    r.end();
    header = { format, kdf, cost, salt, check, nonce, length };
  } catch (cause) {
    if (cause instanceof DecodeError) throw new BackupError('Truncated', 'the backup file is truncated', { cause });
    throw cause;
  }
  if (header.format !== BACKUP_FORMAT_VERSION) throw new BackupError('UnsupportedVersion', `backup format v${header.format} is not supported by this ratchetd (it reads v${BACKUP_FORMAT_VERSION})`);
  if (header.kdf !== KDF_ARGON2ID13) throw new BackupError('UnsupportedVersion', `unknown key derivation ${header.kdf} in the backup header`);
  try {
    checkArgon2idCost(header.cost);
  } catch (cause) {
    if (cause instanceof PasswordHashError) throw new BackupError('UnsupportedVersion', `the backup header asks for an unsupported Argon2id cost: ${cause.message}`, { cause });
    throw cause;
  }
  if (header.length < TAG_BYTES) throw new BackupError('Tampered', 'the backup header declares an impossible length');
  if (file.length < HEADER_BYTES + header.length) {
    throw new BackupError('Truncated', `the backup file is truncated (${file.length} bytes; its header declares ${HEADER_BYTES + header.length})`);
  }
  if (file.length > HEADER_BYTES + header.length) throw new BackupError('Tampered', 'the backup file has bytes after its end');
  const keys = await deriveKeys(crypto, passphrase, header.salt, header.cost);
  try {
    if (!crypto.equal(crypto.hmac(keys.check, file.subarray(0, PARAMS_BYTES)), header.check)) {
      throw new BackupError('WrongPassphrase', 'wrong backup passphrase (or the backup header was altered)');
    }
    const contents = crypto.aeadDecrypt(keys.data, header.nonce, file.subarray(HEADER_BYTES), file.subarray(0, HEADER_BYTES));
    if (contents === null) throw new BackupError('Tampered', 'the backup file was altered or damaged: its contents do not authenticate');
    return contents;
  } finally {
    zeroKeys(crypto, keys);
  }
}
