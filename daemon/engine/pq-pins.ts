/**
 * Post-quantum pins: a peer once seen with PQ prekeys (a format-2 bundle we started PQXDH from, or a
 * PQXDH handshake from it that decrypted) is pinned, and a later bundle of it without PQ prekeys is
 * refused (core checkBundleNotDowngraded: DowngradedBundle). The pin is never removed: nothing a
 * relay can send unpins a peer, and a peer that really went back to an older daemon must upgrade.
 *
 * Store kind `pqPin` (blinded key = peer user id), written in the transaction of the session or
 * handshake that showed PQ. Record: version u8 (= 1) ‖ seen by u8 (1 its bundle, 2 its handshake).
 * A corrupt record throws CorruptRecord on lookup, so that peer fails closed (no session set-up).
 */
import { Reader, Writer } from '../../core/bytes.ts';
import type { UserId } from '../../core/user-id.ts';
import { CorruptRecordError, type Store } from '../store/store.ts';
import type { Transaction } from './transaction.ts';

const PIN_RECORD_VERSION = 1;
export type PqPinSource = 'bundle' | 'handshake';

export function encodePqPin(source: PqPinSource): Uint8Array {
  return new Writer().u8(PIN_RECORD_VERSION).u8(source === 'bundle' ? 1 : 2).finish();
}

export function decodePqPin(bytes: Uint8Array): PqPinSource {
  const r = new Reader(bytes, 'pq pin');
  if (r.u8() !== PIN_RECORD_VERSION) throw new RangeError('pq pin: unsupported version');
  const source = r.u8();
  r.end();
  if (source !== 1 && source !== 2) throw new RangeError('pq pin: bad source');
  return source === 1 ? 'bundle' : 'handshake';
}

export class PqPins {
  constructor(private readonly store: Store) {}

  /** Whether the peer is pinned to PQ (CorruptRecord if its pin cannot be read). */
  async isPinned(peer: UserId): Promise<boolean> {
    const stored = await this.store.get('pqPin', peer);
    if (stored === undefined) return false;
    try {
      decodePqPin(stored);
    } catch (e) {
      throw new CorruptRecordError('pqPin', 'unreadable pin', { cause: e });
    }
    return true;
  }

  /** Pins the peer in tx (idempotent). */
  pin(tx: Transaction, peer: UserId, source: PqPinSource): void {
    tx.put('pqPin', peer, encodePqPin(source));
  }
}
