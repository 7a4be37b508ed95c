/**
 * The TCP API's bearer token on disk: read it, or create it (mode 0600, exclusive) with a fresh
 * random token. Kept apart from auth.ts so the CLI can prepare it without loading gRPC.
 */
import { randomBytes } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { createFileDurably } from '../store/durable-file.ts';
import { ApiError } from './errors.ts';

/** Random bytes in a generated token: 256 bits. */
const TOKEN_BYTES = 32;
/** A token shorter than this is refused at start: a guessable token is no protection. */
export const MIN_TOKEN_LENGTH = 16;

/** A fresh random token (base64url, 43 characters). */
export function generateToken(): string {
  return randomBytes(TOKEN_BYTES).toString('base64url');
}

/**
 * Reads the API token from a file; when the file does not exist, creates it (mode 0600, exclusive)
 * with a fresh random token. Surrounding whitespace is ignored.
 */
export async function loadOrCreateTokenFile(path: string): Promise<{ token: string; created: boolean }> {
  try {
    const token = (await readFile(path, 'utf8')).trim();
    if (token.length < MIN_TOKEN_LENGTH) throw new ApiError('Unauthenticated', `token file ${path} holds fewer than ${MIN_TOKEN_LENGTH} characters`);
    return { token, created: false };
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
  }
  const token = generateToken();
  // Whole or absent after a power cut (a half-written token would refuse every start).
  await createFileDurably(path, `${token}\n`, 0o600);
  return { token, created: true };
}
