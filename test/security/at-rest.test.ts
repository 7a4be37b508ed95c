/**
 * Issue 6 item 4: after a conversation between two real daemon processes through the real broker
 * (LevelDB everywhere), no plaintext, private key or session key appears in any file of either data
 * dir or of the broker's storage.
 *  - Secrets are collected through the store and the protocol facade (decrypting the data dir with
 *    its key file) at three checkpoints — before the first message (so consumed one-time prekeys
 *    are known), mid-conversation and at the end: identity secret key (64 bytes), seed and X25519
 *    form, signed and one-time prekey privates, and per session DHs private key, root, chain and
 *    header keys and skipped message keys; plus several distinct plaintext markers and a 4 kB
 *    binary body; plus the record keys derived from the store key.
 *  - Each is searched raw, as lowercase hex and as base64 in every file (LevelDB .log/.ldb,
 *    MANIFEST, …). The key file is left out — it IS the at-rest key — and checked on its own:
 *    mode 0600, and its bytes appear in no other file.
 *  - Control: some messages are left unacked (bob's inbox) and undelivered (alice's outbox, the
 *    broker's queue), and reading the stores through their key shows the markers are really stored,
 *    so their absence from the files is due to encryption.
 */
import { randomBytes } from 'node:crypto';
import { readdir, readFile, stat } from 'node:fs/promises';
import { join, relative } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { createSodiumCrypto } from '../../crypto/sodium.ts';
import { utf8 } from '../../core/bytes.ts';
import { RECORD_KINDS, type RecordKind } from '../../daemon/store/kinds.ts';
import { openDataDirStore } from '../../daemon/store/open-store.ts';
import { findSecrets, privateSecrets, readDaemonState, type LabelledSecret } from './support/daemon-state.ts';
import { exchange, startSecNetwork, type SecDaemon, type SecNetwork } from './support/network.ts';

const crypto = await createSodiumCrypto();
let net: SecNetwork | undefined;

afterAll(async () => {
  await net?.stop();
});

async function filesUnder(dir: string): Promise<string[]> {
  const out: string[] = [];
  for (const e of await readdir(dir, { withFileTypes: true, recursive: true })) if (e.isFile()) out.push(join(e.parentPath, e.name));
  return out;
}

/** Raw, hex and base64 forms of each secret (a secret stored as text would show up too). */
function encodings(secrets: readonly LabelledSecret[]): LabelledSecret[] {
  return secrets.flatMap((s) => [
    s,
    { label: `${s.label} (hex)`, bytes: utf8.encode(Buffer.from(s.bytes).toString('hex')) },
    { label: `${s.label} (base64)`, bytes: utf8.encode(Buffer.from(s.bytes).toString('base64')) },
  ]);
}

/** Every decrypted record value of a stopped daemon's store, concatenated (the control). */
async function decryptedContent(dataDir: string): Promise<Buffer> {
  const store = await openDataDirStore({ dataDir, crypto });
  const parts: Buffer[] = [];
  try {
    for (const kind of Object.keys(RECORD_KINDS) as RecordKind[]) {
      for await (const r of store.iterate(kind)) if (r.ok) parts.push(Buffer.from(r.value));
    }
  } finally {
    await store.close();
  }
  return Buffer.concat(parts);
}

const STORE_LABELS = ['ratchetd-v1/store/encrypt', 'ratchetd-v1/store/blind'];

describe('at rest', () => {
  it('no plaintext, private key or session key in any file of the data dirs or the broker storage', { timeout: 180_000 }, async () => {
    net = await startSecNetwork();
    const n = net;
    const alice = await n.startDaemon('alice');
    const bob = await n.startDaemon('bob', { ack: false });
    const plaintexts: LabelledSecret[] = [];
    const secrets: LabelledSecret[] = [];
    const marker = (label: string): string => {
      const text = `AT-REST-${label}-${randomBytes(6).toString('hex')}`;
      plaintexts.push({ label: `plaintext ${label}`, bytes: utf8.encode(text) });
      return text;
    };
    const checkpoint = async (label: string, daemons: SecDaemon[], restart: boolean): Promise<void> => {
      for (const d of daemons) {
        await n.stopDaemon(d);
        secrets.push(...privateSecrets(crypto, `${d.name}@${label}`, await readDaemonState(crypto, d.dataDir)));
        if (restart) await n.startDaemon(d.name);
      }
    };

    await checkpoint('start', [alice, bob], true);
    for (let i = 0; i < 4; i++) await exchange(alice, bob, marker(`a2b-${i}`));
    for (let i = 0; i < 4; i++) await exchange(bob, alice, marker(`b2a-${i}`));
    const blob = randomBytes(4096);
    for (let i = 0; i + 32 <= blob.length; i += 32) plaintexts.push({ label: `binary body[${i}..]`, bytes: blob.subarray(i, i + 32) });
    await alice.client.send({ to: bob.userId, body: blob, contentType: 'application/octet-stream' });
    await bob.log.until(() => bob.log.events.some((e) => e.kind === 'message' && Buffer.from(e.message.body).equals(blob)), 'the binary body');
    await checkpoint('middle', [alice, bob], true);
    for (let i = 4; i < 8; i++) {
      await exchange(alice, bob, marker(`a2b-${i}`));
      await exchange(bob, alice, marker(`b2a-${i}`));
    }
    // left in the broker's queue and alice's outbox: bob is offline
    await n.stopDaemon(bob);
    const queued = [marker('queued-1'), marker('queued-2')];
    const queuedIds = await Promise.all(queued.map(async (q) => (await alice.client.send({ to: bob.userId, body: q })).messageId));
    const accepted = (id: string): boolean => alice.log.events.some((e) => e.kind === 'delivery' && e.messageId === id && e.state === 'sent');
    await alice.log.until(() => queuedIds.every(accepted), 'queued at the broker');
    await checkpoint('end', [alice], false);
    secrets.push(...privateSecrets(crypto, 'bob@end', await readDaemonState(crypto, bob.dataDir)));
    for (const d of [alice, bob]) {
      const key = await readFile(join(d.dataDir, 'store.key'));
      secrets.push({ label: `${d.name} store key`, bytes: key });
      for (const label of STORE_LABELS) secrets.push({ label: `${d.name} ${label} key`, bytes: crypto.hkdf(new Uint8Array(32), key, utf8.encode(label), 32) });
    }

    // The control: the stores really hold the secrets, under encryption.
    const bobPlain = await decryptedContent(bob.dataDir);
    const alicePlain = await decryptedContent(alice.dataDir);
    expect(findSecrets(bobPlain, plaintexts)).toContain(plaintexts[0]!.label); // unacked inbox
    expect(findSecrets(alicePlain, plaintexts)).toEqual(expect.arrayContaining(queued.map((_, i) => `plaintext queued-${i + 1}`))); // outbox
    expect(findSecrets(bobPlain, secrets)).toContain('bob@end.identity.ed25519-secret-key(64)');
    expect(secrets.filter((s) => s.label.includes('.RK')).length).toBeGreaterThanOrEqual(4);

    const needles = encodings([...plaintexts, ...secrets]);
    const scanned: Record<string, number> = {};
    const found: string[] = [];
    for (const [owner, dir] of [['alice', alice.dataDir], ['bob', bob.dataDir], ['broker', n.brokerDataDir]] as const) {
      const files = await filesUnder(dir);
      for (const file of files) {
        const name = relative(dir, file);
        if (owner !== 'broker' && name === 'store.key') {
          expect(((await stat(file)).mode & 0o777).toString(8), `${owner} store.key mode`).toBe('600');
          continue;
        }
        const bytes = await readFile(file);
        scanned[`${owner}/${name}`] = bytes.length;
        for (const label of findSecrets(bytes, needles)) found.push(`${owner}/${name}: ${label}`);
      }
    }
    expect(Object.keys(scanned).some((f) => f.startsWith('alice/store/') && f.endsWith('.log'))).toBe(true);
    expect(Object.keys(scanned).some((f) => f.startsWith('broker/broker/'))).toBe(true);
    expect(Object.values(scanned).reduce((a, b) => a + b, 0)).toBeGreaterThan(50_000);
    expect(found).toEqual([]);
    console.info(JSON.stringify({ atRest: { files: Object.keys(scanned).length, bytes: Object.values(scanned).reduce((a, b) => a + b, 0), secrets: secrets.length, plaintexts: plaintexts.length, needles: needles.length } }));
  });
});
