/** Reading a passphrase from a file (--passphrase-file, --backup-passphrase-file). */
import { readFile } from 'node:fs/promises';
import { CliFailure } from './args.ts';

/** The file's bytes without trailing newlines; an empty or unreadable file is a CliFailure naming it. */
export async function readPassphrase(path: string): Promise<Uint8Array> {
  let bytes: Buffer;
  try {
    bytes = await readFile(path);
  } catch (e) {
    throw new CliFailure(`cannot read the passphrase file ${path} (${(e as NodeJS.ErrnoException).code ?? 'error'})`);
  }
  let end = bytes.length;
  while (end > 0 && (bytes[end - 1] === 0x0a || bytes[end - 1] === 0x0d)) end--;
  const passphrase = new Uint8Array(bytes.subarray(0, end));
  bytes.fill(0);
  if (passphrase.length === 0) throw new CliFailure(`the passphrase file ${path} is empty`);
  return passphrase;
}
