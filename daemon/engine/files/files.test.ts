/**
 * File transfers between two engines through the in-process relay: sizes at the chunk boundaries
 * and a multi-MiB file arrive byte-identical, once, only after the whole file is stored; the relay
 * sees chunk envelopes of one size and never a slice of the plaintext; a restart of either side
 * resumes without sending again what the recipient stored; tampered chunks are refused; the quota,
 * the timeout for incomplete transfers and the deletion after ack hold.
 */
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { FILE_CHUNK_BYTES, chunkCountFor } from '../../../core/file/format.ts';
import { FILE_CHUNK_ENVELOPE_BYTES, isChunkEnvelope } from '../../../core/file/chunk-envelope.ts';
import type { UserId } from '../../../core/user-id.ts';
import type { RelayTransport } from '../../relay/transport.ts';
import { text, type TestDaemon } from '../test-support.ts';
import type { DaemonEvent, FileProgressEvent, InboundMessage } from '../types.ts';
import { FAST, fileTestScope } from './file-test-scope.ts';
import { containsPlaintextSlice } from './plaintext-probe.ts';

const scope = fileTestScope('files');
const { start, restart } = scope;

async function* pieces(data: Uint8Array, size = 100_000): AsyncGenerator<Uint8Array> {
  for (let at = 0; at < data.length; at += size) yield data.subarray(at, at + size);
}

function sendFile(from: TestDaemon, to: UserId, data: Uint8Array, fileName = 'data.bin'): Promise<{ messageId: string; attachmentId: string }> {
  return from.daemon.backend.sendFile!({ to, fileName, contentType: 'application/octet-stream', size: data.length }, pieces(data));
}

async function download(d: TestDaemon, attachmentId: string, offset = 0): Promise<Buffer> {
  const parts: Uint8Array[] = [];
  for await (const p of d.daemon.backend.downloadAttachment!(attachmentId, offset)) parts.push(p);
  return Buffer.concat(parts);
}

const withAttachment = (d: TestDaemon): InboundMessage[] => d.log.messages().filter((m) => m.attachment !== undefined);
const progress = (d: TestDaemon, direction: 'send' | 'receive'): FileProgressEvent[] =>
  d.log.events.filter((e: DaemonEvent): e is FileProgressEvent => e.kind === 'fileProgress' && e.direction === direction);
const chunksTo = (to: UserId): Uint8Array[] => scope.net.hub.published.filter((p) => p.to === to && isChunkEnvelope(p.envelope)).map((p) => p.envelope);

/** Resolves when check() holds (looked at every 10 ms, for effects that send no event); fails after a deadline. */
async function poll(check: () => boolean, what: string, deadlineMs = 10_000): Promise<void> {
  const end = Date.now() + deadlineMs;
  while (!check()) {
    if (Date.now() > end) throw new Error(`timed out waiting for: ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

/** Introduce a contact: one message each way. */
async function pair(a: TestDaemon, b: TestDaemon): Promise<void> {
  await a.daemon.backend.send({ to: b.userId, body: text('hi') });
  await b.log.until((l) => l.texts().includes('hi'), 'first message');
}

describe('file transfers', () => {
  it.each([
    ['1 byte', 1],
    ['exactly one chunk', FILE_CHUNK_BYTES],
    ['one chunk + 1 byte', FILE_CHUNK_BYTES + 1],
  ])('%s arrives byte-identical, once, with its attachment; deleted after the ack', async (_name, size) => {
    const alice = await start('alice');
    const bob = await start('bob');
    const data = scope.net.crypto.randomBytes(size);
    const { messageId, attachmentId } = await sendFile(alice, bob.userId, data, 'report.bin');
    await bob.log.until(() => withAttachment(bob).length === 1, 'the file message');
    const [m] = withAttachment(bob);
    expect(m!.messageId).toBe(messageId);
    expect(m!.body.length).toBe(0);
    expect(m!.attachment).toMatchObject({ attachmentId, fileName: 'report.bin', contentType: 'application/octet-stream', size });
    expect(Buffer.from(m!.attachment!.sha256).toString('hex')).toBe(Buffer.from(scope.net.crypto.sha256(data)).toString('hex'));
    expect((await download(bob, attachmentId)).equals(Buffer.from(data))).toBe(true);
    if (size > 1) expect((await download(bob, attachmentId, size - 1)).equals(Buffer.from(data.subarray(size - 1)))).toBe(true);
    await alice.log.until(() => progress(alice, 'send').some((p) => p.state === 'complete'), 'the sender sees it complete');
    expect(progress(bob, 'receive').at(-1)).toMatchObject({ state: 'complete', bytesDone: size, bytesTotal: size });
    // The relay saw chunk envelopes of one size, as many as the bucketed count.
    const chunks = chunksTo(bob.userId);
    expect(chunks.length).toBe(chunkCountFor(size));
    for (const c of chunks) expect(c.length).toBe(FILE_CHUNK_ENVELOPE_BYTES);
    // The spool is gone; the attachment is deleted once the message is acked.
    await poll(() => readdirSync(join(scope.root, 'alice', 'files', 'out')).length === 0, 'spool removed');
    expect(existsSync(join(scope.root, 'bob', 'attachments', attachmentId))).toBe(true);
    await bob.daemon.backend.ack([messageId]);
    await poll(() => !existsSync(join(scope.root, 'bob', 'attachments', attachmentId)), 'attachment deleted after the ack');
    await expect(download(bob, attachmentId)).rejects.toMatchObject({ code: 'AttachmentNotFound' });
    expect(bob.log.messages().filter((x) => x.messageId === messageId)).toHaveLength(1);
  });

  it('a sender whose window is larger than its recipient\'s is not stalled: every chunk is taken the first time', async () => {
    // no resend within the test: a chunk the recipient did not know yet would wait for it
    const alice = await start('alice', { files: { ...FAST, windowChunks: 64, resendAfterMs: 600_000 } });
    const bob = await start('bob', { files: { ...FAST, windowChunks: 8, resendAfterMs: 600_000 } });
    const data = scope.net.crypto.randomBytes(48 * FILE_CHUNK_BYTES);
    const { attachmentId } = await sendFile(alice, bob.userId, data);
    await bob.log.until(() => withAttachment(bob).length === 1, 'the file, without a resend', 20_000);
    expect(chunksTo(bob.userId).length).toBe(chunkCountFor(data.length));
    expect((await download(bob, attachmentId)).equals(Buffer.from(data))).toBe(true);
  });

  it('a sender whose window is below the recipient\'s report interval goes on after a pause, not after its resend time', async () => {
    const alice = await start('alice', { files: { ...FAST, windowChunks: 8, resendAfterMs: 600_000 } });
    const bob = await start('bob', { files: { ...FAST, progressEveryChunks: 32, resendAfterMs: 600_000 } });
    await pair(alice, bob);
    const data = scope.net.crypto.randomBytes(40 * FILE_CHUNK_BYTES);
    await sendFile(alice, bob.userId, data);
    // Without the pause report the sender would wait 10 minutes after its first 8 chunks.
    await bob.log.until(() => withAttachment(bob).length === 1, 'the file message');
    expect(chunksTo(bob.userId).length).toBe(chunkCountFor(data.length)); // each chunk sent once
  });

  it('the descriptor is receipted like a message: delivered without being sent again', async () => {
    const alice = await start('alice');
    const bob = await start('bob');
    const { messageId } = await sendFile(alice, bob.userId, scope.net.crypto.randomBytes(1000));
    await alice.log.until(
      () => alice.log.events.some((e) => e.kind === 'delivery' && e.messageId === messageId && e.state === 'delivered'),
      'the file message delivered',
      10_000, // under the outbox's first retransmission (15 s): the receipt, not a duplicate, did it
    );
    // alice sent bob one envelope besides the chunks: the descriptor, once
    expect(scope.net.hub.published.filter((p) => p.to === bob.userId && !isChunkEnvelope(p.envelope))).toHaveLength(1);
  });

  it('a 6 MiB random file: identical bytes, and no 48-byte slice of it in anything the relay carried', async () => {
    const alice = await start('alice');
    const bob = await start('bob');
    const data = scope.net.crypto.randomBytes(6 * 1024 * 1024 + 777);
    const { attachmentId } = await sendFile(alice, bob.userId, data);
    await bob.log.until(() => withAttachment(bob).length === 1, 'the file message', 60_000);
    expect((await download(bob, attachmentId)).equals(Buffer.from(data))).toBe(true);
    const carried = Buffer.concat(scope.net.hub.published.map((p) => p.envelope));
    expect(containsPlaintextSlice(carried, data, 48)).toBe(false);
    expect(containsPlaintextSlice(Buffer.concat([carried, data.subarray(5000, 5048)]), data, 48)).toBe(true); // the probe finds one
    // Every chunk at most once more than needed (no duplicates without a loss).
    expect(chunksTo(bob.userId).length).toBe(chunkCountFor(data.length));
    // Progress on both sides grew to the total.
    const sent = progress(alice, 'send');
    expect(sent.some((p) => p.bytesDone > 0 && p.bytesDone < data.length)).toBe(true);
    expect(progress(bob, 'receive').map((p) => p.bytesDone)).toEqual([...progress(bob, 'receive').map((p) => p.bytesDone)].sort((a, b) => a - b));
  });

  it('a restart of the recipient mid-transfer resumes from what it stored: one verified file', async () => {
    const alice = await start('alice');
    let bob = await start('bob');
    await pair(alice, bob);
    const data = scope.net.crypto.randomBytes(40 * FILE_CHUNK_BYTES + 5);
    const { attachmentId } = await sendFile(alice, bob.userId, data);
    await bob.log.until(() => progress(bob, 'receive').some((p) => p.bytesDone >= 12 * FILE_CHUNK_BYTES), 'part of the file stored');
    bob = await restart('bob', bob);
    await bob.log.until(() => withAttachment(bob).length === 1, 'the file after the restart', 30_000);
    expect((await download(bob, attachmentId)).equals(Buffer.from(data))).toBe(true);
    // Sent again at most what was past the last report: a window and a report interval.
    expect(chunksTo(bob.userId).length).toBeLessThanOrEqual(chunkCountFor(data.length) + FAST.windowChunks! + FAST.progressEveryChunks!);
  });

  it('a restart of the sender mid-transfer resumes from the recipient\'s last report: one verified file', async () => {
    let alice = await start('alice');
    const bob = await start('bob');
    await pair(alice, bob);
    const data = scope.net.crypto.randomBytes(40 * FILE_CHUNK_BYTES);
    const { attachmentId } = await sendFile(alice, bob.userId, data);
    await bob.log.until(() => progress(bob, 'receive').some((p) => p.bytesDone >= 12 * FILE_CHUNK_BYTES), 'part of the file stored');
    alice = await restart('alice', alice);
    await bob.log.until(() => withAttachment(bob).length === 1, 'the file after the restart', 30_000);
    expect((await download(bob, attachmentId)).equals(Buffer.from(data))).toBe(true);
    expect(chunksTo(bob.userId).length).toBeLessThanOrEqual(chunkCountFor(data.length) + FAST.windowChunks! + FAST.progressEveryChunks!);
    expect(withAttachment(bob)).toHaveLength(1);
  });

  it('a tampered chunk is refused; the authentic copy sent again completes the file', async () => {
    let tamperedOnce = false;
    const tamper = (t: RelayTransport): RelayTransport =>
      new Proxy(t, {
        get(target, prop) {
          if (prop === 'onEnvelope') {
            return (h: (b: Uint8Array) => Promise<void>) =>
              target.onEnvelope((b) => {
                if (isChunkEnvelope(b) && !tamperedOnce && chunksTo(bobId).length >= 3) {
                  tamperedOnce = true;
                  const copy = b.slice();
                  copy[copy.length - 100]! ^= 1;
                  return h(copy);
                }
                return h(b);
              });
          }
          const v: unknown = Reflect.get(target, prop, target);
          return typeof v === 'function' ? (v as (...a: unknown[]) => unknown).bind(target) : v;
        },
      });
    const alice = await start('alice');
    const bob = await start('bob', { wrapRelay: tamper });
    const bobId = bob.userId;
    const data = scope.net.crypto.randomBytes(6 * FILE_CHUNK_BYTES);
    const { attachmentId } = await sendFile(alice, bob.userId, data);
    await bob.log.until(() => withAttachment(bob).length === 1, 'the file despite one tampered chunk', 30_000);
    expect(tamperedOnce).toBe(true);
    expect((await download(bob, attachmentId)).equals(Buffer.from(data))).toBe(true);
  });

  it('chunks that never authenticate (tampered, reordered, truncated stream): nothing delivered, the daemon healthy', async () => {
    const mangle = (t: RelayTransport): RelayTransport =>
      new Proxy(t, {
        get(target, prop) {
          if (prop === 'onEnvelope') {
            return (h: (b: Uint8Array) => Promise<void>) =>
              target.onEnvelope((b) => {
                if (!isChunkEnvelope(b)) return h(b);
                const copy = b.slice();
                copy[copy.length - 1]! ^= 0x80; // every chunk: its MAC no longer matches
                return h(copy);
              });
          }
          const v: unknown = Reflect.get(target, prop, target);
          return typeof v === 'function' ? (v as (...a: unknown[]) => unknown).bind(target) : v;
        },
      });
    const alice = await start('alice');
    const bob = await start('bob', { wrapRelay: mangle });
    await sendFile(alice, bob.userId, scope.net.crypto.randomBytes(3 * FILE_CHUNK_BYTES));
    await bob.log.until(() => progress(bob, 'receive').length > 0, 'the transfer opened');
    await scope.net.hub.idle();
    expect(withAttachment(bob)).toHaveLength(0);
    expect(progress(bob, 'receive').every((p) => p.bytesDone === 0)).toBe(true);
    // The daemon goes on: a message after the refused chunks arrives.
    await alice.daemon.backend.send({ to: bob.userId, body: text('still here') });
    await bob.log.until((l) => l.texts().includes('still here'), 'a message after the bad chunks');
    expect(withAttachment(bob)).toHaveLength(0);
  });

  it('a file over the recipient\'s quota is refused with a reason the sender sees; nothing is delivered', async () => {
    const alice = await start('alice');
    const bob = await start('bob', { files: { ...FAST, quotaBytes: 3 * FILE_CHUNK_BYTES } });
    const { messageId } = await sendFile(alice, bob.userId, scope.net.crypto.randomBytes(5 * FILE_CHUNK_BYTES));
    await alice.log.until(() => progress(alice, 'send').some((p) => p.messageId === messageId && p.state === 'failed'), 'the sender sees the refusal');
    expect(withAttachment(bob)).toHaveLength(0);
    expect(progress(bob, 'receive').at(-1)?.state).toBe('failed');
    // The sender's own quota: a clear error, nothing kept.
    const small = await start('carol', { files: { ...FAST, quotaBytes: 2 * FILE_CHUNK_BYTES } });
    await expect(sendFile(small, bob.userId, scope.net.crypto.randomBytes(4 * FILE_CHUNK_BYTES))).rejects.toMatchObject({ code: 'FileQuotaExceeded' });
    expect(readdirSync(join(scope.root, 'carol', 'files', 'out'))).toEqual([]);
  });

  it('an incomplete transfer is deleted after the timeout', async () => {
    const alice = await start('alice');
    const bob = await start('bob', { files: { ...FAST, incompleteTimeoutMs: 60_000 } });
    await pair(alice, bob);
    scope.net.hub.disconnect(bob.userId);
    // Alice stops for good once the descriptor is out; bob opens the transfer and waits.
    await sendFile(alice, bob.userId, scope.net.crypto.randomBytes(30 * FILE_CHUNK_BYTES));
    await scope.stop(alice);
    scope.net.hub.reconnect(bob.userId);
    await bob.log.until(() => progress(bob, 'receive').length > 0, 'the transfer opened');
    expect(readdirSync(join(scope.root, 'bob', 'attachments'))).toHaveLength(1);
    scope.net.clock.offsetMs += 61_000;
    await bob.log.until(() => progress(bob, 'receive').some((p) => p.state === 'failed'), 'given up after the timeout');
    expect(readdirSync(join(scope.root, 'bob', 'attachments'))).toEqual([]);
    expect(withAttachment(bob)).toHaveLength(0);
  });
});
