/**
 * `ratchetd ctl send-file USER PATH` (or `--group GROUP PATH`) and `ratchetd ctl download
 * ATTACHMENT_ID --out PATH`.
 *
 * To a group, the wait is for every member the group had when the file was sent: the progress
 * line shows the slowest member and how many are done; exit 1 if any refused it.
 *
 * send-file streams the file to the daemon (which seals it to disk), prints {"messageId"} on stdout,
 * and then, unless --detach, follows the transfer: a progress line on stderr ("sent 12.0 of 200.0
 * MiB (6 %)") until the recipient has stored and verified the whole file (exit 0) or refused it
 * (exit 1). download writes the attachment to PATH.part and renames it to PATH once complete; so
 * does `receive --save-attachments DIR` for each message's attachment, before it acks the message.
 */
import { createReadStream, createWriteStream } from 'node:fs';
import { rename, rm, stat } from 'node:fs/promises';
import { basename } from 'node:path';
import { once } from 'node:events';
import type { MessengerClient } from '../api/client.ts';
import { CliFailure } from './args.ts';
import { printJson } from './ctl-output.ts';

const MIB = 1024 * 1024;
const mib = (n: number): string => (n / MIB).toFixed(1);

function progressLine(label: string, done: number, total: number): void {
  const pct = total === 0 ? 100 : Math.floor((done / total) * 100);
  process.stderr.write(`\r${label} ${mib(done)} of ${mib(total)} MiB (${pct} %)   `);
}

export interface SendFileOptions {
  contentType: string | undefined;
  detach: boolean;
  idempotencyKey: string | undefined;
}

export async function ctlSendFile(client: MessengerClient, target: { to: string } | { groupId: string }, path: string, options: SendFileOptions): Promise<void> {
  const { contentType, detach, idempotencyKey } = options;
  let size: number;
  try {
    const s = await stat(path);
    if (!s.isFile()) throw new CliFailure(`${path} is not a regular file`);
    size = s.size;
  } catch (e) {
    if (e instanceof CliFailure) throw e;
    throw new CliFailure(`cannot read ${path}: ${(e as Error).message}`);
  }
  // Listen before sending, so no progress event is missed (no replay: the cursor is past every message).
  const controller = new AbortController();
  const events = client.receive({ cursor: Number.MAX_SAFE_INTEGER, signal: controller.signal });
  const first = events.next(); // opens the stream
  try {
    // The members a group file waits for (every member but this daemon).
    let members: Set<string> | undefined;
    if ('groupId' in target) {
      const [groups, me] = await Promise.all([client.listGroups(), client.getIdentity()]);
      const g = groups.find((x) => x.groupId === target.groupId);
      if (g === undefined) throw new CliFailure(`this daemon is in no group ${target.groupId}`);
      members = new Set(g.members.filter((m) => m !== me.userId));
    }
    const tty = process.stderr.isTTY === true;
    let lastLine = 0;
    const { messageId } = await client.sendFile(
      {
        ...target,
        fileName: basename(path),
        size,
        ...(contentType === undefined ? {} : { contentType }),
        ...(idempotencyKey === undefined ? {} : { idempotencyKey }),
        onWritten: (n) => {
          if (tty && Date.now() - lastLine > 200) {
            lastLine = Date.now();
            progressLine('sealed', n, size);
          }
        },
      },
      createReadStream(path, { highWaterMark: 256 * 1024 }) as AsyncIterable<Uint8Array>,
    );
    printJson({ messageId });
    if (detach) return;
    let next = await first;
    if (members !== undefined) return await followGroup(events, next, messageId, members);
    for (;;) {
      if (next.done === true) throw new CliFailure('the event stream ended before the transfer finished');
      const e = next.value;
      if (e.kind === 'fileProgress' && e.direction === 'send' && e.messageId === messageId) {
        progressLine('sent', e.bytesDone, e.bytesTotal);
        if (e.state === 'complete') {
          process.stderr.write('\n');
          return;
        }
        if (e.state === 'failed') {
          process.stderr.write('\n');
          throw new CliFailure('the file transfer failed: the recipient refused it (quota, or a corrupt transfer) or stopped answering; see both daemons\' logs');
        }
      }
      next = await events.next();
    }
  } finally {
    controller.abort();
    await events.return(undefined).catch(() => undefined);
  }
}

type Events = ReturnType<MessengerClient['receive']>;

/** Follows a group file until every member has it (or refused it). */
async function followGroup(events: Events, first: Awaited<ReturnType<Events['next']>>, messageId: string, members: Set<string>): Promise<void> {
  const done = new Map<string, number>();
  const ended = new Map<string, 'complete' | 'failed'>();
  let next = first;
  let total = 0;
  while (ended.size < members.size) {
    if (next.done === true) throw new CliFailure('the event stream ended before the transfer finished');
    const e = next.value;
    if (e.kind === 'fileProgress' && e.direction === 'send' && e.messageId === messageId && members.has(e.peer)) {
      total = e.bytesTotal;
      done.set(e.peer, e.bytesDone);
      if (e.state !== 'transferring') ended.set(e.peer, e.state);
      const slowest = Math.min(...[...members].map((m) => done.get(m) ?? 0));
      progressLine(`sent (${[...ended.values()].filter((s) => s === 'complete').length}/${members.size} members done; slowest)`, slowest, total);
    }
    if (ended.size < members.size) next = await events.next();
  }
  process.stderr.write('\n');
  const failed = [...ended].filter(([, s]) => s === 'failed').map(([m]) => m);
  if (failed.length > 0) throw new CliFailure(`the file transfer failed for ${failed.length} of ${members.size} members (${failed.join(', ')}): refused (quota, or a corrupt transfer), removed from the group, or stopped answering`);
}

export async function ctlDownload(client: MessengerClient, attachmentId: string, out: string): Promise<void> {
  printJson({ attachmentId, out, size: await downloadTo(client, attachmentId, out) });
}

/** Unsafe characters of a sender's file name, replaced by "_" in a saved file's name. */
const UNSAFE_NAME = /[^A-Za-z0-9._-]/g;

/**
 * The name `receive --save-attachments` gives an attachment in its folder: the sender's file name is
 * only a label, so it is never a path, never hidden, never empty, and the id's first 8 characters keep
 * two files of the same name apart (as bots/python/file_bot.py names them).
 */
export function savedAttachmentName(attachmentId: string, fileName: string): string {
  const name = fileName.replace(UNSAFE_NAME, '_').replace(/^\.+/, '') || 'file';
  return `${attachmentId.slice(0, 8)}-${name.slice(0, 200)}`;
}

/** `--save-attachments DIR`: an existing directory, or one clear line. */
export async function checkSaveDir(dir: string): Promise<void> {
  const s = await stat(dir).catch(() => undefined);
  if (s === undefined || !s.isDirectory()) throw new CliFailure(`--save-attachments: ${dir} is not a directory`);
}

/** Writes the attachment to OUT.part, renamed to OUT once whole; returns its size. */
export async function downloadTo(client: MessengerClient, attachmentId: string, out: string): Promise<number> {
  const part = `${out}.part`;
  const file = createWriteStream(part, { mode: 0o600 });
  let bytes = 0;
  try {
    for await (const data of client.downloadAttachment(attachmentId)) {
      bytes += data.length;
      if (!file.write(data)) await once(file, 'drain');
    }
    file.end();
    await once(file, 'close');
    await rename(part, out);
  } catch (e) {
    file.destroy();
    await rm(part, { force: true });
    throw e;
  }
  return bytes;
}
