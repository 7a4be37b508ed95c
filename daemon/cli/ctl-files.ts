/**
 * `ratchetd ctl send-file USER PATH` and `ratchetd ctl download ATTACHMENT_ID --out PATH`.
 *
 * send-file streams the file to the daemon (which seals it to disk), prints {"messageId"} on stdout,
 * and then, unless --detach, follows the transfer: a progress line on stderr ("sent 12.0 of 200.0
 * MiB (6 %)") until the recipient has stored and verified the whole file (exit 0) or refused it
 * (exit 1). download writes the attachment to PATH.part and renames it to PATH once complete.
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

export async function ctlSendFile(client: MessengerClient, to: string, path: string, contentType: string | undefined, detach: boolean): Promise<void> {
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
    const tty = process.stderr.isTTY === true;
    let lastLine = 0;
    const { messageId } = await client.sendFile(
      {
        to,
        fileName: basename(path),
        size,
        ...(contentType === undefined ? {} : { contentType }),
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

export async function ctlDownload(client: MessengerClient, attachmentId: string, out: string): Promise<void> {
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
  printJson({ attachmentId, out, size: bytes });
}
