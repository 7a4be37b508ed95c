/**
 * Files over HTTP, mapped onto the gRPC file RPCs as routes.ts maps the others: the query becomes
 * the SendFile header and the DownloadAttachment request the gRPC handlers take, goes through the
 * same parsers (daemon/api/file-validate.ts) and the same DaemonApi methods, and failures reach the
 * same error table (status-codes.ts) through the server's error handler.
 *
 * - `POST /v1/files?to=USER&fileName=F[&contentType=T][&size=N]` (or `groupId=G` instead of `to`):
 *   the request body is the file's bytes, any Content-Type, streamed into the engine as it arrives
 *   (request-body.ts), never buffered whole. Answers `{messageId, attachmentId}` once the file is
 *   sealed on disk and its descriptor message is durable in the outbox; the chunks follow. The size
 *   the engine is told is `size` or else the Content-Length; a Content-Length beyond the largest
 *   file is 413 before a byte is read; the files quota (--file-quota) is 429 FileQuotaExceeded
 *   (RESOURCE_EXHAUSTED, as on gRPC: a budget shared with the other transfers and attachments,
 *   which frees up as they finish or are acked), with nothing kept.
 * - `GET /v1/attachments/{attachmentId}[?offset=N]`: the verified plaintext from byte N
 *   (application/octet-stream, chunked; `Accept-Ranges: none`: resume with ?offset=, the engine's
 *   download gives no total size to answer a Range with). Unknown, incomplete or deleted (acked) attachments are 404
 *   before a byte is sent; a chunk that fails its check mid-way cuts the response (no terminating
 *   chunk), so a truncated download is never mistaken for a whole one.
 */
import type { FastifyInstance } from 'fastify';
import type { IncomingHttpHeaders, IncomingMessage } from 'node:http';
import { Readable } from 'node:stream';
import { MAX_FILE_BYTES } from '../../core/file/format.ts';
import type { OpenStreams } from '../api/handlers.ts';
import { ApiError } from '../api/errors.ts';
import { parseDownloadRequest, parseSendFileHeader } from '../api/file-validate.ts';
import type { DaemonApi } from '../engine/types.ts';
import { HttpError } from './errors.ts';
import { requestBody } from './request-body.ts';
import { FILE_ROUTE_SCHEMAS } from './schemas.ts';

export interface FileRouteDeps {
  backend: DaemonApi;
  /** Open downloads, ended at shutdown. */
  streams: OpenStreams;
  /** A download failed after its first byte (the error handler never sees it): logged by the server. */
  onFailure: (route: string, e: unknown) => void;
}

interface UploadQuery {
  to?: string;
  groupId?: string;
  fileName?: string;
  contentType?: string;
  size?: number;
  idempotencyKey?: string;
}

const notServed = (): ApiError => new ApiError('Unimplemented', 'this daemon does not serve files');

/** The Content-Length header as a number (undefined when absent, e.g. a chunked upload). */
function contentLength(header: string | undefined): number | undefined {
  if (header === undefined) return undefined;
  if (!/^\d{1,16}$/.test(header)) throw new HttpError('MalformedRequest', 'Content-Length must be a number of bytes');
  const n = Number(header);
  if (n > MAX_FILE_BYTES) throw new HttpError('BodyTooLarge', `a file may have at most ${MAX_FILE_BYTES} bytes`);
  return n;
}

/** The upload's idempotency key: the query's `idempotencyKey` or the Idempotency-Key header (the same if both). */
function idempotencyKeyOf(query: string | undefined, header: string | string[] | undefined): string | undefined {
  if (Array.isArray(header)) throw new ApiError('InvalidArgument', 'one Idempotency-Key header at most');
  if (query !== undefined && header !== undefined && query !== header) throw new ApiError('InvalidArgument', 'idempotencyKey and the Idempotency-Key header differ');
  return query ?? header;
}

export function registerFileRoutes(app: FastifyInstance, deps: FileRouteDeps): void {
  const { backend } = deps;
  // The upload's body is the file, whatever its type: left unread for the handler to stream.
  app.removeAllContentTypeParsers();
  app.addContentTypeParser('*', (_request, _payload, done) => done(null));

  // An upload refused before its whole body came (token, parameters, quota): the rest is not read,
  // and the connection is not reused — a client that stops sending mid-body would leave it
  // mid-request, and the next request on it would wait behind the unread rest.
  app.addHook('onSend', async (request, reply) => {
    if (request.method === 'POST' && !request.raw.readableEnded) void reply.header('connection', 'close');
  });

  app.post('/v1/files', { schema: FILE_ROUTE_SCHEMAS.upload }, async (request) => upload(request.query as UploadQuery, request.headers, request.raw));

  async function upload(q: UploadQuery, headers: IncomingHttpHeaders, body: IncomingMessage): Promise<{ messageId: string; attachmentId: string }> {
    const length = contentLength(headers['content-length']);
    const idempotencyKey = idempotencyKeyOf(q.idempotencyKey, headers['idempotency-key']);
    const header = parseSendFileHeader({
      header: { to: q.to, group_id: q.groupId, file_name: q.fileName, content_type: q.contentType, size: q.size ?? length ?? 0, idempotency_key: idempotencyKey },
    });
    if (q.size !== undefined && length !== undefined && q.size !== length) throw new ApiError('InvalidArgument', `size (${q.size}) and Content-Length (${length}) differ`);
    if (backend.sendFile === undefined) throw notServed();
    const { messageId, attachmentId } = await backend.sendFile(header, requestBody(body));
    return { messageId, attachmentId };
  }

  app.get('/v1/attachments/:attachmentId', { schema: FILE_ROUTE_SCHEMAS.download }, async (request, reply) => {
    const { attachmentId, offset } = parseDownloadRequest({
      attachment_id: (request.params as { attachmentId: string }).attachmentId,
      offset: (request.query as { offset?: number }).offset ?? 0,
    });
    if (backend.downloadAttachment === undefined) throw notServed();
    const chunks = backend.downloadAttachment(attachmentId, offset)[Symbol.asyncIterator]();
    // The first piece before any header: a refusal (unknown id, bad offset) is still a JSON error.
    const first = await chunks.next();
    const gone = new AbortController();
    const forget = deps.streams.add(() => gone.abort());
    async function* rest(): AsyncGenerator<Uint8Array> {
      try {
        if (first.done !== true) yield first.value;
        for (;;) {
          if (gone.signal.aborted) throw new ApiError('NotReady', 'the daemon is shutting down');
          const next = await chunks.next();
          if (next.done === true) return;
          yield next.value;
        }
      } finally {
        forget();
        await chunks.return?.(undefined);
      }
    }
    const body = Readable.from(rest(), { objectMode: false });
    // A failure mid-way: fastify destroys the response (the client sees a chunked body without its
    // end, files-http.test.ts); the failure is logged here.
    body.on('error', (e) => deps.onFailure('GET /v1/attachments/:attachmentId', e));
    return reply
      .type('application/octet-stream')
      .header('x-content-type-options', 'nosniff')
      // No Range requests (resume with ?offset=): a client that sends one gets the whole file, so says this.
      .header('accept-ranges', 'none')
      .header('cache-control', 'no-store')
      .send(body);
  });
}
