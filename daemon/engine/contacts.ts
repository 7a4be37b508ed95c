/**
 * Contacts and their trust state: trust on first use, a changed identity key kept
 * as pending and blocking until VerifyContact approves it. All contacts are held in memory (small
 * records; loaded at start), written through transactions.
 *
 * A contact whose stored record is corrupt is not in memory; `lookup` then reads the store, which
 * throws CorruptRecord, so that peer fails closed (it is never treated as a new contact).
 *
 * Bounds (anyone can make an identity and send a first message, which creates a contact):
 * - at MAX_CONTACTS contacts, a first message from an unknown sender is refused before anything is
 *   stored (counted in `refusedFirstContacts`, logged at most once a minute); the sender's outbox
 *   tries again later. Our own Sends to new contacts are not limited: the owner chooses them.
 * - an unverified contact with no message either way for the idle retention (default 30 days) is
 *   forgotten with its sessions (contact-retention.ts). User ids are hashes of identity keys, so
 *   forgetting the pinned key loses no protection; if it writes again, it is a new contact.
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
import { Transaction } from './transaction.ts';

export interface OwnIdentity {
  readonly userId: UserId;
  readonly identityKey: Uint8Array;
}

/**
 * Contacts kept before first messages from unknown senders are refused: 5× the 10,000 that
 * bench:scale shows at full speed (all are held in memory, about 1 KB each).
 */
export const MAX_CONTACTS = 50_000;
/**
 * Unverified contacts idle this long are forgotten: longer than any peer keeps retransmitting (outbox
 * 7 days, transcript gaps 1 day), so nothing already delivered can come back as new.
 */
export const DEFAULT_CONTACT_IDLE_RETENTION_MS = 30 * 24 * 3600_000;
/** lastActiveAt is rewritten at most this often: activity costs one small write a day per contact. */
export const CONTACT_ACTIVITY_GRANULARITY_MS = 24 * 3600_000;
/** A refused first contact is logged at most this often (a flood must not flood the log). */
const REFUSAL_LOG_INTERVAL_MS = 60_000;
/** Safety-number halves cached (5200 hashes each); the oldest are dropped. */
const MAX_CACHED_HALVES = 2 * MAX_CONTACTS;

export class ContactBook {
  private readonly byId = new Map<UserId, ContactRecord>();
  /** Each side's half of a safety number is 5200 hashes: computed once per (user, key). */
  private readonly halves = new Map<string, string>();
  /** Contacts put in a transaction not yet staged, so a later put in it builds on them. */
  private readonly pending = new WeakMap<Transaction, Map<UserId, ContactRecord>>();
  /** First messages from unknown senders refused since start (the table was full). */
  refusedFirstContacts = 0;
  private lastRefusalLogAt = -Infinity;

  constructor(
    private readonly crypto: Crypto,
    private readonly store: Store,
    private readonly own: OwnIdentity,
    private readonly log: Logger,
    private readonly now: () => number = Date.now,
    private readonly maxContacts = MAX_CONTACTS,
  ) {}

  /** Loads every contact. Those from before activity was recorded count as active now (written once). */
  async load(): Promise<void> {
    const tx = new Transaction();
    for await (const rec of this.store.iterate('contact')) {
      if (!rec.ok) {
        this.log.error({ code: rec.error.code }, 'a contact record is corrupt; that contact fails closed');
        continue;
      }
      try {
        let c = decodeContact(rec.value);
        if (c.lastActiveAt === undefined) {
          c = { ...c, lastActiveAt: this.now() };
          tx.put('contact', c.userId, encodeContact(c));
        }
        this.byId.set(c.userId, c);
      } catch (err) {
        this.log.error({ err }, 'a contact record does not decode; that contact fails closed');
      }
    }
    if (tx.ops.length > 0) await tx.commit(this.store);
  }

  /**
   * Whether a first message from an unknown sender may create a contact now; counts and logs (at
   * most once a minute) a refusal.
   */
  admitsFirstContact(): boolean {
    if (this.byId.size < this.maxContacts) return true;
    this.refusedFirstContacts += 1;
    const now = this.now();
    if (now - this.lastRefusalLogAt >= REFUSAL_LOG_INTERVAL_MS) {
      this.lastRefusalLogAt = now;
      this.log.warn({ contacts: this.byId.size, refused: this.refusedFirstContacts }, 'contact table full: first messages from unknown senders are refused (their senders retry)');
    }
    return false;
  }

  /** Records activity with this contact in tx (a message either way), at most once a day. */
  touch(tx: Transaction, userId: UserId, now: number): void {
    const c = this.pending.get(tx)?.get(userId) ?? this.byId.get(userId);
    if (c === undefined || now - (c.lastActiveAt ?? c.addedAt) < CONTACT_ACTIVITY_GRANULARITY_MS) return;
    this.put(tx, { ...c, lastActiveAt: now });
  }

  /** Unverified contacts with no activity for `retentionMs` (candidates: check again under the peer lock). */
  idle(now: number, retentionMs: number): ContactRecord[] {
    return [...this.byId.values()].filter((c) => isIdle(c, now, retentionMs));
  }

  /** Deletes the contact record in tx (the caller deletes the peer record with it). */
  remove(tx: Transaction, userId: UserId): void {
    tx.del('contact', userId);
    tx.onApply(() => {
      const c = this.byId.get(userId);
      this.byId.delete(userId);
      if (c !== undefined) {
        this.halves.delete(`${userId}:${toHex(c.identityKey)}`);
        if (c.pendingIdentityKey !== undefined) this.halves.delete(`${userId}:${toHex(c.pendingIdentityKey)}`);
      }
    });
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

  put(tx: Transaction, record: ContactRecord): void {
    const known = this.pending.get(tx)?.get(record.userId) ?? this.byId.get(record.userId);
    const contact: ContactRecord = record.lastActiveAt === undefined ? { ...record, lastActiveAt: known?.lastActiveAt ?? record.addedAt } : record;
    tx.put('contact', contact.userId, encodeContact(contact));
    let pending = this.pending.get(tx);
    if (pending === undefined) {
      this.pending.set(tx, (pending = new Map()));
      tx.onApply(() => this.pending.delete(tx));
    }
    pending.set(contact.userId, contact);
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
      if (this.halves.size >= MAX_CACHED_HALVES) this.halves.delete(this.halves.keys().next().value!);
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

/** An unverified contact (trust on first use, never confirmed) with no activity for retentionMs. */
export function isIdle(c: ContactRecord, now: number, retentionMs: number): boolean {
  return c.trust === 'unverified' && now - (c.lastActiveAt ?? c.addedAt) >= retentionMs;
}
