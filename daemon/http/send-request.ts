/**
 * POST /v1/messages (and the alert intakes): the JSON body becomes the request the gRPC Send takes,
 * and goes through the same parser (daemon/api/validate.ts), so both APIs accept and refuse the same
 * requests with the same errors. Only the two HTTP-only encodings of the body are checked here:
 * exactly one of `text` (UTF-8) and `bodyBase64` (standard base64).
 */
import { utf8 } from '../../core/bytes.ts';
import { ApiError } from '../api/errors.ts';
import { parseSendRequest } from '../api/validate.ts';
import type { SendRequest } from '../engine/types.ts';

/** The content type of a `text` body without one (what the gRPC client sends for text, too). */
export const TEXT_CONTENT_TYPE = 'text/plain; charset=utf-8';

export interface HttpSendBody {
  to?: string;
  groupId?: string;
  text?: string;
  bodyBase64?: string;
  contentType?: string;
  idempotencyKey?: string;
  replyTo?: string;
}

const BASE64 = /^[A-Za-z0-9+/]*={0,2}$/;

function decodeBase64(s: string): Uint8Array {
  if (!BASE64.test(s) || s.length % 4 === 1 || (s.includes('=') && s.length % 4 !== 0)) {
    throw new ApiError('InvalidArgument', 'bodyBase64 is not standard base64');
  }
  return new Uint8Array(Buffer.from(s, 'base64'));
}

export function parseHttpSend(b: HttpSendBody): SendRequest {
  if ((b.text === undefined) === (b.bodyBase64 === undefined)) throw new ApiError('InvalidArgument', 'give exactly one of text and bodyBase64');
  const body = b.text !== undefined ? utf8.encode(b.text) : decodeBase64(b.bodyBase64 ?? '');
  return parseSendRequest({
    to: b.to,
    group_id: b.groupId,
    body,
    content_type: b.contentType ?? (b.text !== undefined ? TEXT_CONTENT_TYPE : ''),
    idempotency_key: b.idempotencyKey,
    reply_to: b.replyTo,
  });
}
