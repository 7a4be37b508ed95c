/**
 * Contacts and their trust state: trust on first use, a changed identity key kept
 * as pending and blocking until VerifyContact approves it. All contacts are held in memory (small
 * records; loaded at start), written through transactions.
 *
 * A contact whose stored record is corrupt is not in memory; `lookup` then reads the store, which
 * throws CorruptRecord, so that peer fails closed (it is never treated as a new contact).
 */
import type { Logger } from 'pino';
import type { Contact } from './types.ts';
import { toHex, utf8 } from '../../core/bytes.ts';
import type { Crypto } from '../../core/crypto.ts';
import { encodeEd25519PublicKey } from '../../core/keys.ts';
import { combineFingerprints, fingerprintDigits } from '../../core/safety-number.ts';
import type { UserId } from '../../core/user-id.ts';
import type { Store } from '../store/store.ts';
import { decodeContact, encodeContact, type ContactRecord } from './records.ts';
import type { Transaction } from './transaction.ts';

export interface OwnIdentity {
  readonly userId: UserId;
  readonly identityKey: Uint8Array;
}

export class ContactBook {
  private readonly byId = new Map<UserId, ContactRecord>();
  /** Each side's half of a safety number is 5200 hashes: computed once per (user, key). */
  private readonly halves = new Map<string, string>();

  constructor(
    private readonly crypto: Crypto,
    private readonly store: Store,
    private readonly own: OwnIdentity,
    private readonly log: Logger,
  ) {}

  async load(): Promise<void> {
    for await (const rec of this.store.iterate('contact')) {
      if (!rec.ok) {
        this.log.error({ code: rec.error.code }, 'a contact record is corrupt; that contact fails closed');
        continue;
      }
      try {
        const c = decodeContact(rec.value);
        this.byId.set(c.userId, c);
      } catch (err) {
        this.log.error({ err }, 'a contact record does not decode; that contact fails closed');
      }
    }
  }

  get size(): number {
    return this.byId.size;
  }

  /** The contact, from memory or (for an id not loaded) the store; throws CorruptRecord for a corrupt one. */
  async lookup(userId: UserId): Promise<ContactRecord | undefined> {
    const c = this.byId.get(userId);
    if (c !== undefined) return c;
    const stored = await this.store.get('contact', userId);
    if (stored === undefined) return undefined;
    const decoded = decodeContact(stored);
    this.byId.set(userId, decoded);
    return decoded;
  }

  put(tx: Transaction, contact: ContactRecord): void {
    tx.put('contact', contact.userId, encodeContact(contact));
    tx.onApply(() => this.byId.set(contact.userId, contact));
  }

  /** Contacts whose identity changed and await approval. */
  changed(): ContactRecord[] {
    return [...this.byId.values()].filter((c) => c.trust === 'changed');
  }

  all(): ContactRecord[] {
    return [...this.byId.values()];
  }

  private half(userId: UserId, identityKey: Uint8Array): string {
    const k = `${userId}:${toHex(identityKey)}`;
    let h = this.halves.get(k);
    if (h === undefined) {
      h = fingerprintDigits(this.crypto, utf8.encode(userId), encodeEd25519PublicKey(identityKey));
      this.halves.set(k, h);
    }
    return h;
  }

  /** The safety number for this contact and key (60 digits, the same on both sides; safety-number.ts). */
  safetyNumber(userId: UserId, identityKey: Uint8Array): string {
    return combineFingerprints(this.half(this.own.userId, this.own.identityKey), this.half(userId, identityKey));
  }

  /** The API view: for a changed contact, the safety number shown is the one of the pending key. */
  toApi(c: ContactRecord): Contact {
    const shownKey = c.pendingIdentityKey ?? c.identityKey;
    return {
      userId: c.userId,
      identityKey: c.identityKey.slice(),
      trust: c.trust,
      safetyNumber: this.safetyNumber(c.userId, shownKey),
      ...(c.pendingIdentityKey !== undefined ? { pendingIdentityKey: c.pendingIdentityKey.slice() } : {}),
    };
  }
}
