/**
 * Files to a group, through the engine and the in-process relay: sealed once into one spool, each
 * member gets the file exactly once with its attachment and group id, only after the SHA-256
 * matched, whatever the others do (one offline, then back; a restart of the sender or a member mid-
 * transfer); each member's chunks are wrapped for it alone (no two inboxes see the same bytes); a
 * member removed before the send gets nothing; tampered chunks and a lying SHA-256 are refused.
 * And SendFile's idempotency key: the same key again returns the same message id, sends nothing.
 */
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { isChunkEnvelope } from '../../../core/file/chunk-envelope.ts';
import { FILE_CHUNK_BYTES, chunkCountFor } from '../../../core/file/format.ts';
import { MEMBER_CHUNK_ENVELOPE_BYTES, isMemberChunkEnvelope } from '../../../core/file/member-chunk.ts';
import { FileSealer } from '../../../core/file/seal.ts';
import type { UserId } from '../../../core/user-id.ts';
import type { RelayTransport } from '../../relay/transport.ts';
import type { TestDaemon } from '../test-support.ts';
import type { DaemonEvent, FileProgressEvent, GroupInfo, InboundMessage } from '../types.ts';
import { FAST, fileTestScope } from './file-test-scope.ts';
import { containsPlaintextSlice } from './plaintext-probe.ts';

const scope = fileTestScope('group-files');
const { start, restart } = scope;
// registered after the scope's hooks: runs before the daemons close (afterEach hooks run in reverse)
afterEach(() => {
  vi.restoreAllMocks();
});

async function* pieces(data: Uint8Array, size = 100_000): AsyncGenerator<Uint8Array> {
  for (let at = 0; at < data.length; at += size) yield data.subarray(at, at + size);
}

function sendToGroup(from: TestDaemon, groupId: string, data: Uint8Array, idempotencyKey?: string): Promise<{ messageId: string; attachmentId: string }> {
  return from.daemon.backend.sendFile!({ groupId, fileName: 'build.log', contentType: 'text/plain', size: data.length, ...(idempotencyKey === undefined ? {} : { idempotencyKey }) }, pieces(data));
}

async function download(d: TestDaemon, attachmentId: string): Promise<Buffer> {
  const parts: Uint8Array[] = [];
  for await (const p of d.daemon.backend.downloadAttachment!(attachmentId, 0)) parts.push(p);
  return Buffer.concat(parts);
}

const withAttachment = (d: TestDaemon): InboundMessage[] => d.log.messages().filter((m) => m.attachment !== undefined);
const progress = (d: TestDaemon, direction: 'send' | 'receive'): FileProgressEvent[] =>
  d.log.events.filter((e: DaemonEvent): e is FileProgressEvent => e.kind === 'fileProgress' && e.direction === direction);
const memberChunksTo = (to: UserId): Uint8Array[] => scope.net.hub.published.filter((p) => p.to === to && isMemberChunkEnvelope(p.envelope)).map((p) => p.envelope);
const completeFor = (sender: TestDaemon, messageId: string): Set<UserId> =>
  new Set(progress(sender, 'send').filter((p) => p.messageId === messageId && p.state === 'complete').map((p) => p.peer));
const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex');

/** Waits until `d` has applied version `version` of the group. */
const atVersion = (d: TestDaemon, groupId: string, version: number) =>
  d.log.until((l) => l.events.some((e) => e.kind === 'groupChanged' && e.group.groupId === groupId && e.group.version >= version), `version ${version} at ${d.userId}`);

async function group(owner: TestDaemon, members: TestDaemon[]): Promise<GroupInfo> {
  const g = await owner.daemon.backend.createGroup('ci', members.map((m) => m.userId));
  await Promise.all(members.map((m) => atVersion(m, g.groupId, 1)));
  return g;
}

/** Resolves when check() holds (for effects that send no event); fails after a deadline. */
async function poll(check: () => boolean, what: string, deadlineMs = 10_000): Promise<void> {
  const end = Date.now() + deadlineMs;
  while (!check()) {
    if (Date.now() > end) throw new Error(`timed out waiting for: ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

/** Checks that `d` got the file exactly once, with its group, and that it downloads byte-identical. */
async function expectFile(d: TestDaemon, groupId: string, from: UserId, messageId: string, attachmentId: string, data: Uint8Array): Promise<void> {
  const got = withAttachment(d);
  expect(got).toHaveLength(1);
  expect(got[0]).toMatchObject({ messageId, from, groupId, attachment: { attachmentId, fileName: 'build.log', contentType: 'text/plain', size: data.length } });
  expect(hex(got[0]!.attachment!.sha256)).toBe(hex(scope.net.crypto.sha256(data)));
  expect((await download(d, attachmentId)).equals(Buffer.from(data))).toBe(true);
}

/** A relay transport whose inbound member chunks are changed by `f` (undefined: passed as is). */
const mangling =
  (f: (b: Uint8Array) => Uint8Array | undefined) =>
  (t: RelayTransport): RelayTransport =>
    new Proxy(t, {
      get(target, prop) {
        if (prop === 'onEnvelope') {
          return (h: (b: Uint8Array) => Promise<void>) => target.onEnvelope((b) => h(isMemberChunkEnvelope(b) ? (f(b) ?? b) : b));
        }
        const v: unknown = Reflect.get(target, prop, target);
        return typeof v === 'function' ? (v as (...a: unknown[]) => unknown).bind(target) : v;
      },
    });

describe('files to a group', () => {
  it('three members, one offline then back: sealed once (one spool), each gets it once with groupId after its SHA-256, per-member progress; no two inboxes share chunk bytes', async () => {
    const a = await start('a');
    const [b, c, d] = [await start('b'), await start('c'), await start('d')];
    const g = await group(a, [b, c, d]);
    scope.net.hub.disconnect(d.userId);
    const data = scope.net.crypto.randomBytes(20 * FILE_CHUNK_BYTES + 5);
    const { messageId, attachmentId } = await sendToGroup(a, g.groupId, data);
    // one spool for the three members
    expect(readdirSync(join(scope.root, 'a', 'files', 'out'))).toEqual([attachmentId]);
    await Promise.all([b, c].map((m) => m.log.until(() => withAttachment(m).length === 1, `the file at ${m.userId}`, 30_000)));
    for (const m of [b, c]) await expectFile(m, g.groupId, a.userId, messageId, attachmentId, data);
    // The offline member holds nobody up and has nothing yet; back online, it gets the file.
    expect(withAttachment(d)).toHaveLength(0);
    expect(completeFor(a, messageId)).toEqual(new Set([b.userId, c.userId]));
    expect(readdirSync(join(scope.root, 'a', 'files', 'out'))).toEqual([attachmentId]); // kept for d
    scope.net.hub.reconnect(d.userId);
    await d.log.until(() => withAttachment(d).length === 1, 'the file at d once back', 30_000);
    await expectFile(d, g.groupId, a.userId, messageId, attachmentId, data);
    await a.log.until(() => completeFor(a, messageId).size === 3, 'complete for every member');
    await poll(() => readdirSync(join(scope.root, 'a', 'files', 'out')).length === 0, 'the spool removed after the last member');
    // Per-member progress on the sender's side, with the group.
    for (const m of [b, c, d]) {
      const mine = progress(a, 'send').filter((p) => p.peer === m.userId);
      expect(mine.some((p) => p.bytesDone > 0 && p.bytesDone < data.length)).toBe(true);
      expect(mine.at(-1)).toMatchObject({ state: 'complete', bytesDone: data.length, groupId: g.groupId });
    }
    expect(progress(b, 'receive').at(-1)).toMatchObject({ state: 'complete', groupId: g.groupId, peer: a.userId });
    // What the relay carried: member chunks of one size, the bucketed count per member, no
    // envelope (nor any 48-byte slice of one) in two inboxes, no slice of the plaintext anywhere.
    const perMember = [b, c, d].map((m) => memberChunksTo(m.userId));
    for (const chunks of perMember) {
      expect(chunks.length).toBeGreaterThanOrEqual(chunkCountFor(data.length));
      for (const e of chunks) expect(e.length).toBe(MEMBER_CHUNK_ENVELOPE_BYTES);
    }
    expect(scope.net.hub.published.some((p) => isChunkEnvelope(p.envelope))).toBe(false);
    const tags = perMember.map((chunks) => new Set(chunks.map((e) => hex(e.subarray(2, 18)))));
    expect(tags[0]!.size + tags[1]!.size + tags[2]!.size).toBe(new Set([...tags[0]!, ...tags[1]!, ...tags[2]!]).size);
    expect(containsPlaintextSlice(Buffer.concat(perMember[0]!), perMember[1]![0]!.subarray(100, 148), 48)).toBe(false);
    expect(containsPlaintextSlice(Buffer.concat(scope.net.hub.published.map((p) => p.envelope)), data, 48)).toBe(false);
  });

  it('a member removed before the send gets nothing of the file; one removed mid-transfer gets no more chunks', async () => {
    const a = await start('a');
    const [b, c, d] = [await start('b'), await start('c'), await start('d')];
    const g = await group(a, [b, c, d]);
    await a.daemon.backend.removeMembers(g.groupId, [c.userId]);
    await Promise.all([atVersion(b, g.groupId, 2), atVersion(d, g.groupId, 2)]);
    await c.log.until((l) => l.events.some((e) => e.kind === 'groupChanged' && e.removed), 'c learns it is out');
    const data = scope.net.crypto.randomBytes(40 * FILE_CHUNK_BYTES);
    scope.net.hub.disconnect(d.userId);
    const { messageId } = await sendToGroup(a, g.groupId, data);
    await b.log.until(() => withAttachment(b).length === 1, 'the file at b', 30_000);
    // d is removed while its transfer waits: it gets no chunk of it, and the sender gives it up.
    await a.daemon.backend.removeMembers(g.groupId, [d.userId]);
    scope.net.hub.reconnect(d.userId);
    await d.log.until((l) => l.events.some((e) => e.kind === 'groupChanged' && e.removed), 'd learns it is out');
    await a.log.until(() => progress(a, 'send').some((p) => p.peer === d.userId && p.state === 'failed'), 'the transfer to d given up');
    await scope.net.hub.idle();
    expect(memberChunksTo(c.userId)).toEqual([]);
    expect(withAttachment(c)).toHaveLength(0);
    expect(progress(a, 'send').some((p) => p.peer === c.userId)).toBe(false);
    expect(memberChunksTo(d.userId)).toEqual([]);
    expect(withAttachment(d)).toHaveLength(0);
    expect(completeFor(a, messageId)).toEqual(new Set([b.userId]));
    await poll(() => readdirSync(join(scope.root, 'a', 'files', 'out')).length === 0, 'the spool removed');
    // d, out of the group, drops what it had opened of the transfer.
    await d.log.until(() => progress(d, 'receive').some((p) => p.state === 'failed'), 'd drops the transfer');
    expect(readdirSync(join(scope.root, 'd', 'attachments'))).toEqual([]);
  });

  it('a restart of the sender and of a member mid-transfer: each member gets one verified file, without the stored part sent again', async () => {
    let a = await start('a');
    let b = await start('b');
    const c = await start('c');
    const g = await group(a, [b, c]);
    const data = scope.net.crypto.randomBytes(40 * FILE_CHUNK_BYTES);
    const { messageId, attachmentId } = await sendToGroup(a, g.groupId, data);
    await b.log.until(() => progress(b, 'receive').some((p) => p.bytesDone >= 12 * FILE_CHUNK_BYTES), 'part of the file at b');
    a = await restart('a', a);
    await b.log.until(() => progress(b, 'receive').some((p) => p.bytesDone >= 24 * FILE_CHUNK_BYTES), 'more of the file at b');
    b = await restart('b', b);
    await Promise.all([b, c].map((m) => m.log.until(() => withAttachment(m).length === 1, `the file at ${m.userId}`, 30_000)));
    for (const m of [b, c]) await expectFile(m, g.groupId, a.userId, messageId, attachmentId, data);
    // Sent again at most what was past the last reports: per restart a window and a report interval.
    for (const m of [b, c]) expect(memberChunksTo(m.userId).length).toBeLessThanOrEqual(chunkCountFor(data.length) + 2 * (FAST.windowChunks! + FAST.progressEveryChunks!));
    await a.log.until(() => completeFor(a, messageId).size === 2, 'complete for both after the restarts');
  });

  it('a member that is not the owner sends a file to the group: the owner and the other member get it, with groupId', async () => {
    const a = await start('a');
    const [b, c] = [await start('b'), await start('c')];
    const g = await group(a, [b, c]);
    const data = scope.net.crypto.randomBytes(5 * FILE_CHUNK_BYTES + 3);
    const { messageId, attachmentId } = await sendToGroup(b, g.groupId, data);
    await Promise.all([a, c].map((m) => m.log.until(() => withAttachment(m).length === 1, `the file at ${m.userId}`, 30_000)));
    for (const m of [a, c]) await expectFile(m, g.groupId, b.userId, messageId, attachmentId, data);
    await b.log.until(() => completeFor(b, messageId).size === 2, 'complete for both');
    // Unknown group, or a file announced by an API client under the reserved content type: refused.
    await expect(sendToGroup(b, 'a'.repeat(26), data)).rejects.toMatchObject({ code: 'UnknownGroup' });
    await expect(b.daemon.backend.send({ groupId: g.groupId, body: new Uint8Array(10), contentType: 'application/vnd.ratchetd.file' })).rejects.toMatchObject({ code: 'InvalidArgument' });
  });

  it('memory stays bounded: with a slow broker, at most one window of chunks is in flight from the sender for all members together', async () => {
    let outstanding = 0;
    let peak = 0;
    const slowAcks = (t: RelayTransport): RelayTransport =>
      new Proxy(t, {
        get(target, prop) {
          if (prop === 'publishEnvelope') {
            return async (to: UserId, e: Uint8Array) => {
              if (!isMemberChunkEnvelope(e)) return target.publishEnvelope(to, e);
              outstanding += 1;
              peak = Math.max(peak, outstanding);
              try {
                await target.publishEnvelope(to, e);
                // A broker slow to PUBACK: long enough that the sender fills its window however
                // loaded the machine (at 5 ms a loaded run peaked at 6 of 8).
                await new Promise((r) => setTimeout(r, 100));
              } finally {
                outstanding -= 1;
              }
            };
          }
          const v: unknown = Reflect.get(target, prop, target);
          return typeof v === 'function' ? (v as (...a: unknown[]) => unknown).bind(target) : v;
        },
      });
    const a = await start('a', { wrapRelay: slowAcks });
    const [b, c, d] = [await start('b'), await start('c'), await start('d')];
    const g = await group(a, [b, c, d]);
    const data = scope.net.crypto.randomBytes(24 * FILE_CHUNK_BYTES);
    await sendToGroup(a, g.groupId, data);
    await Promise.all([b, c, d].map((m) => m.log.until(() => withAttachment(m).length === 1, `the file at ${m.userId}`, 30_000)));
    // Three members' windows would allow 3 × 8 in flight; the spool's bound is one window.
    expect(peak).toBe(FAST.windowChunks);
  });

  it('tampered member chunks are refused (the authentic one sent again completes it); every chunk tampered: nothing delivered there, the others unaffected', async () => {
    let once = false;
    const a = await start('a');
    const b = await start('b', {
      wrapRelay: mangling((e) => {
        if (once || memberChunksTo(b.userId).length < 3) return undefined;
        once = true;
        const copy = e.slice();
        copy[copy.length - 100]! ^= 1;
        return copy;
      }),
    });
    const c = await start('c', {
      wrapRelay: mangling((e) => {
        const copy = e.slice();
        copy[40]! ^= 0x80;
        return copy;
      }),
    });
    const d = await start('d');
    const g = await group(a, [b, c, d]);
    const data = scope.net.crypto.randomBytes(6 * FILE_CHUNK_BYTES);
    const { messageId, attachmentId } = await sendToGroup(a, g.groupId, data);
    await Promise.all([b, d].map((m) => m.log.until(() => withAttachment(m).length === 1, `the file at ${m.userId}`, 30_000)));
    expect(once).toBe(true);
    for (const m of [b, d]) await expectFile(m, g.groupId, a.userId, messageId, attachmentId, data);
    await c.log.until(() => progress(c, 'receive').length > 0, 'the transfer opened at c');
    await scope.net.hub.idle();
    expect(withAttachment(c)).toHaveLength(0);
    expect(progress(c, 'receive').every((p) => p.bytesDone === 0)).toBe(true);
  });

  it('a SHA-256 that does not match the bytes: refused by every member, nothing delivered, the sender sees each refusal', async () => {
    const finish = FileSealer.prototype.finish;
    vi.spyOn(FileSealer.prototype, 'finish').mockImplementation(function (this: FileSealer, name: string, type: string) {
      const r = finish.call(this, name, type);
      return { ...r, descriptor: { ...r.descriptor, sha256: new Uint8Array(32).fill(7) } };
    });
    const a = await start('a');
    const [b, c] = [await start('b'), await start('c')];
    const g = await group(a, [b, c]);
    const { messageId } = await sendToGroup(a, g.groupId, scope.net.crypto.randomBytes(3 * FILE_CHUNK_BYTES + 1));
    await a.log.until(() => new Set(progress(a, 'send').filter((p) => p.messageId === messageId && p.state === 'failed').map((p) => p.peer)).size === 2, 'both refusals');
    for (const m of [b, c]) {
      expect(withAttachment(m)).toHaveLength(0);
      expect(progress(m, 'receive').at(-1)?.state).toBe('failed');
      expect(readdirSync(join(scope.root, m === b ? 'b' : 'c', 'attachments'))).toEqual([]);
    }
    await poll(() => readdirSync(join(scope.root, 'a', 'files', 'out')).length === 0, 'the spool removed');
  });
});

describe('SendFile idempotency key', () => {
  it('the same key again returns the same message id and sends nothing twice; another file under it is a conflict', async () => {
    const a = await start('a');
    const b = await start('b');
    const data = scope.net.crypto.randomBytes(3 * FILE_CHUNK_BYTES + 9);
    const send = (bytes: Uint8Array, key: string) => a.daemon.backend.sendFile!({ to: b.userId, fileName: 'r.bin', size: bytes.length, idempotencyKey: key }, pieces(bytes));
    const first = await send(data, 'job-41');
    const again = await send(data, 'job-41');
    expect(again.messageId).toBe(first.messageId);
    await b.log.until(() => withAttachment(b).length === 1, 'the file');
    await a.log.until(() => completeFor(a, first.messageId).size === 1, 'the sender sees it complete');
    const third = await send(data, 'job-41'); // after completion too
    expect(third.messageId).toBe(first.messageId);
    await expect(send(scope.net.crypto.randomBytes(100), 'job-41')).rejects.toMatchObject({ code: 'IdempotencyConflict' });
    await scope.net.hub.idle();
    expect(withAttachment(b)).toHaveLength(1);
    expect(scope.net.hub.published.filter((p) => p.to === b.userId && isChunkEnvelope(p.envelope)).length).toBe(chunkCountFor(data.length));
    expect(progress(a, 'send').filter((p) => p.state === 'complete')).toHaveLength(1);
    await poll(() => readdirSync(join(scope.root, 'a', 'files', 'out')).length === 0, 'the one spool removed');
    // Another key is another file.
    const other = await send(data, 'job-42');
    expect(other.messageId).not.toBe(first.messageId);
    await b.log.until(() => withAttachment(b).length === 2, 'the second file');
  });

  it('to a group: the same key returns the same message id, each member gets the file once', async () => {
    const a = await start('a');
    const [b, c] = [await start('b'), await start('c')];
    const g = await group(a, [b, c]);
    const data = scope.net.crypto.randomBytes(2 * FILE_CHUNK_BYTES);
    const first = await sendToGroup(a, g.groupId, data, 'nightly');
    const again = await sendToGroup(a, g.groupId, data, 'nightly');
    expect(again.messageId).toBe(first.messageId);
    expect(readdirSync(join(scope.root, 'a', 'files', 'out'))).toHaveLength(1);
    await Promise.all([b, c].map((m) => m.log.until(() => withAttachment(m).length === 1, `the file at ${m.userId}`, 30_000)));
    await a.log.until(() => completeFor(a, first.messageId).size === 2, 'complete for both');
    await scope.net.hub.idle();
    for (const m of [b, c]) {
      expect(withAttachment(m)).toHaveLength(1);
      expect(memberChunksTo(m.userId).length).toBe(chunkCountFor(data.length));
    }
    await expect(sendToGroup(a, g.groupId, scope.net.crypto.randomBytes(10), 'nightly')).rejects.toMatchObject({ code: 'IdempotencyConflict' });
  });
});
