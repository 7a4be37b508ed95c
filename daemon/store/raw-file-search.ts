/**
 * Test support (not a test file): looks for stored values in the raw bytes of every file under a
 * directory, as someone holding a copy of the disk would. A value counts as present if any of a few
 * 16-byte windows of it occurs in any file: LevelDB cuts `.log` records at 32 KiB block boundaries,
 * so a whole long value need not be contiguous on disk, while a window of random-looking (sealed)
 * bytes matches nothing by chance.
 */
import { readdir, readFile } from 'node:fs/promises';
import { join, relative } from 'node:path';

const WINDOW = 16;
/** Windows per value: spread over it, so a block boundary breaks at most one of them. */
const WINDOWS = 4;

/** Every file under `dir`, by path relative to it (of a live database too: a copy of its disk). */
export async function readAllFiles(dir: string): Promise<Map<string, Buffer>> {
  const files = new Map<string, Buffer>();
  for (const e of await readdir(dir, { withFileTypes: true, recursive: true })) {
    if (!e.isFile()) continue;
    const path = join(e.parentPath, e.name);
    try {
      files.set(relative(dir, path), await readFile(path));
    } catch (err) {
      // A live database deletes files as it compacts: one gone since the listing holds nothing now.
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    }
  }
  return files;
}

function windows(value: Uint8Array): Buffer[] {
  const b = Buffer.from(value.buffer, value.byteOffset, value.byteLength);
  if (b.length <= WINDOW) return [b];
  const out: Buffer[] = [];
  for (let i = 0; i < WINDOWS; i++) {
    const at = Math.floor(((b.length - WINDOW) * i) / (WINDOWS - 1));
    out.push(b.subarray(at, at + WINDOW));
  }
  return out;
}

/** The files (relative paths) that hold some window of `value`. */
export function filesHolding(files: ReadonlyMap<string, Buffer>, value: Uint8Array): string[] {
  const ws = windows(value);
  return [...files].filter(([, bytes]) => ws.some((w) => bytes.includes(w))).map(([name]) => name);
}
