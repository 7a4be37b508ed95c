/** The file requests' validation: header first, chunks bounded, bad fields refused clearly. */
import { describe, expect, it } from 'vitest';
import { MAX_SEND_FILE_CHUNK_BYTES, parseDownloadRequest, parseSendFileChunk, parseSendFileHeader } from './file-validate.ts';

const USER = 'a'.repeat(32);
const GROUP = 'a'.repeat(26);
const code = (fn: () => unknown): string | undefined => {
  try {
    fn();
  } catch (e) {
    return (e as { code?: string }).code;
  }
  return undefined;
};

describe('SendFile and DownloadAttachment validation', () => {
  it('takes a well-formed header', () => {
    expect(parseSendFileHeader({ header: { to: USER, file_name: 'a.txt', content_type: 'text/plain', size: 12 } })).toEqual({ to: USER, fileName: 'a.txt', contentType: 'text/plain', size: 12 });
    expect(parseSendFileHeader({ header: { to: USER, file_name: 'a.txt', content_type: '', size: 0 } })).toEqual({ to: USER, fileName: 'a.txt' });
    expect(parseSendFileHeader({ header: { group_id: GROUP, file_name: 'a.txt', idempotency_key: 'job-1' } })).toEqual({ groupId: GROUP, fileName: 'a.txt', idempotencyKey: 'job-1' });
    expect(parseSendFileHeader({ header: { to: USER, file_name: 'a.txt', idempotency_key: 'job-1' } })).toEqual({ to: USER, fileName: 'a.txt', idempotencyKey: 'job-1' });
  });

  it.each([
    ['no header', { chunk: new Uint8Array(1) }, 'InvalidArgument'],
    ['a bad recipient', { header: { to: 'x', file_name: 'a' } }, 'InvalidArgument'],
    ['an empty file name', { header: { to: USER, file_name: '' } }, 'InvalidArgument'],
    ['a 256-byte file name', { header: { to: USER, file_name: 'é'.repeat(128) } }, 'InvalidArgument'],
    ['a control character in the name', { header: { to: USER, file_name: 'a\nb' } }, 'InvalidArgument'],
    ['a non-ASCII content type', { header: { to: USER, file_name: 'a', content_type: 'tëxt' } }, 'InvalidArgument'],
    ['a negative size', { header: { to: USER, file_name: 'a', size: -1 } }, 'InvalidArgument'],
    ['an idempotency key over 128 characters', { header: { to: USER, file_name: 'a', idempotency_key: 'k'.repeat(129) } }, 'InvalidArgument'],
    ['a control character in the idempotency key', { header: { to: USER, file_name: 'a', idempotency_key: 'k\n' } }, 'InvalidArgument'],
    ['a group and a recipient', { header: { to: USER, file_name: 'a', group_id: GROUP } }, 'InvalidArgument'],
    ['a bad group id', { header: { file_name: 'a', group_id: 'g' } }, 'InvalidArgument'],
    ['neither recipient nor group', { header: { file_name: 'a' } }, 'InvalidArgument'],
  ])('refuses a header with %s', (_name, req, expected) => {
    expect(code(() => parseSendFileHeader(req))).toBe(expected);
  });

  it('takes chunks up to 1 MiB and refuses more, a second header, or no chunk', () => {
    expect(parseSendFileChunk({ chunk: new Uint8Array(MAX_SEND_FILE_CHUNK_BYTES) }).length).toBe(MAX_SEND_FILE_CHUNK_BYTES);
    expect(code(() => parseSendFileChunk({ chunk: new Uint8Array(MAX_SEND_FILE_CHUNK_BYTES + 1) }))).toBe('InvalidArgument');
    expect(code(() => parseSendFileChunk({ header: { to: USER, file_name: 'a' } }))).toBe('InvalidArgument');
    expect(code(() => parseSendFileChunk({}))).toBe('InvalidArgument');
  });

  it('download: a 32-hex-digit id and an offset', () => {
    expect(parseDownloadRequest({ attachment_id: 'ab'.repeat(16), offset: 5 })).toEqual({ attachmentId: 'ab'.repeat(16), offset: 5 });
    expect(code(() => parseDownloadRequest({ attachment_id: 'AB'.repeat(16) }))).toBe('InvalidArgument');
    expect(code(() => parseDownloadRequest({ attachment_id: '../etc/passwd' }))).toBe('InvalidArgument');
    expect(code(() => parseDownloadRequest({ attachment_id: 'ab'.repeat(16), offset: -3 }))).toBe('InvalidArgument');
  });
});
