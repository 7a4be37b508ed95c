/**
 * The client side of the file RPCs, for MessengerClient: SendFile writes the header and then the
 * source's bytes in requests of 256 KiB, waiting for the transport to drain (the daemon reads
 * the next request only once the previous chunk is sealed to disk), so a file of any size streams
 * through bounded memory; DownloadAttachment yields the file's bytes as they arrive.
 */
import { once } from 'node:events';
import type * as grpc from '@grpc/grpc-js';
import { toCallError } from './call-error.ts';

/**
 * Bytes per SendFile request this client writes (the daemon takes up to 1 MiB): the daemon's
 * stream buffers a few requests ahead of the sealing, so smaller requests keep its memory low.
 */
export const CLIENT_FILE_CHUNK_BYTES = 256 * 1024;

export interface SendFileInput {
  /** The recipient; exactly one of `to` and `groupId`. */
  to?: string;
  /** A group: the file is sealed once and goes to every member. */
  groupId?: string;
  /** The same key again returns the first message id and sends nothing twice. */
  idempotencyKey?: string;
  fileName: string;
  contentType?: string;
  /** The size when known (0 or absent: unknown); a source of another size is refused. */
  size?: number;
  /** Called after each request is handed to the transport, with the bytes written so far. */
  onWritten?: (bytes: number) => void;
}

type FileStub = {
  SendFile: (md: grpc.Metadata, cb: (err: grpc.ServiceError | null, res?: { message_id: string }) => void) => grpc.ClientWritableStream<object>;
  DownloadAttachment: (req: object, md: grpc.Metadata) => grpc.ClientReadableStream<{ data: Uint8Array }>;
};

export function sendFileCall(stub: grpc.Client, metadata: grpc.Metadata, input: SendFileInput, source: AsyncIterable<Uint8Array> | Iterable<Uint8Array>): Promise<{ messageId: string }> {
  return new Promise((done, fail) => {
    let settled = false;
    const call = (stub as unknown as FileStub).SendFile(metadata, (err, res) => {
      settled = true;
      if (err !== null || res === undefined) fail(toCallError(err));
      else done({ messageId: res.message_id });
    });
    const write = async (message: object): Promise<void> => {
      if (call.write(message)) return;
      // Wait for room (or the end of the call); the losing listener is removed.
      const stop = new AbortController();
      await Promise.race([once(call, 'drain', { signal: stop.signal }), once(call, 'close', { signal: stop.signal })]).catch(() => undefined);
      stop.abort();
    };
    void (async () => {
      await write({
        header: { to: input.to ?? '', group_id: input.groupId ?? '', file_name: input.fileName, content_type: input.contentType ?? '', size: input.size ?? 0, idempotency_key: input.idempotencyKey ?? '' },
      });
      let written = 0;
      for await (const data of source) {
        for (let at = 0; at < data.length && !settled; at += CLIENT_FILE_CHUNK_BYTES) {
          const chunk = data.subarray(at, at + CLIENT_FILE_CHUNK_BYTES);
          await write({ chunk });
          written += chunk.length;
          input.onWritten?.(written);
        }
        if (settled) return;
      }
      call.end();
    })().catch((e: unknown) => {
      if (settled) return;
      settled = true;
      call.cancel();
      fail(e instanceof Error ? e : new Error(String(e)));
    });
  });
}

export async function* downloadCall(stub: grpc.Client, metadata: grpc.Metadata, attachmentId: string, offset: number): AsyncGenerator<Uint8Array> {
  const stream = (stub as unknown as FileStub).DownloadAttachment({ attachment_id: attachmentId, offset }, metadata);
  try {
    for await (const chunk of stream as AsyncIterable<{ data: Uint8Array }>) yield new Uint8Array(chunk.data);
  } catch (e) {
    throw toCallError(e);
  } finally {
    stream.cancel();
  }
}
