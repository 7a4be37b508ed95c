/** Validation of the file requests (SendFile header and chunks, DownloadAttachment). */
import { utf8 } from '../../core/bytes.ts';
import { MAX_FILE_BYTES, MAX_FILE_NAME_BYTES } from '../../core/file/format.ts';
import type { SendFileRequest } from '../engine/types.ts';
import { ApiError } from './errors.ts';
import { MAX_CONTENT_TYPE_LENGTH, MAX_IDEMPOTENCY_KEY_LENGTH, parseGroupIdField, parseUserIdField } from './validate.ts';

/** Largest chunk of a SendFile request. */
export const MAX_SEND_FILE_CHUNK_BYTES = 1024 * 1024;
const PRINTABLE_ASCII = /^[\x20-\x7e]*$/;
const CONTROL_CHARS = /[\x00-\x1f\x7f]/;
const ATTACHMENT_ID = /^[0-9a-f]{32}$/;

const invalid = (message: string): ApiError => new ApiError('InvalidArgument', message);
const isRecord = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null;
const str = (r: Record<string, unknown>, name: string): string => {
  const v = r[name];
  if (v === undefined || v === null) return '';
  if (typeof v !== 'string') throw invalid(`${name} must be a string`);
  return v;
};
const uint = (r: Record<string, unknown>, name: string, max: number): number => {
  const v = r[name] ?? 0;
  const n = typeof v === 'string' ? Number(v) : v;
  if (typeof n !== 'number' || !Number.isSafeInteger(n) || n < 0 || n > max) throw invalid(`${name} must be an integer from 0 to ${max}`);
  return n;
};

/** The first SendFile request: its header. */
export function parseSendFileHeader(req: unknown): SendFileRequest {
  const header = isRecord(req) ? req['header'] : undefined;
  if (!isRecord(header)) throw invalid('the first SendFile request must carry the header');
  // A group file must never fall back to a file to `to`: exactly one of the two is set.
  const groupId = str(header, 'group_id');
  if (groupId !== '' && str(header, 'to') !== '') throw invalid('give exactly one of to and group_id');
  const to = groupId === '' ? parseUserIdField(header['to'], 'to') : undefined;
  if (groupId !== '') parseGroupIdField(groupId, 'group_id');
  const idempotencyKey = str(header, 'idempotency_key');
  if (idempotencyKey.length > MAX_IDEMPOTENCY_KEY_LENGTH) throw invalid(`idempotency_key is longer than ${MAX_IDEMPOTENCY_KEY_LENGTH} characters`);
  if (CONTROL_CHARS.test(idempotencyKey)) throw invalid('idempotency_key must not contain control characters');
  const fileName = str(header, 'file_name');
  if (fileName === '' || utf8.encode(fileName).length > MAX_FILE_NAME_BYTES) throw invalid(`file_name must have 1 to ${MAX_FILE_NAME_BYTES} UTF-8 bytes`);
  if (CONTROL_CHARS.test(fileName)) throw invalid('file_name must not contain control characters');
  const contentType = str(header, 'content_type');
  if (contentType.length > MAX_CONTENT_TYPE_LENGTH || !PRINTABLE_ASCII.test(contentType)) throw invalid(`content_type must be printable ASCII of at most ${MAX_CONTENT_TYPE_LENGTH} characters`);
  const size = uint(header, 'size', MAX_FILE_BYTES);
  return {
    ...(to === undefined ? { groupId } : { to }),
    fileName,
    ...(contentType !== '' ? { contentType } : {}),
    ...(size > 0 ? { size } : {}),
    ...(idempotencyKey !== '' ? { idempotencyKey } : {}),
  };
}

/** A later SendFile request: its chunk. */
export function parseSendFileChunk(req: unknown): Uint8Array {
  const chunk = isRecord(req) ? req['chunk'] : undefined;
  if (isRecord(req) && isRecord(req['header'])) throw invalid('only the first SendFile request carries a header');
  if (!(chunk instanceof Uint8Array)) throw invalid('every SendFile request after the first must carry a chunk');
  if (chunk.length > MAX_SEND_FILE_CHUNK_BYTES) throw invalid(`a chunk may have at most ${MAX_SEND_FILE_CHUNK_BYTES} bytes`);
  return new Uint8Array(chunk.buffer, chunk.byteOffset, chunk.byteLength);
}

export function parseDownloadRequest(req: unknown): { attachmentId: string; offset: number } {
  if (!isRecord(req)) throw invalid('request missing');
  const attachmentId = str(req, 'attachment_id');
  if (!ATTACHMENT_ID.test(attachmentId)) throw invalid('attachment_id must be 32 lower-case hex digits');
  return { attachmentId, offset: uint(req, 'offset', MAX_FILE_BYTES) };
}
