/**
 * Webhook signatures. Each POST carries
 *   ratchetd-timestamp: <seconds since the Unix epoch, when this attempt was made>
 *   ratchetd-signature: sha256=<hex HMAC-SHA256(secret, "<timestamp>.<body>")>
 * where the secret is the --webhook-secret-file's contents without a trailing newline. A receiver
 * recomputes the HMAC over the exact bytes it received, compares in constant time, and refuses a
 * timestamp far from its clock (a replayed request). Every retry is signed afresh.
 */
import { createHmac, timingSafeEqual } from 'node:crypto';
import { readFile } from 'node:fs/promises';

export const SIGNATURE_HEADER = 'ratchetd-signature';
export const TIMESTAMP_HEADER = 'ratchetd-timestamp';
/** How far a verified timestamp may be from the receiver's clock by default (s). */
export const DEFAULT_SIGNATURE_TOLERANCE_S = 300;

export function signWebhook(secret: Uint8Array, timestamp: string, body: string | Uint8Array): string {
  const mac = createHmac('sha256', secret).update(`${timestamp}.`, 'utf8').update(body).digest('hex');
  return `sha256=${mac}`;
}

export interface VerifyOptions {
  /** The receiver's clock (seconds since the epoch). */
  nowSeconds: number;
  toleranceSeconds?: number;
}

/** Whether a received webhook is authentic and fresh: the HMAC compared in constant time. */
export function verifyWebhookSignature(secret: Uint8Array, signature: string | undefined, timestamp: string | undefined, body: string | Uint8Array, options: VerifyOptions): boolean {
  if (signature === undefined || timestamp === undefined || !/^\d{1,15}$/.test(timestamp)) return false;
  if (Math.abs(options.nowSeconds - Number(timestamp)) > (options.toleranceSeconds ?? DEFAULT_SIGNATURE_TOLERANCE_S)) return false;
  const expected = Buffer.from(signWebhook(secret, timestamp, body), 'utf8');
  const given = Buffer.from(signature, 'utf8');
  // timingSafeEqual needs equal lengths; the length of a well-formed signature is public anyway.
  return given.length === expected.length && timingSafeEqual(given, expected);
}

/** Reads the secret file: its bytes without one trailing newline (\n or \r\n); refuses an empty one. */
export async function readWebhookSecret(path: string): Promise<Uint8Array> {
  const bytes = await readFile(path);
  let end = bytes.length;
  if (end > 0 && bytes[end - 1] === 0x0a) end--;
  if (end > 0 && bytes[end - 1] === 0x0d) end--;
  const secret = new Uint8Array(bytes.subarray(0, end));
  bytes.fill(0);
  if (secret.length === 0) throw new Error(`the webhook secret file ${path} is empty`);
  return secret;
}
