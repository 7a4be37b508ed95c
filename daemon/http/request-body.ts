/**
 * A request body read as it arrives, for POST /v1/files: the engine pulls the next piece only when
 * it has sealed the previous one to disk, so the socket is read no faster than the disk takes the
 * file (TCP flow control holds the client back) and a file of any size passes through the bounded
 * buffer of the socket. Unlike the stream's own async iterator, stopping early (the engine refused
 * the file: quota, size) does not destroy the request: the connection stays up for the error
 * answer, and Node discards what the client still sends once that answer is out.
 */
import type { IncomingMessage } from 'node:http';
import { HttpError } from './errors.ts';

const cutOff = (): HttpError => new HttpError('MalformedRequest', 'the upload ended before its Content-Length (the client went away)');

/** Resolves when `req` has data to read or has ended; rejects when it failed or closed unfinished. */
function readable(req: IncomingMessage): Promise<void> {
  return new Promise((resolve, reject) => {
    const cleanup = (): void => {
      req.off('readable', done);
      req.off('end', done);
      req.off('error', failed);
      req.off('close', closed);
    };
    const done = (): void => {
      cleanup();
      resolve();
    };
    const failed = (): void => {
      cleanup();
      reject(cutOff());
    };
    const closed = (): void => {
      cleanup();
      if (req.readableEnded) resolve();
      else reject(cutOff());
    };
    req.on('readable', done);
    req.on('end', done);
    req.on('error', failed);
    req.on('close', closed);
  });
}

export async function* requestBody(req: IncomingMessage): AsyncGenerator<Uint8Array> {
  for (;;) {
    let chunk: Buffer | null;
    while ((chunk = req.read() as Buffer | null) !== null) yield new Uint8Array(chunk.buffer, chunk.byteOffset, chunk.byteLength);
    if (req.readableEnded) return;
    if (req.destroyed) throw cutOff();
    await readable(req);
  }
}
