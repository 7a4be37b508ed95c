/**
 * The file RPCs: SendFile (a client stream: header, then chunks) and DownloadAttachment (a server
 * stream). Both move the bytes with flow control: SendFile reads the next request only when the
 * engine has sealed the previous chunk to disk, DownloadAttachment writes the next chunk only when
 * the transport has drained. Server shutdown ends both with UNAVAILABLE.
 */
import type * as grpc from '@grpc/grpc-js';
import type { MessengerBackend } from './backend.ts';
import { ApiError } from './errors.ts';
import { parseDownloadRequest, parseSendFileChunk, parseSendFileHeader } from './file-validate.ts';
import type { ApiLogger, OpenStreams } from './handlers.ts';
import { mapError, toServiceError } from './status-codes.ts';
import { status as GrpcStatus } from '@grpc/grpc-js';

function logFailure(logger: ApiLogger, method: string, e: unknown): void {
  const mapped = mapError(e);
  if (mapped.code === GrpcStatus.INTERNAL || mapped.code === GrpcStatus.DATA_LOSS) logger.error({ err: e, method }, 'API call failed');
  else logger.debug({ method, code: mapped.errorCode, status: GrpcStatus[mapped.code] }, 'API call refused');
}

const notServed = (): ApiError => new ApiError('Unimplemented', 'this daemon does not serve files');

function sendFile(backend: MessengerBackend, logger: ApiLogger, streams: OpenStreams): grpc.handleClientStreamingCall<unknown, { message_id: string }> {
  return (call, callback) => {
    let answered = false;
    const answer = (e: unknown, messageId?: string): void => {
      if (answered) return;
      answered = true;
      forget();
      if (e !== undefined) {
        logFailure(logger, 'SendFile', e);
        callback(toServiceError(e));
      } else callback(null, { message_id: messageId! });
    };
    let shutdown: ApiError | undefined;
    const forget = streams.add((reason) => {
      shutdown = reason;
      call.destroy(reason);
    });
    const requests = call[Symbol.asyncIterator]() as AsyncIterator<unknown>;
    async function* chunks(): AsyncGenerator<Uint8Array> {
      for (;;) {
        const next = await requests.next();
        if (next.done === true) return;
        yield parseSendFileChunk(next.value);
      }
    }
    void (async () => {
      const first = await requests.next();
      if (first.done === true) throw new ApiError('InvalidArgument', 'SendFile needs a header');
      const header = parseSendFileHeader(first.value);
      if (backend.sendFile === undefined) throw notServed();
      const { messageId } = await backend.sendFile(header, chunks());
      return messageId;
    })().then(
      (messageId) => answer(undefined, messageId),
      (e: unknown) => answer(shutdown ?? e),
    );
  };
}

function downloadAttachment(backend: MessengerBackend, logger: ApiLogger, streams: OpenStreams): grpc.handleServerStreamingCall<unknown, { data: Uint8Array }> {
  return (call) => {
    let ended = false;
    let failure: unknown;
    const forget = streams.add((reason) => {
      failure = reason;
      ended = true;
    });
    call.on('cancelled', () => (ended = true));
    const drained = (): Promise<void> => new Promise((resolve) => {
      const done = (): void => {
        call.off('drain', done);
        call.off('close', done);
        resolve();
      };
      call.on('drain', done);
      call.on('close', done);
    });
    void (async () => {
      const { attachmentId, offset } = parseDownloadRequest(call.request);
      if (backend.downloadAttachment === undefined) throw notServed();
      for await (const data of backend.downloadAttachment(attachmentId, offset)) {
        if (ended) break;
        if (!call.write({ data })) await drained();
      }
      if (failure !== undefined) throw failure;
    })().then(
      () => {
        forget();
        if (!ended) call.end();
      },
      (e: unknown) => {
        forget();
        logFailure(logger, 'DownloadAttachment', e);
        call.emit('error', toServiceError(e));
      },
    );
  };
}

export function createFileHandlers(backend: MessengerBackend, logger: ApiLogger, streams: OpenStreams): grpc.UntypedServiceImplementation {
  return {
    SendFile: sendFile(backend, logger, streams),
    DownloadAttachment: downloadAttachment(backend, logger, streams),
  };
}
