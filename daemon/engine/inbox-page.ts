/**
 * One page of the inbox for a replay: a bounded read (count and body bytes), so a replay holds at
 * most one page in memory while it waits for a slow consumer, and no store iterator stays open
 * across those waits (an open LevelDB iterator pins a snapshot and its files).
 */
import type { Logger } from 'pino';
import type { Store } from '../store/store.ts';
import { decodeInbox, type InboxRecord } from './records.ts';

/** Messages read from the store per replay page, and the bytes of bodies a page may hold. */
export const REPLAY_PAGE_MESSAGES = 256;
export const REPLAY_PAGE_BYTES = 4 * 1024 * 1024;

export interface InboxPage {
  records: InboxRecord[];
  /** Key of the last readable record (undefined if none was readable). */
  lastKey: string | undefined;
  /** Whether the page stopped at its limit (more may follow) rather than at the end of the inbox. */
  full: boolean;
}

/** Up to one page of inbox records after the key `after`; corrupt ones are logged and skipped. */
export async function readInboxPage(store: Store, log: Logger, after: string): Promise<InboxPage> {
  const records: InboxRecord[] = [];
  let lastKey: string | undefined;
  let bytes = 0;
  let read = 0;
  for await (const rec of store.iterate('inbox', { after, limit: REPLAY_PAGE_MESSAGES })) {
    read += 1;
    if (!rec.ok) {
      log.error({ code: rec.error.code }, 'an inbox record is corrupt; skipped in replay');
      continue;
    }
    lastKey = rec.key;
    const r = decodeInbox(rec.value);
    records.push(r);
    bytes += r.body.length;
    if (bytes >= REPLAY_PAGE_BYTES) return { records, lastKey, full: true };
  }
  return { records, lastKey, full: read >= REPLAY_PAGE_MESSAGES };
}
