/**
 * The Range header of a download (RFC 9110 §14), against a representation of `size` bytes:
 *
 *   bytes=FIRST-LAST   bytes FIRST to LAST (LAST past the end: to the end)
 *   bytes=FIRST-       from FIRST to the end
 *   bytes=-SUFFIX      the last SUFFIX bytes (all of them when SUFFIX ≥ size)
 *
 * One range only: a header with several, another unit or any syntax error is ignored (the whole
 * file, 200), as §14.2 lets a server do. A range that starts at or past the end, or an empty suffix,
 * is unsatisfiable (416).
 */
import { toHex } from '../../core/bytes.ts';

/** What the download answers. */
export type ByteRange =
  | { readonly kind: 'whole' }
  | { readonly kind: 'part'; readonly first: number; readonly last: number }
  | { readonly kind: 'unsatisfiable' };

const SINGLE_RANGE = /^bytes[ \t]*=[ \t]*(\d{0,16})-(\d{0,16})[ \t]*$/i;

export function parseByteRange(header: string | undefined, size: number): ByteRange {
  if (header === undefined) return { kind: 'whole' };
  const m = SINGLE_RANGE.exec(header);
  if (m === null) return { kind: 'whole' };
  const [, a = '', b = ''] = m;
  if (a === '' && b === '') return { kind: 'whole' };
  if (a === '') {
    const suffix = Number(b);
    if (suffix === 0 || size === 0) return { kind: 'unsatisfiable' };
    return { kind: 'part', first: Math.max(0, size - suffix), last: size - 1 };
  }
  const first = Number(a);
  if (b !== '' && Number(b) < first) return { kind: 'whole' }; // invalid: ignored
  if (first >= size) return { kind: 'unsatisfiable' };
  return { kind: 'part', first, last: b === '' ? size - 1 : Math.min(Number(b), size - 1) };
}

/** The strong validator of an attachment: its SHA-256 (the bytes never change). */
export function attachmentEtag(sha256: Uint8Array): string {
  return `"${toHex(sha256)}"`;
}

/**
 * If-Range (§13.1.5): the Range applies only while the attachment is the one the client has, named
 * by its entity tag (a date, or the header twice, never matches: attachments carry no date).
 */
export function rangeStillApplies(ifRange: string | string[] | undefined, etag: string): boolean {
  return ifRange === undefined || (typeof ifRange === 'string' && ifRange.trim() === etag);
}
