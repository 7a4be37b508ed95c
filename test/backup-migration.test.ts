/**
 * Migration through `ratchetd backup` / `ratchetd restore` with real processes (broker, two
 * daemons, the CLI) over gRPC: bob is stopped mid-conversation, backed up, restored into a new data
 * dir and started from it, while alice keeps sending. Every message reaches bob exactly once, his
 * replies reach alice, every message of alice's is delivered, and alice gets no identity alert.
 */
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { ApiEvent } from '../daemon/api/client.ts';
import { runCli } from '../daemon/cli/spawn-cli.ts';
import { processParties, type Party } from './fixtures/process-parties.ts';

const parties = processParties('migrate');
const { tempDir, spawn, stopParty } = parties;

/** Resolves as soon as the Receive stream is open (before the replay ends); `until` gives up after 40 s. */
const startParty = (name: string, dir: string, brokerUrl: string): Promise<Party> => parties.startParty(name, dir, brokerUrl, { awaitCaughtUp: false, untilMs: 40_000 });

const messages = (events: ApiEvent[]) => events.flatMap((e) => (e.kind === 'message' ? [e.message] : []));
const texts = (events: ApiEvent[]): string[] => messages(events).map((m) => Buffer.from(m.body).toString('utf8'));
const deliveredIds = (events: ApiEvent[]): Set<string> => new Set(events.flatMap((e) => (e.kind === 'delivery' && e.state === 'delivered' ? [e.messageId] : [])));
const sentIds = (events: ApiEvent[]): Set<string> => new Set(events.flatMap((e) => (e.kind === 'delivery' && e.state === 'sent' ? [e.messageId] : [])));

describe('migrating a daemon to a new data dir (real processes)', () => {
  it('bob backed up and restored mid-conversation: alice keeps talking, nothing is lost or doubled, no alert', async () => {
    const brokerProc = await spawn(['broker', '--port', '0', '--data', await tempDir()], 'broker');
    const brokerUrl = String(brokerProc.ready['mqtt']);
    const alice = await startParty('alice', await tempDir(), brokerUrl);
    const bobDir = await tempDir();
    const bob = await startParty('bob', bobDir, brokerUrl);
    const ids: string[] = [];
    const say = async (body: string): Promise<void> => {
      ids.push((await alice.client.send({ to: bob.userId, body })).messageId);
    };
    await say('a1');
    await say('a2');
    await bob.until((e) => messages(e).length === 2, 'a1, a2');
    await bob.client.send({ to: alice.userId, body: 'b1' });
    await alice.until((e) => texts(e).includes('b1'), 'b1');
    await alice.until((e) => ids.every((id) => deliveredIds(e).has(id)), 'a1, a2 delivered');

    await stopParty(bob, 'SIGTERM');
    await say('a3 while bob is away');
    await say('a4 while bob is away');
    await alice.until((e) => ids.every((id) => sentIds(e).has(id)), 'the broker took a3, a4');

    const work = await tempDir();
    const passFile = join(work, 'pass');
    await writeFile(passFile, 'migrate me\n', { mode: 0o600 });
    const file = join(work, 'bob.backup');
    const backup = await runCli(['backup', '--data', bobDir, '--out', file, '--backup-passphrase-file', passFile, '--kdf-cost', 'interactive']);
    expect(backup.stderr).toBe('');
    expect(backup.code).toBe(0);
    const newDir = join(work, 'bob-on-the-new-host');
    const restore = await runCli(['restore', '--in', file, '--data', newDir, '--backup-passphrase-file', passFile]);
    expect(restore.stderr).toBe('');
    expect(restore.code).toBe(0);

    const bob2 = await startParty('bob2', newDir, brokerUrl);
    expect(bob2.userId).toBe(bob.userId);
    await say('a5 after the move');
    // the restored inbox offers the unacked a1, a2 again (once), then a3..a5 arrive once each
    await bob2.until((e) => messages(e).length >= 5, 'a1..a5 at the restored bob');
    await bob2.client.send({ to: alice.userId, body: 'b2 from the new host' });
    await alice.until((e) => texts(e).includes('b2 from the new host'), 'b2');
    await say('a6');
    await bob2.until((e) => texts(e).includes('a6'), 'a6');
    await alice.until((e) => ids.every((id) => deliveredIds(e).has(id)), 'everything delivered');

    expect(messages(bob2.events).map((m) => m.messageId)).toEqual(ids);
    expect(texts(bob2.events)).toEqual(['a1', 'a2', 'a3 while bob is away', 'a4 while bob is away', 'a5 after the move', 'a6']);
    expect(texts(alice.events)).toEqual(['b1', 'b2 from the new host']);
    expect(alice.events.filter((e) => e.kind === 'identityChanged')).toEqual([]);
    expect(await alice.client.listContacts()).toMatchObject([{ userId: bob.userId, trust: 'unverified' }]);
  });
});
