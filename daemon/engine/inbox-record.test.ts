/**
 * Inbox record versions: v3 (group) is what a message without a file is written as; v4 is v3 plus
 * the file a message carries, written only with one. v1, v2 and v3 records stay readable.
 */
import { describe, expect, it } from 'vitest';
import { Writer } from '../../core/bytes.ts';
import { DecodeError } from '../../core/errors.ts';
import { decodeInbox, encodeInbox, type InboxRecord } from './records.ts';
import type { UserId } from '../../core/user-id.ts';

const FROM = 'b'.repeat(32) as UserId;
const base: InboxRecord = {
  cursor: 7,
  messageId: new Uint8Array(16).fill(9),
  from: FROM,
  body: new Uint8Array([1, 2, 3]),
  contentType: 'text/plain',
  sentAt: 1_700_000_000_000,
  receivedAt: 1_700_000_000_500,
};
const attachment = { attachmentId: 'ab'.repeat(16), fileName: 'report.pdf', contentType: 'application/pdf', size: 123_456, sha256: new Uint8Array(32).fill(5) };

/** The fields every version starts with, after its version byte. */
const common = (version: number): Writer =>
  new Writer().u8(version).u64(base.cursor).fixed(base.messageId).string16(base.from).bytes32(base.body).string16(base.contentType).u64(base.sentAt).u64(base.receivedAt);

describe('inbox record versions', () => {
  it('a message without a file is written as v3, with its group or an empty one', () => {
    const plain = encodeInbox(base);
    expect(plain[0]).toBe(3);
    expect(plain).toEqual(common(3).bool(false).string16('').finish());
    expect(decodeInbox(plain)).toEqual(base);
    const grouped = { ...base, groupId: 'a'.repeat(26), aliased: true };
    expect(encodeInbox(grouped)).toEqual(common(3).bool(true).string16('a'.repeat(26)).finish());
    expect(decodeInbox(encodeInbox(grouped))).toEqual(grouped);
  });

  it('a message with a file is written as v4: the v3 fields, then the attachment', () => {
    const withFile = { ...base, attachment };
    const bytes = encodeInbox(withFile);
    expect(bytes).toEqual(
      common(4).bool(false).string16('').string16(attachment.attachmentId).string16(attachment.fileName).string16(attachment.contentType).u64(attachment.size).fixed(attachment.sha256).finish(),
    );
    expect(decodeInbox(bytes)).toEqual(withFile);
    const both = { ...withFile, groupId: 'c'.repeat(26) };
    expect(decodeInbox(encodeInbox(both))).toEqual(both);
  });

  it('reads v1 and v2 records (no group, no file)', () => {
    expect(decodeInbox(common(1).finish())).toEqual(base);
    expect(decodeInbox(common(2).bool(true).finish())).toEqual({ ...base, aliased: true });
  });

  it('refuses a v4 record cut short, a v3 record with trailing bytes, and a version after v4', () => {
    const bytes = encodeInbox({ ...base, attachment });
    expect(() => decodeInbox(bytes.subarray(0, bytes.length - 1))).toThrow(DecodeError);
    const v3 = encodeInbox(base);
    const trailing = new Uint8Array(v3.length + 1);
    trailing.set(v3);
    expect(() => decodeInbox(trailing)).toThrow(DecodeError);
    const v5 = bytes.slice();
    v5[0] = 5;
    expect(() => decodeInbox(v5)).toThrow(expect.objectContaining({ code: 'UnsupportedVersion' }));
  });
});
