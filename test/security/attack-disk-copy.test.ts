/**
 * Issue 10 item 1, forward secrecy at rest against copies of the disk: an attacker who copies a data
 * dir (key file included) must not find in ANY file of it — LevelDB's `.log`, `.ldb`, MANIFEST — a
 * value the store replaced or deleted more than the documented bound ago (one scrub interval plus
 * a scrub: 60 s with the default 30 s), and none at all after a clean shutdown. Reading only live
 * records through the store API (attack-state-copy) misses this: LevelDB keeps superseded values in
 * its files until a compaction drops them.
 *
 * Two daemons (and a third who opens a session, consuming one of bob's one-time prekeys) on their
 * production store (LevelDB in a data dir) through the real broker, all in this process, with the
 * scrub interval shortened to 200 ms so the test waits for scrub events rather than 30 s:
 *   1. copy alice's data dir while her messages to an offline bob wait in her outbox, and bob's
 *      while his inbox holds them unacked: every sealed value of every record is recorded;
 *   2. traffic replaces them: bob acks his inbox, the receipts clear alice's outbox, carol's first
 *      message consumes a one-time prekey, 40 messages each way step both ratchets (peer records,
 *      routing tags, counters);
 *   3. once each daemon reports a scrub covering all of that (with nothing written since), its live
 *      data dir is copied again: no replaced value from step 1 is in any of its files;
 *   4. after a clean shutdown: no value replaced by then (from steps 1 and 3) is in any file.
 * The test checks that the replaced values span the record kinds it claims (peer, routingTag,
 * inbox, outbox, prekeys), and that the live values are found by the same search (so a search that
 * finds nothing cannot pass it). Without the scrub, step 3 finds hundreds of values.
 */
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { Level } from 'level';
import { afterEach, describe, expect, it } from 'vitest';
import { createBroker, type RelayBroker } from '../../broker/index.ts';
import type { UserId } from '../../core/user-id.ts';
import { createSodiumCrypto } from '../../crypto/sodium.ts';
import { createDaemon, type Daemon } from '../../daemon/engine/index.ts';
import { EventLog, silentLogger, text } from '../../daemon/engine/test-support.ts';
import { RECORD_KINDS, type RecordKind } from '../../daemon/store/kinds.ts';
import { openDataDirStore, STORE_DIR } from '../../daemon/store/open-store.ts';
import { filesHolding, readAllFiles } from '../../daemon/store/raw-file-search.ts';
import type { ScrubSchedule } from '../../daemon/store/scrub-schedule.ts';

const crypto = await createSodiumCrypto();
/** The injected scrub interval (the daemon's default is 30 s). */
const SCRUB_INTERVAL_MS = 200;

const dirs: string[] = [];
const daemons: Daemon[] = [];
let broker: RelayBroker | undefined;

afterEach(async () => {
  for (const d of daemons.splice(0)) await d.close();
  await broker?.close();
  broker = undefined;
  while (dirs.length) await rm(dirs.pop() as string, { recursive: true, force: true });
});

async function tempDir(name: string): Promise<string> {
  const d = await mkdtemp(join(tmpdir(), `ratchetd-diskcopy-${name}-`));
  dirs.push(d);
  return d;
}

interface Running {
  readonly name: string;
  readonly dataDir: string;
  daemon: Daemon;
  userId: UserId;
  log: EventLog;
  /** The scrub schedule of the running daemon's store. */
  scrub: ScrubSchedule;
}

async function startDaemon(name: string, dataDir: string, brokerUrl: string): Promise<Running> {
  let scrub: ScrubSchedule | undefined;
  const daemon = createDaemon({
    dataDir,
    brokerUrl,
    logger: silentLogger,
    crypto,
    timing: { receiptDelayMs: 5, bundleDebounceMs: 20 },
    // the production store, with a short scrub interval and a handle on its schedule
    openStore: (c) => openDataDirStore({ dataDir, crypto: c, scrub: { intervalMs: SCRUB_INTERVAL_MS, onSchedule: (s) => (scrub = s) } }),
  });
  daemons.push(daemon);
  const { userId } = await daemon.start();
  const log = new EventLog();
  await daemon.backend.subscribe(0, log.push);
  return { name, dataDir, daemon, userId, log, scrub: scrub! };
}

async function stop(r: Running): Promise<void> {
  await r.daemon.close();
  daemons.splice(daemons.indexOf(r.daemon), 1);
}

/** A copy of the raw files of a data dir, as they are now (the daemon may be running). */
type DiskCopy = Map<string, Buffer>;

/**
 * Copies a daemon's data dir once a scrub has covered every write made so far and nothing has been
 * written since (the copy then shows exactly what that scrub left).
 */
async function copyAfterScrub(r: Running): Promise<DiskCopy> {
  for (;;) {
    await r.scrub.settled();
    const copy = await readAllFiles(r.dataDir);
    if (!r.scrub.pending) return copy;
  }
}

/** Every record of the store in a disk copy: physical key → sealed value (a copy is opened, not the original). */
async function sealedRecords(copy: DiskCopy): Promise<Map<string, Buffer>> {
  const dir = await tempDir('open');
  for (const [name, bytes] of copy) {
    if (!name.startsWith(STORE_DIR + '/') || name.endsWith('/LOCK')) continue;
    await mkdir(dirname(join(dir, name)), { recursive: true });
    await writeFile(join(dir, name), bytes);
  }
  const db = new Level<string, Uint8Array>(join(dir, STORE_DIR), { keyEncoding: 'utf8', valueEncoding: 'view', createIfMissing: false });
  await db.open();
  const records = new Map<string, Buffer>();
  try {
    for await (const [k, v] of db.iterator()) records.set(k, Buffer.from(v));
  } finally {
    await db.close();
  }
  return records;
}

const prefixToKind = new Map<string, RecordKind>(Object.entries(RECORD_KINDS).map(([kind, spec]) => [spec.prefix, kind as RecordKind]));
const kindOf = (physicalKey: string): string => prefixToKind.get(physicalKey.slice(0, physicalKey.indexOf('!'))) ?? physicalKey;

interface Recorded {
  readonly kind: string;
  readonly value: Buffer;
}

/** The recorded values that `now` no longer holds under their key (replaced or deleted). */
function replacedSince(recorded: Map<string, Buffer>, now: Map<string, Buffer>): Recorded[] {
  return [...recorded].filter(([k, v]) => !now.get(k)?.equals(v)).map(([k, value]) => ({ kind: kindOf(k), value }));
}

/** The recorded values some file of the copy holds, as "kind in file" (empty is what the claim needs). */
function found(copy: DiskCopy, values: readonly Recorded[]): string[] {
  return values.flatMap((r) => filesHolding(copy, r.value).map((f) => `${r.kind} in ${f}`));
}

const kindsOf = (values: readonly Recorded[]): Set<string> => new Set(values.map((v) => v.kind));

function deliveredCount(log: EventLog, ids: ReadonlySet<string>): number {
  return log.events.filter((e) => e.kind === 'delivery' && e.state === 'delivered' && ids.has(e.messageId)).length;
}

async function sendAll(from: Running, to: Running, texts: readonly string[]): Promise<Set<string>> {
  const ids = new Set<string>();
  for (const t of texts) ids.add((await from.daemon.backend.send({ to: to.userId, body: text(t) })).messageId);
  return ids;
}

async function receiveAndAck(to: Running, from: Running, texts: readonly string[]): Promise<void> {
  await to.log.until((l) => texts.every((t) => l.texts(from.userId).includes(t)), `${to.name} receives ${texts.length} from ${from.name}`, 60_000);
  await to.daemon.backend.ack(to.log.messages(from.userId).map((m) => m.messageId));
}

describe('attack: copies of the disk (forward secrecy at rest)', () => {
  it('no replaced or deleted value stays in any file of the data dir past a scrub, nor after a clean shutdown', async () => {
    broker = createBroker({ dataDir: await tempDir('broker'), port: 0, logger: silentLogger, crypto });
    const { url } = await broker.start();
    const alice = await startDaemon('alice', await tempDir('alice'), url);
    let bob = await startDaemon('bob', await tempDir('bob'), url);
    const warm = ['a0', 'a1', 'a2'];
    await sendAll(alice, bob, warm);
    await receiveAndAck(bob, alice, warm);
    await sendAll(bob, alice, ['b0']);
    await receiveAndAck(alice, bob, ['b0']);

    // 1. alice's outbox holds five messages for an offline bob; bob's inbox then holds them unacked
    await stop(bob);
    const queued = ['q0', 'q1', 'q2', 'q3', 'q4'];
    const queuedIds = await sendAll(alice, bob, queued);
    await alice.log.until((l) => l.events.filter((e) => e.kind === 'delivery' && e.state === 'sent' && queuedIds.has(e.messageId)).length === queued.length, 'queued messages sent', 60_000);
    const alice1 = await sealedRecords(await copyAfterScrub(alice));
    bob = await startDaemon('bob', bob.dataDir, url);
    await bob.log.until((l) => queued.every((t) => l.texts(alice.userId).includes(t)), 'bob receives the queued messages', 60_000);
    const bob1 = await sealedRecords(await copyAfterScrub(bob));
    expect([...alice1.keys()].filter((k) => kindOf(k) === 'outbox').length).toBeGreaterThan(0);

    // 2. traffic replaces them
    await bob.daemon.backend.ack(bob.log.messages(alice.userId).map((m) => m.messageId));
    await alice.log.until((l) => deliveredCount(l, queuedIds) === queued.length, 'queued messages delivered', 60_000);
    const carol = await startDaemon('carol', await tempDir('carol'), url);
    const carolIds = await sendAll(carol, bob, ['hello from carol']);
    await receiveAndAck(bob, carol, ['hello from carol']);
    await carol.log.until((l) => deliveredCount(l, carolIds) === 1, "carol's message delivered", 60_000);
    const toBob: string[] = [];
    const toAlice: string[] = [];
    for (let round = 0; round < 40; round++) {
      toBob.push(`to bob ${round}`);
      toAlice.push(`to alice ${round}`);
    }
    const [toBobIds, toAliceIds] = await Promise.all([sendAll(alice, bob, toBob), sendAll(bob, alice, toAlice)]);
    await Promise.all([receiveAndAck(bob, alice, toBob), receiveAndAck(alice, bob, toAlice)]);
    await alice.log.until((l) => deliveredCount(l, toBobIds) === toBob.length, "alice's messages delivered", 60_000);
    await bob.log.until((l) => deliveredCount(l, toAliceIds) === toAlice.length, "bob's messages delivered", 60_000);
    expect((await alice.daemon.backend.getStatus()).outboxDepth).toBe(0);

    // 3. the live data dirs after a scrub
    const checked: Array<{ who: Running; recorded: Map<string, Buffer>; claim: readonly string[] }> = [
      { who: alice, recorded: alice1, claim: ['peer', 'routingTag', 'outbox'] },
      { who: bob, recorded: bob1, claim: ['peer', 'routingTag', 'inbox', 'prekeys'] },
    ];
    const everReplaced = new Map<Running, Map<string, Buffer>>();
    for (const { who, recorded, claim } of checked) {
      const copy = await copyAfterScrub(who);
      const now = await sealedRecords(copy);
      const replaced = replacedSince(recorded, now);
      for (const kind of claim) expect(kindsOf(replaced), `${who.name}: a replaced ${kind} record`).toContain(kind);
      expect(found(copy, replaced), `${who.name}'s live data dir after a scrub`).toEqual([]);
      // control: the same search finds every live record
      const live = [...now].map(([k, value]) => ({ kind: kindOf(k), value }));
      expect(live.filter((r) => filesHolding(copy, r.value).length === 0).map((r) => r.kind)).toEqual([]);
      everReplaced.set(who, new Map([...recorded, ...now]));
    }

    // 4. after a clean shutdown: nothing replaced by then is left either
    await stop(carol);
    for (const { who } of checked) {
      const all = everReplaced.get(who)!;
      await stop(who);
      const copy = await readAllFiles(who.dataDir);
      const replaced = replacedSince(all, await sealedRecords(copy));
      expect(replaced.length).toBeGreaterThan(0); // the last messages and receipts replaced something
      expect(found(copy, replaced), `${who.name}'s data dir after a clean shutdown`).toEqual([]);
    }
  }, 180_000);
});
