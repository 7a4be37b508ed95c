/** The file requests' validation: header first, chunks bounded, unsupported fields refused clearly. */
import { describe, expect, it } from 'vitest';
import { MAX_SEND_FILE_CHUNK_BYTES, parseDownloadRequest, parseSendFileChunk, parseSendFileHeader } from './file-validate.ts';

const USER = 'a'.repeat(32);
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
  });

  it.each([
    ['no header', { chunk: new Uint8Array(1) }, 'InvalidArgument'],
    ['a bad recipient', { header: { to: 'x', file_name: 'a' } }, 'InvalidArgument'],
    ['an empty file name', { header: { to: USER, file_name: '' } }, 'InvalidArgument'],
    ['a 256-byte file name', { header: { to: USER, file_name: 'é'.repeat(128) } }, 'InvalidArgument'],
    ['a control character in the name', { header: { to: USER, file_name: 'a\nb' } }, 'InvalidArgument'],
    ['a non-ASCII content type', { header: { to: USER, file_name: 'a', content_type: 'tëxt' } }, 'InvalidArgument'],
    ['a negative size', { header: { to: USER, file_name: 'a', size: -1 } }, 'InvalidArgument'],
    ['an idempotency key (not yet supported)', { header: { to: USER, file_name: 'a', idempotency_key: 'k' } }, 'InvalidArgument'],
    ['a group and a recipient (files to groups are not served)', { header: { to: USER, file_name: 'a', group_id: 'g' } }, 'Unimplemented'],
    ['a group instead of a recipient', { header: { file_name: 'a', group_id: 'a'.repeat(26) } }, 'Unimplemented'],
  ])('refuses a header with %s', (_name, req, expected) => {
    expect(code(() => parseSendFileHeader(req))).toBe(expected);
  });

  it('refuses a group with a message that says files go to members one by one', () => {
    expect(() => parseSendFileHeader({ header: { file_name: 'a', group_id: 'a'.repeat(26) } })).toThrow(/cannot be sent to a group/);
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
