/**
 * Files end to end with real processes: `ratchetd broker` (LevelDB persistence) and two
 * `ratchetd daemon`s from bin/ratchetd.mjs, each behind a TCP tap. ctl send-file / receive /
 * download; a file that survives kill -9 of the receiver, the sender and the broker mid-transfer and
 * arrives once, verified; no 48-byte slice of the plaintext on either wire; peak RSS of both
 * daemons within 64 MiB of their idle RSS.
 *
 * FILES_E2E_MIB sets the size of the large file (default 12 MiB: on a loaded 2-core machine the
 * transfer runs at a few MB/s; the 200 MiB takes minutes there).
 */
import { createHash, randomFillSync } from 'node:crypto';
import { mkdir, readdir, readFile, writeFile } from 'node:fs/promises';
import { readFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { processParties } from './fixtures/process-parties.ts';
import type { ApiEvent } from '../daemon/api/client.ts';
import { containsPlaintextSlice } from '../daemon/engine/files/plaintext-probe.ts';
import { startTcpTap } from './security/support/tcp-tap.ts';
import { connect } from '../bots/sdk/index.ts';

const LARGE_MIB = Number(process.env['FILES_E2E_MIB'] ?? 12);
const { tempDir, startBroker, startParty, stopParty, kill9, ctl, defer } = processParties('files-e2e');

const sha256 = (b: Uint8Array): string => createHash('sha256').update(b).digest('hex');
const fileMessages = (events: ApiEvent[]) => events.flatMap((e) => (e.kind === 'message' && e.message.attachment !== undefined ? [e.message] : []));
const received = (events: ApiEvent[]): number => {
  let done = 0;
  for (const e of events) if (e.kind === 'fileProgress' && e.direction === 'receive') done = Math.max(done, e.bytesDone);
  return done;
};
/** Peak and current resident set size of a process (MiB), from /proc. */
function rss(pid: number): { peak: number; now: number } {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = (field: string): number => Number(/(\d+) kB/.exec(status.split('\n').find((l) => l.startsWith(field)) ?? '')?.[1] ?? NaN);
  return { peak: kb('VmHWM:') / 1024, now: kb('VmRSS:') / 1024 };
}

describe('files end to end (real processes)', () => {
  it('ctl send-file, ctl receive, ctl download: the same bytes, the attachment on the receive line; receive --save-attachments saves each file before its ack', async () => {
    const broker = await startBroker(await tempDir());
    const [alice, bob] = await Promise.all([startParty('alice', await tempDir(), broker.url), startParty('bob', await tempDir(), broker.url)]);
    const data = randomFillSync(Buffer.alloc(3 * 1024 * 1024 + 17));
    const path = join(alice.dir, 'report.bin');
    await writeFile(path, data);
    const sent = await ctl(alice.socket, 'send-file', bob.userId, path);
    const { messageId } = JSON.parse(sent.stdout.trim()) as { messageId: string };
    expect(sent.stderr).toMatch(/sent 3\.0 of 3\.0 MiB \(100 %\)/);
    const peek = await ctl(bob.socket, 'receive', '--peek');
    const line = JSON.parse(peek.stdout.trim().split('\n').at(-1)!) as { messageId: string; attachment: { attachmentId: string; fileName: string; size: number; sha256: string } };
    expect(line.messageId).toBe(messageId);
    expect(line.attachment).toMatchObject({ fileName: 'report.bin', size: data.length, sha256: sha256(data) });
    const out = join(bob.dir, 'out.bin');
    await ctl(bob.socket, 'download', line.attachment.attachmentId, '--out', out);
    expect((await readFile(out)).equals(data)).toBe(true);
    await expect(ctl(bob.socket, 'download', '00'.repeat(16), '--out', out)).rejects.toMatchObject({ stderr: expect.stringMatching(/NOT_FOUND/) });
    // receive --save-attachments: each file saved (whole, under a safe name) before its message is acked.
    const inbox = join(bob.dir, 'inbox');
    await mkdir(inbox);
    const saved = await ctl(bob.socket, 'receive', '--save-attachments', inbox);
    const savedLine = JSON.parse(saved.stdout.trim().split('\n').at(-1)!) as { messageId: string; savedTo: string };
    expect(savedLine.messageId).toBe(messageId);
    expect(savedLine.savedTo).toBe(join(inbox, `${line.attachment.attachmentId.slice(0, 8)}-report.bin`));
    expect((await readFile(savedLine.savedTo)).equals(data)).toBe(true);
    expect(await readdir(inbox)).toEqual([basename(savedLine.savedTo)]); // no .part left
    // Acked: the attachment is gone from the daemon, and the error says why.
    await expect(ctl(bob.socket, 'download', line.attachment.attachmentId, '--out', out)).rejects.toMatchObject({ stderr: expect.stringMatching(/NOT_FOUND.*deleted once its message is acked/) });
    await expect(ctl(bob.socket, 'receive', '--save-attachments', join(inbox, 'missing'))).rejects.toMatchObject({ stderr: expect.stringMatching(/is not a directory/) });
  });

  it('the bot SDK: bot.sendFile, and ctx.attachment in the handler reads the verified file', async () => {
    const broker = await startBroker(await tempDir());
    const [alice, bob] = await Promise.all([startParty('alice', await tempDir(), broker.url), startParty('bob', await tempDir(), broker.url)]);
    const [aliceBot, bobBot] = await Promise.all([connect({ socket: alice.socket }), connect({ socket: bob.socket })]);
    try {
      bobBot.on('message', async (ctx) => {
        const a = ctx.attachment;
        if (a === undefined) return;
        const bytes = await a.bytes();
        await ctx.reply(`${a.fileName} ${bytes.length} ${sha256(bytes) === Buffer.from(a.sha256).toString('hex') ? 'ok' : 'mismatch'}`);
      });
      await bobBot.start();
      const data = randomFillSync(Buffer.alloc(200_000));
      await aliceBot.sendFile(bob.userId, { fileName: 'photo.jpg', data }, { contentType: 'image/jpeg' });
      const reply = await aliceBot.waitForMessage((ctx) => ctx.from === bob.userId, { timeoutMs: 60_000 });
      expect(reply.text).toBe('photo.jpg 200000 ok');
    } finally {
      await Promise.all([aliceBot.stop(), bobBot.stop()]);
    }
  });

  it(`a ${LARGE_MIB} MiB file survives kill -9 of the receiver, the sender and the broker: one verified file, no plaintext on the wire, RSS bounded`, async () => {
    const brokerDir = await tempDir();
    let broker = await startBroker(brokerDir);
    const aliceTap = await startTcpTap(broker.url);
    const bobTap = await startTcpTap(broker.url);
    defer(() => aliceTap.close());
    defer(() => bobTap.close());
    const aliceDir = await tempDir();
    const bobDir = await tempDir();
    let alice = await startParty('alice', aliceDir, aliceTap.url);
    let bob = await startParty('bob', bobDir, bobTap.url);
    await alice.client.send({ to: bob.userId, body: 'hello' });
    await bob.until((e) => e.some((x) => x.kind === 'message'), 'the first message');
    const idle = { alice: rss(alice.proc.pid).now, bob: rss(bob.proc.pid).now };
    const data = randomFillSync(Buffer.alloc(LARGE_MIB * 1024 * 1024 + 4321));
    const path = join(aliceDir, 'large.bin');
    await writeFile(path, data);
    const { messageId } = await alice.client.sendFile({ to: bob.userId, fileName: 'large.bin', size: data.length }, [data.subarray(0, 5_000_000), data.subarray(5_000_000)]);
    const peaks = { alice: rss(alice.proc.pid).peak, bob: 0 };
    const total = data.length;

    await bob.until((e) => received(e) >= total * 0.2, 'a fifth of the file');
    peaks.bob = Math.max(peaks.bob, rss(bob.proc.pid).peak);
    await stopParty(bob, 'SIGKILL');
    bob = await startParty('bob', bobDir, bobTap.url);

    await bob.until((e) => received(e) >= total * 0.45, 'nearly half of the file');
    peaks.alice = Math.max(peaks.alice, rss(alice.proc.pid).peak);
    await stopParty(alice, 'SIGKILL');
    alice = await startParty('alice', aliceDir, aliceTap.url);

    await bob.until((e) => received(e) >= total * 0.7, 'most of the file');
    await kill9(broker.proc);
    broker = await startBroker(brokerDir, broker.port);

    await bob.until((e) => fileMessages(e).length > 0, 'the file message', 300_000);
    peaks.alice = Math.max(peaks.alice, rss(alice.proc.pid).peak);
    peaks.bob = Math.max(peaks.bob, rss(bob.proc.pid).peak);
    const [m] = fileMessages(bob.events);
    expect(m!.messageId).toBe(messageId);
    expect(m!.attachment).toMatchObject({ fileName: 'large.bin', size: total });
    expect(Buffer.from(m!.attachment!.sha256).toString('hex')).toBe(sha256(data));
    const parts: Uint8Array[] = [];
    for await (const p of bob.client.downloadAttachment(m!.attachment!.attachmentId)) parts.push(p);
    expect(sha256(Buffer.concat(parts))).toBe(sha256(data));
    // Exactly once: a fresh Receive replays it once (it is not acked).
    const replay: ApiEvent[] = [];
    for await (const e of bob.client.receive()) {
      if (e.kind === 'caughtUp') break;
      replay.push(e);
    }
    expect(fileMessages(replay).map((x) => x.messageId)).toEqual([messageId]);
    // Neither wire carried a 48-byte slice of the file.
    expect(containsPlaintextSlice(aliceTap.rawBytes(), data, 48)).toBe(false);
    expect(containsPlaintextSlice(bobTap.rawBytes(), data, 48)).toBe(false);
    // The files went through the taps at all (not around them).
    expect(bobTap.rawBytes().length).toBeGreaterThan(total);
    // Memory: peaks within 64 MiB of idle (each side's peak since its last start).
    console.log(JSON.stringify({ test: 'files-e2e', mib: LARGE_MIB, idle, peaks }));
    expect(peaks.alice).toBeLessThanOrEqual(idle.alice + 64);
    expect(peaks.bob).toBeLessThanOrEqual(idle.bob + 64);
  }, 600_000);
});
