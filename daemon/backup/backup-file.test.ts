import { beforeAll, describe, expect, it } from 'vitest';
import { utf8 } from '../../core/bytes.ts';
import type { Crypto } from '../../core/crypto.ts';
import { createSodiumCrypto } from '../../crypto/sodium.ts';
import { BACKUP_MAGIC, openBackup, sealBackup } from './backup-file.ts';
import { TEST_COST } from './backup-test-support.ts';

let crypto: Crypto;
beforeAll(async () => {
  crypto = await createSodiumCrypto();
});

const pass = utf8.encode('a long and careful passphrase');
const contents = utf8.encode('the backup contents '.repeat(50));

async function sealed(): Promise<Uint8Array> {
  return sealBackup(crypto, contents, pass, TEST_COST);
}

/** magic 16 ‖ format 1 ‖ kdf 1 ‖ ops 4 ‖ mem 4 ‖ salt 16 ‖ check 32 ‖ nonce 24 ‖ length 4 */
const OFFSETS = { format: 16, kdf: 17, ops: 18, salt: 26, check: 42, nonce: 74, length: 98, body: 102 };

describe('backup file', () => {
  it('round-trips under the right passphrase; the contents are not in the file in the clear', async () => {
    const file = await sealed();
    expect(Buffer.from(file.subarray(0, 16)).equals(Buffer.from(BACKUP_MAGIC))).toBe(true);
    expect(Buffer.from(file).indexOf(Buffer.from('the backup contents'))).toBe(-1);
    expect(utf8.decode(await openBackup(crypto, file, pass))).toBe(utf8.decode(contents));
  });

  it('two backups of the same contents differ (fresh salt and nonce)', async () => {
    expect(Buffer.from(await sealed()).equals(Buffer.from(await sealed()))).toBe(false);
  });

  it('a wrong passphrase is WrongPassphrase', async () => {
    await expect(openBackup(crypto, await sealed(), utf8.encode('a long and careful passphrasf'))).rejects.toMatchObject({ code: 'WrongPassphrase', name: 'BackupError' });
  });

  it('an empty passphrase is refused', async () => {
    await expect(sealBackup(crypto, contents, new Uint8Array(0), TEST_COST)).rejects.toMatchObject({ code: 'WrongPassphrase' });
  });

  it('a flipped bit anywhere in the body is Tampered', async () => {
    const file = await sealed();
    for (const at of [OFFSETS.body, OFFSETS.body + 100, file.length - 1]) {
      const bad = file.slice();
      bad[at]! ^= 1;
      await expect(openBackup(crypto, bad, pass)).rejects.toMatchObject({ code: 'Tampered' });
    }
  });

  it('a changed nonce is Tampered; a changed salt, cost or check is WrongPassphrase (the header is bound)', async () => {
    const file = await sealed();
    const flip = (at: number): Uint8Array => {
      const bad = file.slice();
      bad[at]! ^= 1;
      return bad;
    };
    await expect(openBackup(crypto, flip(OFFSETS.nonce), pass)).rejects.toMatchObject({ code: 'Tampered' });
    await expect(openBackup(crypto, flip(OFFSETS.salt), pass)).rejects.toMatchObject({ code: 'WrongPassphrase' });
    await expect(openBackup(crypto, flip(OFFSETS.check + 3), pass)).rejects.toMatchObject({ code: 'WrongPassphrase' });
    const moreOps = file.slice();
    moreOps[OFFSETS.ops + 3] = 2; // opslimit 1 → 2: still a valid cost, another key
    await expect(openBackup(crypto, moreOps, pass)).rejects.toMatchObject({ code: 'WrongPassphrase' });
  });

  it('a truncated file is Truncated, a longer one Tampered, whatever the cut', async () => {
    const file = await sealed();
    for (const n of [20, OFFSETS.body - 1, OFFSETS.body, file.length - 1]) {
      await expect(openBackup(crypto, file.subarray(0, n), pass)).rejects.toMatchObject({ code: 'Truncated' });
    }
    const longer = new Uint8Array(file.length + 1);
    longer.set(file);
    await expect(openBackup(crypto, longer, pass)).rejects.toMatchObject({ code: 'Tampered' });
  });

  it('another file is NotABackup; another format version or a hostile cost is UnsupportedVersion', async () => {
    await expect(openBackup(crypto, utf8.encode('{"not": "a backup"}'), pass)).rejects.toMatchObject({ code: 'NotABackup' });
    const file = await sealed();
    const v2 = file.slice();
    v2[OFFSETS.format] = 2;
    await expect(openBackup(crypto, v2, pass)).rejects.toMatchObject({ code: 'UnsupportedVersion' });
    const kdf = file.slice();
    kdf[OFFSETS.kdf] = 9;
    await expect(openBackup(crypto, kdf, pass)).rejects.toMatchObject({ code: 'UnsupportedVersion' });
    const huge = file.slice();
    new DataView(huge.buffer).setUint32(OFFSETS.ops + 4, 0xffffffff); // memlimit 4 GiB
    await expect(openBackup(crypto, huge, pass)).rejects.toMatchObject({ code: 'UnsupportedVersion' });
  });
});
