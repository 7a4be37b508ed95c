/**
 * Test helper: whether any `slice`-byte run of `plaintext` occurs anywhere in `haystack`. Every run
 * of `slice` bytes contains a whole block of slice/2 bytes aligned at a multiple of slice/2, so it
 * is enough to look for those blocks at every offset of the haystack: one pass, whatever the sizes
 * (a bit set of the blocks' first 3 bytes filters, a map of their first 4 bytes confirms).
 */
export function containsPlaintextSlice(haystack: Uint8Array, plaintext: Uint8Array, slice = 48): boolean {
  const block = Math.floor(slice / 2);
  if (block < 8) throw new RangeError('slice must be at least 16 bytes');
  const p = Buffer.from(plaintext.buffer, plaintext.byteOffset, plaintext.byteLength);
  const h = Buffer.from(haystack.buffer, haystack.byteOffset, haystack.byteLength);
  const seen = new Uint8Array(1 << 21); // 2^24 bits
  const blocks = new Map<number, number[]>();
  const key = (b: Uint8Array, at: number): number => (b[at]! | (b[at + 1]! << 8) | (b[at + 2]! << 16) | (b[at + 3]! << 24)) >>> 0;
  for (let at = 0; at + block <= p.length; at += block) {
    const k = key(p, at);
    seen[(k & 0xffffff) >>> 3]! |= 1 << (k & 7);
    const list = blocks.get(k);
    if (list === undefined) blocks.set(k, [at]);
    else list.push(at);
  }
  const end = h.length - block;
  for (let i = 0; i <= end; i++) {
    const low = h[i]! | (h[i + 1]! << 8) | (h[i + 2]! << 16);
    if ((seen[low >>> 3]! & (1 << (low & 7))) === 0) continue;
    const list = blocks.get(key(h, i));
    if (list === undefined) continue;
    for (const at of list) if (h.compare(p, at, at + block, i, i + block) === 0) return true;
  }
  return false;
}
