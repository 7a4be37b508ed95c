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
 *   (application/octet-stream with its Content-Length; the ETag is the SHA-256). A single `Range`
 *   (`bytes=A-B`, `bytes=A-`, `bytes=-N`; with If-Range only while the ETag matches) is 206 with
 *   Content-Range, one starting past the end 416; anything else in a Range is ignored (the whole
 *   file). Unknown, incomplete or deleted (acked) attachments are 404 before a byte is sent; a chunk
 *   that fails its check mid-way cuts the response off, so a truncated download is never mistaken
 *   for a whole one.
 */
import type { FastifyInstance } from 'fastify';
import type { IncomingHttpHeaders, IncomingMessage } from 'node:http';
import { Readable } from 'node:stream';
import { MAX_FILE_BYTES } from '../../core/file/format.ts';
import type { OpenStreams } from '../api/handlers.ts';
import { ApiError } from '../api/errors.ts';
import { parseDownloadRequest, parseSendFileHeader } from '../api/file-validate.ts';
import type { DaemonApi } from '../engine/types.ts';
import { attachmentEtag, parseByteRange, rangeStillApplies } from './byte-range.ts';
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
    const queryOffset = (request.query as { offset?: number }).offset;
    const { attachmentId, offset } = parseDownloadRequest({
      attachment_id: (request.params as { attachmentId: string }).attachmentId,
      offset: queryOffset ?? 0,
    });
    if (backend.downloadAttachment === undefined) throw notServed();
    const part = await servedPart(attachmentId, offset, queryOffset !== undefined, request.headers, (name, value) => void reply.header(name, value));
    const chunks = limited(backend.downloadAttachment(attachmentId, part.from ?? offset), part.length)[Symbol.asyncIterator]();
    // The first piece before any header: a refusal (unknown id, bad offset) is still a JSON error.
    const first = await chunks.next();
    void reply.code(part.status).headers(part.headers);
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
    // A failure mid-way: fastify destroys the response (the client sees a body short of its
    // Content-Length, files-http.test.ts); the failure is logged here.
    body.on('error', (e) => deps.onFailure('GET /v1/attachments/:attachmentId', e));
    return reply.type('application/octet-stream').header('x-content-type-options', 'nosniff').header('accept-ranges', 'bytes').header('cache-control', 'no-store').send(body);
  });

  /**
   * Which bytes a download sends, from the attachment's size and the request's Range (byte-range.ts),
   * and the headers that say so once its first bytes are read: ETag (the SHA-256), Content-Length,
   * and for a Range 206 and Content-Range. A Range that starts past the end is 416
   * RangeNotSatisfiable (with `Content-Range: bytes *\/SIZE`); ?offset= with a Range is 400.
   */
  async function servedPart(
    attachmentId: string,
    offset: number,
    hasOffset: boolean,
    request: IncomingHttpHeaders,
    errorHeader: (name: string, value: string) => void,
  ): Promise<{ status: 200 | 206; from?: number; length?: number; headers: Record<string, string> }> {
    const info = await backend.findAttachment?.(attachmentId);
    // Unknown (or no size to go by): the download itself answers, 404 for an unknown attachment.
    if (info === undefined) return { status: 200, headers: {} };
    const etag = attachmentEtag(info.sha256);
    const range = request.range === undefined || !rangeStillApplies(request['if-range'], etag) ? ({ kind: 'whole' } as const) : parseByteRange(request.range, info.size);
    if (range.kind === 'whole') return { status: 200, headers: { etag, ...(offset <= info.size ? { 'content-length': String(info.size - offset) } : {}) } };
    if (hasOffset) throw new ApiError('InvalidArgument', 'give ?offset= or a Range header, not both');
    if (range.kind === 'unsatisfiable') {
      errorHeader('content-range', `bytes */${info.size}`);
      throw new HttpError('RangeNotSatisfiable', `the range starts past the end of the file (${info.size} bytes)`);
    }
    const length = range.last - range.first + 1;
    return { status: 206, from: range.first, length, headers: { etag, 'content-range': `bytes ${range.first}-${range.last}/${info.size}`, 'content-length': String(length) } };
  }
}

/** The first `length` bytes of a download (all of it when undefined); stops reading once they are out. */
async function* limited(source: AsyncIterable<Uint8Array>, length: number | undefined): AsyncGenerator<Uint8Array> {
  if (length === undefined) {
    yield* source;
    return;
  }
  let left = length;
  for await (const piece of source) {
    if (piece.length >= left) {
      yield piece.subarray(0, left);
      return;
    }
    left -= piece.length;
    yield piece;
  }
}
