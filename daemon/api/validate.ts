/**
 * Parses every client request into backend input before the backend sees it. Each parser either
 * returns typed values or throws ApiError('InvalidArgument') / DecodeError (from parseUserId),
 * both of which map to INVALID_ARGUMENT. Messages name the field, never echo a body.
 */
import { MAX_MESSAGE_BODY_BYTES } from '../../core/content.ts';
import { parseGroupId } from '../../core/group/ids.ts';
import { MAX_GROUP_MEMBERS, MAX_GROUP_NAME_BYTES } from '../../core/limits.ts';
import { parseUserId, type UserId } from '../../core/user-id.ts';
import { ApiError } from './errors.ts';
import type { SendRequest } from './backend.ts';

/** Longest content type accepted: MIME types with parameters fit easily. */
export const MAX_CONTENT_TYPE_LENGTH = 128;
/** Longest idempotency key accepted: room for a UUID or a hash plus a prefix. */
export const MAX_IDEMPOTENCY_KEY_LENGTH = 128;
/** Most message ids in one Ack: bounds the work of one call. */
export const MAX_ACK_IDS = 1000;
/** Longest message id accepted in Ack: ids are short; longer input is not ours. */
export const MAX_MESSAGE_ID_LENGTH = 128;
/** Most digits in a safety number: generous bound over any display format. */
export const MAX_SAFETY_NUMBER_DIGITS = 200;

const PRINTABLE_ASCII = /^[\x20-\x7e]*$/;
// eslint-disable-next-line no-control-regex
const CONTROL_CHARS = /[\x00-\x1f\x7f]/;

function invalid(message: string): ApiError {
  return new ApiError('InvalidArgument', message);
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null;
}

function stringField(req: Record<string, unknown>, name: string): string {
  const v = req[name];
  if (v === undefined || v === null) return '';
  if (typeof v !== 'string') throw invalid(`${name} must be a string`);
  return v;
}

export function parseUserIdField(value: unknown, field: string): UserId {
  if (typeof value !== 'string' || value === '') throw invalid(`${field} is required (a ratchetd user id)`);
  try {
    return parseUserId(value);
  } catch {
    throw invalid(`${field} is not a ratchetd user id (32 characters of a-z, 2-7)`);
  }
}

export function parseSendRequest(req: unknown): SendRequest {
  if (!isRecord(req)) throw invalid('request missing');
  // A group send must never fall back to a direct message to `to`: exactly one of the two is set.
  const groupId = stringField(req, 'group_id');
  if (groupId !== '' && stringField(req, 'to') !== '') throw invalid('give exactly one of to and group_id');
  const to = groupId === '' ? parseUserIdField(req['to'], 'to') : undefined;
  if (groupId !== '') parseGroupIdField(groupId, 'group_id');
  const body = req['body'];
  if (!(body instanceof Uint8Array)) throw invalid('body must be bytes');
  if (body.length === 0) throw invalid('body is empty');
  if (body.length > MAX_MESSAGE_BODY_BYTES) throw invalid(`body is ${body.length} bytes; the limit is ${MAX_MESSAGE_BODY_BYTES}`);
  const contentType = stringField(req, 'content_type');
  if (contentType.length > MAX_CONTENT_TYPE_LENGTH) throw invalid(`content_type is longer than ${MAX_CONTENT_TYPE_LENGTH} characters`);
  if (!PRINTABLE_ASCII.test(contentType)) throw invalid('content_type must be printable ASCII');
  const idempotencyKey = stringField(req, 'idempotency_key');
  if (idempotencyKey.length > MAX_IDEMPOTENCY_KEY_LENGTH) throw invalid(`idempotency_key is longer than ${MAX_IDEMPOTENCY_KEY_LENGTH} characters`);
  if (CONTROL_CHARS.test(idempotencyKey)) throw invalid('idempotency_key must not contain control characters');
  const replyTo = stringField(req, 'reply_to');
  if (replyTo.length > MAX_MESSAGE_ID_LENGTH || !PRINTABLE_ASCII.test(replyTo)) throw invalid('reply_to is not a message id');
  const bytes = new Uint8Array(body.buffer, body.byteOffset, body.byteLength);
  const out: SendRequest = to === undefined ? { groupId, body: bytes } : { to, body: bytes };
  if (contentType !== '') out.contentType = contentType;
  if (idempotencyKey !== '') out.idempotencyKey = idempotencyKey;
  if (replyTo !== '') out.replyTo = replyTo;
  return out;
}

/**
 * The request_id of a SendStream request. proto-loader reads uint64 as a JavaScript number, so a
 * value above 2^53-1 arrives rounded and could not be echoed back exactly: refused.
 */
export function parseRequestId(req: unknown): number {
  const v = isRecord(req) ? (req['request_id'] ?? 0) : 0;
  const n = typeof v === 'string' ? Number(v) : v;
  if (typeof n !== 'number' || !Number.isSafeInteger(n) || n < 0) throw invalid('request_id must be an integer between 0 and 2^53-1');
  return n;
}

export function parseCursor(req: unknown): number {
  if (!isRecord(req)) return 0;
  const v = req['cursor'];
  if (v === undefined || v === null) return 0;
  const n = typeof v === 'string' ? Number(v) : v;
  if (typeof n !== 'number' || !Number.isSafeInteger(n) || n < 0) throw invalid('cursor must be an integer between 0 and 2^53-1');
  return n;
}

export function parseMessageIds(req: unknown, allowEmpty = false): string[] {
  if (allowEmpty && isRecord(req) && (req['message_ids'] === undefined || req['message_ids'] === null)) return [];
  if (!isRecord(req) || !Array.isArray(req['message_ids'])) throw invalid('message_ids is required');
  const ids: unknown[] = req['message_ids'];
  if (ids.length === 0 && !allowEmpty) throw invalid('message_ids is empty');
  if (ids.length > MAX_ACK_IDS) throw invalid(`message_ids has ${ids.length} entries; the limit is ${MAX_ACK_IDS}`);
  return ids.map((id, i) => {
    if (typeof id !== 'string' || id === '') throw invalid(`message_ids[${i}] is empty`);
    if (id.length > MAX_MESSAGE_ID_LENGTH || !PRINTABLE_ASCII.test(id)) throw invalid(`message_ids[${i}] is not a message id`);
    return id;
  });
}

/** Most dead letters listed per call (ListDeadLetters): one page a client can re-drive in one call. */
export const MAX_DEAD_LETTERS_LISTED = MAX_ACK_IDS;

/** The message ids of RedriveDeadLetters: as Ack's, but none (or absent) means every dead letter. */
export function parseRedriveRequest(req: unknown): string[] {
  return parseMessageIds(req, true);
}

/** The `limit` of ListDeadLetters: 0 or absent = the maximum. */
export function parseDeadLetterLimit(req: unknown): number {
  const v = isRecord(req) ? (req['limit'] ?? 0) : 0;
  const n = typeof v === 'string' ? Number(v) : v;
  if (typeof n !== 'number' || !Number.isSafeInteger(n) || n < 0) throw invalid('limit must be a non-negative integer');
  if (n > MAX_DEAD_LETTERS_LISTED) throw invalid(`limit is at most ${MAX_DEAD_LETTERS_LISTED}`);
  return n === 0 ? MAX_DEAD_LETTERS_LISTED : n;
}

/** Safety numbers are compared as digits only: spaces and line breaks people type are dropped. */
export function normalizeSafetyNumber(value: unknown): string {
  if (typeof value !== 'string') throw invalid('safety_number must be a string');
  const digits = value.replace(/\s+/g, '');
  if (digits === '') throw invalid('safety_number is required');
  if (!/^[0-9]+$/.test(digits)) throw invalid('safety_number must contain only digits and spaces');
  if (digits.length > MAX_SAFETY_NUMBER_DIGITS) throw invalid(`safety_number is longer than ${MAX_SAFETY_NUMBER_DIGITS} digits`);
  return digits;
}

export function parseVerifyContactRequest(req: unknown): { userId: UserId; safetyNumber: string } {
  if (!isRecord(req)) throw invalid('request missing');
  return { userId: parseUserIdField(req['user_id'], 'user_id'), safetyNumber: normalizeSafetyNumber(req['safety_number']) };
}

/** Group ids: 26 characters of lowercase base32 (Group.group_id). */
export function parseGroupIdField(value: unknown, field: string): string {
  if (typeof value !== 'string' || value === '') throw invalid(`${field} is required (a group id)`);
  try {
    parseGroupId(value);
  } catch {
    throw invalid(`${field} is not a group id (26 characters of a-z, 2-7)`);
  }
  return value;
}

function memberList(req: Record<string, unknown>, allowEmpty: boolean): UserId[] {
  const v = req['members'];
  const list: unknown[] = v === undefined || v === null ? [] : Array.isArray(v) ? v : [null];
  if (!allowEmpty && list.length === 0) throw invalid('members is empty');
  if (list.length > MAX_GROUP_MEMBERS) throw invalid(`members has ${list.length} entries; a group has at most ${MAX_GROUP_MEMBERS} members`);
  // duplicates are ignored
  return [...new Set(list.map((m, i) => parseUserIdField(m, `members[${i}]`)))];
}

export function parseCreateGroupRequest(req: unknown): { name: string; members: UserId[] } {
  if (!isRecord(req)) throw invalid('request missing');
  const name = stringField(req, 'name');
  if (new TextEncoder().encode(name).length > MAX_GROUP_NAME_BYTES) throw invalid(`name is longer than ${MAX_GROUP_NAME_BYTES} bytes`);
  if (CONTROL_CHARS.test(name)) throw invalid('name must not contain control characters');
  return { name, members: memberList(req, true) };
}

export function parseGroupMembersRequest(req: unknown): { groupId: string; members: UserId[] } {
  if (!isRecord(req)) throw invalid('request missing');
  return { groupId: parseGroupIdField(req['group_id'], 'group_id'), members: memberList(req, false) };
}

export function parseGroupIdRequest(req: unknown): string {
  if (!isRecord(req)) throw invalid('request missing');
  return parseGroupIdField(req['group_id'], 'group_id');
}
