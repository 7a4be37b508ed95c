/**
 * The owner's private prekey state: signed prekeys (current + retired ones in
 * their grace period) and unconsumed one-time prekeys. Pure: every function returns a new state.
 *
 * - The signed prekey (SPK) rotates every SIGNED_PREKEY_ROTATE_MS; a retired SPK's private key is
 *   kept SIGNED_PREKEY_GRACE_MS for late handshakes, then deleted (and its replay-cache entries with it:
 *   `maintainPrekeys` reports the deleted ids).
 * - One-time prekeys (OPK) are refilled to ONE_TIME_PREKEYS_TARGET when fewer than
 *   ONE_TIME_PREKEYS_LOW_WATER remain. Ids come from a counter that only moves forward, so a consumed
 *   id is tombstoned by construction: it is never issued again and its lookup fails (StalePrekey).
 *
 * - PQ prekeys (ML-KEM-768, PQXDH): a signed last-resort PQ prekey that rotates and retires like the
 *   SPK (same periods), and one-time PQ prekeys refilled to PQ_ONE_TIME_PREKEYS_TARGET below
 *   PQ_ONE_TIME_PREKEYS_LOW_WATER. Both kinds take ids from one forward-only counter, so an id names
 *   one key for good. `pqSinceBundleVersion` is the first bundle version that carried PQ prekeys:
 *   a classic handshake naming that bundle version or a later one is a downgrade (refused).
 *
 * Stored record (versioned; lists in strictly increasing id order, so it round-trips byte for byte):
 *   version u8 (= 2) ‖ nextSignedPrekeyId u32 ‖ nextOneTimePrekeyId u32 ‖ bundleVersion u32
 *   ‖ spkCount u8 ‖ spkCount × (id u32 ‖ createdAt u64 ‖ retiredAt u64 (0 for the current one) ‖ public 32 ‖ private 32)
 *   ‖ opkCount u16 ‖ opkCount × (id u32 ‖ public 32 ‖ private 32)
 *   ‖ nextPqPrekeyId u32 ‖ pqSinceBundleVersion u32
 *   ‖ pqLastResortCount u8 ‖ × (id u32 ‖ createdAt u64 ‖ retiredAt u64 ‖ public 1184 ‖ private 2400)
 *   ‖ pqOneTimeCount u16 ‖ × (id u32 ‖ public 1184 ‖ private 2400)
 * Exactly one SPK is current (retiredAt 0), and it is the last one; likewise the last-resort PQ
 * prekey, when there is any. Version 1 (the same record without the PQ section) still decodes, with
 * no PQ prekeys: maintainPrekeys then issues them, and the next bundle carries them (the migration).
 */
import type { Crypto, KeyPair } from './crypto.ts';
import { DecodeError, HandshakeError } from './errors.ts';
import { Reader, Writer } from './bytes.ts';
import {
  ONE_TIME_PREKEYS_LOW_WATER,
  ONE_TIME_PREKEYS_TARGET,
  SIGNED_PREKEY_GRACE_MS,
  SIGNED_PREKEY_ROTATE_MS,
} from './limits.ts';
import { RAW_KEY_BYTES, checkX25519PublicKey, redacted } from './keys.ts';
import { PQ_ONE_TIME_PREKEYS_LOW_WATER, PQ_ONE_TIME_PREKEYS_TARGET } from './limits.ts';

/** ML-KEM-768 sizes (FIPS 203): encapsulation key, decapsulation key, ciphertext. */
export const KEM_PUBLIC_KEY_BYTES = 1184;
export const KEM_PRIVATE_KEY_BYTES = 2400;
export const KEM_CIPHERTEXT_BYTES = 1088;

export interface SignedPrekey {
  readonly id: number;
  /** X25519 key pair (SPK_B). */
  readonly keyPair: KeyPair;
  readonly createdAt: number;
  /** null while current; the time it was replaced otherwise. */
  readonly retiredAt: number | null;
}

export interface OneTimePrekey {
  readonly id: number;
  /** X25519 key pair (OPK_B). */
  readonly keyPair: KeyPair;
}

/** An ML-KEM-768 prekey (a one-time one, or the common part of a last-resort one). */
export interface PqPrekey {
  readonly id: number;
  /** ML-KEM-768 key pair: 1,184-byte encapsulation key, 2,400-byte decapsulation key. */
  readonly keyPair: KeyPair;
}

/** The signed last-resort PQ prekey: used when no one-time PQ prekey is left; rotates like the SPK. */
export interface PqLastResortPrekey extends PqPrekey {
  readonly createdAt: number;
  /** null while current; the time it was replaced otherwise. */
  readonly retiredAt: number | null;
}

export interface PrekeyState {
  /** Increasing ids; the last one is current, the others are in their grace period. */
  readonly signedPrekeys: readonly SignedPrekey[];
  /** Unconsumed one-time prekeys, increasing ids. */
  readonly oneTimePrekeys: readonly OneTimePrekey[];
  readonly nextSignedPrekeyId: number;
  /** Every id below this was issued once; consumed ones are gone for good (tombstoned). */
  readonly nextOneTimePrekeyId: number;
  /** Version of the last bundle built; the next bundle gets this + 1 (initiators refuse rollbacks). */
  readonly bundleVersion: number;
  /** Increasing ids; the last one is current (empty only in a state decoded from version 1). */
  readonly pqLastResortPrekeys: readonly PqLastResortPrekey[];
  /** Unconsumed one-time PQ prekeys, increasing ids. */
  readonly pqOneTimePrekeys: readonly PqPrekey[];
  /** Every PQ prekey id below this was issued once (last-resort and one-time share the counter). */
  readonly nextPqPrekeyId: number;
  /** The first bundle version built with PQ prekeys; 0 while none was. */
  readonly pqSinceBundleVersion: number;
}

const PREKEY_RECORD_VERSION = 2;
const PREKEY_RECORD_VERSION_CLASSIC = 1;
const MAX_ID = 0xffff_ffff;
/** Decoder bounds: far above what rotation and refill can produce. */
const MAX_STORED_SIGNED_PREKEYS = 64;
const MAX_STORED_ONE_TIME_PREKEYS = 4096;
const MAX_STORED_PQ_LAST_RESORT_PREKEYS = 64;
const MAX_STORED_PQ_ONE_TIME_PREKEYS = 256;

function state(fields: PrekeyState): PrekeyState {
  return redacted(fields, 'PrekeyState redacted');
}

function newKeyPair(crypto: Crypto): KeyPair {
  const kp = crypto.x25519KeyPair();
  checkX25519PublicKey(kp.publicKey);
  return redacted({ publicKey: kp.publicKey, privateKey: kp.privateKey });
}

function issueOneTimePrekeys(crypto: Crypto, firstId: number, count: number): OneTimePrekey[] {
  const out: OneTimePrekey[] = [];
  for (let i = 0; i < count && firstId + i < MAX_ID; i++) out.push({ id: firstId + i, keyPair: newKeyPair(crypto) });
  return out;
}

function newKemKeyPair(crypto: Crypto): KeyPair {
  const kp = crypto.kemKeyPair();
  if (kp.publicKey.length !== KEM_PUBLIC_KEY_BYTES || kp.privateKey.length !== KEM_PRIVATE_KEY_BYTES) {
    throw new RangeError('prekeys: the KEM key pair has the wrong size');
  }
  return redacted({ publicKey: kp.publicKey, privateKey: kp.privateKey });
}

function issuePqOneTimePrekeys(crypto: Crypto, firstId: number, count: number): PqPrekey[] {
  const out: PqPrekey[] = [];
  for (let i = 0; i < count && firstId + i < MAX_ID; i++) out.push({ id: firstId + i, keyPair: newKemKeyPair(crypto) });
  return out;
}

/** A fresh state: SPK #1, ONE_TIME_PREKEYS_TARGET one-time prekeys, a last-resort PQ prekey and PQ_ONE_TIME_PREKEYS_TARGET one-time PQ prekeys. */
export function createPrekeyState(crypto: Crypto, now: number): PrekeyState {
  const oneTimePrekeys = issueOneTimePrekeys(crypto, 1, ONE_TIME_PREKEYS_TARGET);
  const classic = state({
    signedPrekeys: [{ id: 1, keyPair: newKeyPair(crypto), createdAt: now, retiredAt: null }],
    oneTimePrekeys,
    nextSignedPrekeyId: 2,
    nextOneTimePrekeyId: 1 + oneTimePrekeys.length,
    bundleVersion: 0,
    pqLastResortPrekeys: [],
    pqOneTimePrekeys: [],
    nextPqPrekeyId: 1,
    pqSinceBundleVersion: 0,
  });
  return maintainPqPrekeys(crypto, classic, now).next;
}

/** The current last-resort PQ prekey, or null in a state from before PQXDH (until maintainPrekeys). */
export function currentPqLastResortPrekey(s: PrekeyState): PqLastResortPrekey | null {
  const current = s.pqLastResortPrekeys[s.pqLastResortPrekeys.length - 1];
  return current === undefined || current.retiredAt !== null ? null : current;
}

export function pqOneTimePrekeyCount(s: PrekeyState): number {
  return s.pqOneTimePrekeys.length;
}

/** The PQ prekey with this id: an unconsumed one-time one, or a last-resort one (current or in its grace period). */
export function requirePqPrekey(s: PrekeyState, id: number): { prekey: PqPrekey; oneTime: boolean } {
  const oneTime = s.pqOneTimePrekeys.find((k) => k.id === id);
  if (oneTime !== undefined) return { prekey: oneTime, oneTime: true };
  const lastResort = s.pqLastResortPrekeys.find((k) => k.id === id);
  if (lastResort !== undefined) return { prekey: lastResort, oneTime: false };
  throw new HandshakeError('StalePrekey', 'PQ prekey already used or unknown: fetch a fresh bundle');
}

/** Removes a one-time PQ prekey after a successful handshake; a last-resort one stays (the replay cache guards it). */
export function consumePqPrekey(s: PrekeyState, id: number): PrekeyState {
  const { oneTime } = requirePqPrekey(s, id);
  if (!oneTime) return s;
  return state({ ...s, pqOneTimePrekeys: s.pqOneTimePrekeys.filter((k) => k.id !== id) });
}

/** Records the first bundle version built with PQ prekeys (once). */
export function withPqSince(s: PrekeyState, bundleVersion: number): PrekeyState {
  return s.pqSinceBundleVersion !== 0 ? s : state({ ...s, pqSinceBundleVersion: bundleVersion });
}

/**
 * The PQ half of maintainPrekeys: a last-resort PQ prekey issued when there is none (a state from
 * before PQXDH) or rotated after SIGNED_PREKEY_ROTATE_MS, retired ones deleted after
 * SIGNED_PREKEY_GRACE_MS, one-time PQ prekeys refilled below the low-water mark.
 */
function maintainPqPrekeys(crypto: Crypto, s: PrekeyState, now: number): { next: PrekeyState; changed: boolean } {
  let lastResort = s.pqLastResortPrekeys;
  let nextPqPrekeyId = s.nextPqPrekeyId;
  let changed = false;
  const current = currentPqLastResortPrekey(s);
  if ((current === null || now - current.createdAt >= SIGNED_PREKEY_ROTATE_MS) && nextPqPrekeyId < MAX_ID) {
    const retired = current === null ? lastResort : [...lastResort.slice(0, -1), { ...current, retiredAt: now }];
    lastResort = [...retired, { id: nextPqPrekeyId, keyPair: newKemKeyPair(crypto), createdAt: now, retiredAt: null }];
    nextPqPrekeyId += 1;
    changed = true;
  }
  const expired = lastResort.filter((k) => k.retiredAt !== null && now - k.retiredAt >= SIGNED_PREKEY_GRACE_MS);
  if (expired.length > 0) {
    lastResort = lastResort.filter((k) => !expired.includes(k));
    changed = true;
  }
  let oneTime = s.pqOneTimePrekeys;
  if (oneTime.length < PQ_ONE_TIME_PREKEYS_LOW_WATER) {
    const added = issuePqOneTimePrekeys(crypto, nextPqPrekeyId, PQ_ONE_TIME_PREKEYS_TARGET - oneTime.length);
    if (added.length > 0) {
      oneTime = [...oneTime, ...added];
      nextPqPrekeyId += added.length;
      changed = true;
    }
  }
  if (!changed) return { next: s, changed };
  return { next: state({ ...s, pqLastResortPrekeys: lastResort, pqOneTimePrekeys: oneTime, nextPqPrekeyId }), changed };
}

export function currentSignedPrekey(s: PrekeyState): SignedPrekey {
  const current = s.signedPrekeys[s.signedPrekeys.length - 1];
  if (current === undefined || current.retiredAt !== null) throw new DecodeError('prekeys: no current signed prekey');
  return current;
}

export function oneTimePrekeyCount(s: PrekeyState): number {
  return s.oneTimePrekeys.length;
}

/** The signed prekey with this id, current or in its grace period; else StalePrekey. */
export function requireSignedPrekey(s: PrekeyState, id: number): SignedPrekey {
  const spk = s.signedPrekeys.find((k) => k.id === id);
  if (spk === undefined) throw new HandshakeError('StalePrekey', 'signed prekey unknown or expired: fetch a fresh bundle');
  return spk;
}

/** The unconsumed one-time prekey with this id; else StalePrekey (consumed, or never issued). */
export function requireOneTimePrekey(s: PrekeyState, id: number): OneTimePrekey {
  const opk = s.oneTimePrekeys.find((k) => k.id === id);
  if (opk === undefined) throw new HandshakeError('StalePrekey', 'one-time prekey already used or unknown: fetch a fresh bundle');
  return opk;
}

/** Removes a one-time prekey after a successful handshake (first success wins; the id is never reissued). */
export function consumeOneTimePrekey(s: PrekeyState, id: number): PrekeyState {
  requireOneTimePrekey(s, id);
  return state({ ...s, oneTimePrekeys: s.oneTimePrekeys.filter((k) => k.id !== id) });
}

/** Records the version of a bundle just built. */
export function withBundleVersion(s: PrekeyState, bundleVersion: number): PrekeyState {
  return state({ ...s, bundleVersion });
}

export interface PrekeyMaintenance {
  readonly next: PrekeyState;
  /** Whether anything changed (then store `next` and publish a new bundle). */
  readonly changed: boolean;
  /** Signed prekeys whose private keys were deleted: drop their replay-cache entries too. */
  readonly deletedSignedPrekeyIds: readonly number[];
}

/**
 * Rotates the SPK every 7 days, deletes retired SPKs after their 30-day grace, refills OPKs below 20;
 * the same for the PQ prekeys (maintainPqPrekeys).
 */
export function maintainPrekeys(crypto: Crypto, s: PrekeyState, now: number): PrekeyMaintenance {
  let signedPrekeys = s.signedPrekeys;
  let nextSignedPrekeyId = s.nextSignedPrekeyId;
  const current = currentSignedPrekey(s);
  let changed = false;
  if (now - current.createdAt >= SIGNED_PREKEY_ROTATE_MS && nextSignedPrekeyId < MAX_ID) {
    signedPrekeys = [
      ...signedPrekeys.slice(0, -1),
      { ...current, retiredAt: now },
      { id: nextSignedPrekeyId, keyPair: newKeyPair(crypto), createdAt: now, retiredAt: null },
    ];
    nextSignedPrekeyId += 1;
    changed = true;
  }
  const deletedSignedPrekeyIds = signedPrekeys
    .filter((k) => k.retiredAt !== null && now - k.retiredAt >= SIGNED_PREKEY_GRACE_MS)
    .map((k) => k.id);
  if (deletedSignedPrekeyIds.length > 0) {
    signedPrekeys = signedPrekeys.filter((k) => !deletedSignedPrekeyIds.includes(k.id));
    changed = true;
  }
  let oneTimePrekeys = s.oneTimePrekeys;
  let nextOneTimePrekeyId = s.nextOneTimePrekeyId;
  if (oneTimePrekeys.length < ONE_TIME_PREKEYS_LOW_WATER) {
    const added = issueOneTimePrekeys(crypto, nextOneTimePrekeyId, ONE_TIME_PREKEYS_TARGET - oneTimePrekeys.length);
    if (added.length > 0) {
      oneTimePrekeys = [...oneTimePrekeys, ...added];
      nextOneTimePrekeyId += added.length;
      changed = true;
    }
  }
  const classic = changed ? state({ ...s, signedPrekeys, nextSignedPrekeyId, oneTimePrekeys, nextOneTimePrekeyId }) : s;
  const pq = maintainPqPrekeys(crypto, classic, now);
  return { next: pq.next, changed: changed || pq.changed, deletedSignedPrekeyIds };
}

export function encodePrekeyState(s: PrekeyState): Uint8Array {
  const w = new Writer()
    .u8(PREKEY_RECORD_VERSION)
    .u32(s.nextSignedPrekeyId)
    .u32(s.nextOneTimePrekeyId)
    .u32(s.bundleVersion)
    .u8(s.signedPrekeys.length);
  for (const k of s.signedPrekeys) {
    w.u32(k.id).u64(k.createdAt).u64(k.retiredAt ?? 0).fixed(k.keyPair.publicKey).fixed(k.keyPair.privateKey);
  }
  w.u16(s.oneTimePrekeys.length);
  for (const k of s.oneTimePrekeys) w.u32(k.id).fixed(k.keyPair.publicKey).fixed(k.keyPair.privateKey);
  w.u32(s.nextPqPrekeyId).u32(s.pqSinceBundleVersion).u8(s.pqLastResortPrekeys.length);
  for (const k of s.pqLastResortPrekeys) {
    w.u32(k.id).u64(k.createdAt).u64(k.retiredAt ?? 0).fixed(k.keyPair.publicKey).fixed(k.keyPair.privateKey);
  }
  w.u16(s.pqOneTimePrekeys.length);
  for (const k of s.pqOneTimePrekeys) w.u32(k.id).fixed(k.keyPair.publicKey).fixed(k.keyPair.privateKey);
  return w.finish();
}

function readKemKeyPair(r: Reader): KeyPair {
  const publicKey = r.fixed(KEM_PUBLIC_KEY_BYTES);
  return redacted({ publicKey, privateKey: r.fixed(KEM_PRIVATE_KEY_BYTES) });
}

function readPqSection(r: Reader): Pick<PrekeyState, 'nextPqPrekeyId' | 'pqSinceBundleVersion' | 'pqLastResortPrekeys' | 'pqOneTimePrekeys'> {
  const nextPqPrekeyId = r.u32();
  const pqSinceBundleVersion = r.u32();
  const lastResortCount = r.u8();
  if (lastResortCount > MAX_STORED_PQ_LAST_RESORT_PREKEYS) throw new DecodeError('prekey state: too many last-resort PQ prekeys');
  const pqLastResortPrekeys: PqLastResortPrekey[] = [];
  for (let i = 0; i < lastResortCount; i++) {
    const id = r.u32();
    const createdAt = r.u64();
    const retired = r.u64();
    const keyPair = readKemKeyPair(r);
    const previous = pqLastResortPrekeys[i - 1];
    if (id === 0 || id >= nextPqPrekeyId || (previous !== undefined && id <= previous.id)) {
      throw new DecodeError('prekey state: last-resort PQ prekey ids out of order');
    }
    const isLast = i === lastResortCount - 1;
    if (isLast && retired !== 0) throw new DecodeError('prekey state: the last last-resort PQ prekey must be current');
    pqLastResortPrekeys.push({ id, keyPair, createdAt, retiredAt: isLast ? null : retired });
  }
  const oneTimeCount = r.u16();
  if (oneTimeCount > MAX_STORED_PQ_ONE_TIME_PREKEYS) throw new DecodeError('prekey state: too many one-time PQ prekeys');
  const pqOneTimePrekeys: PqPrekey[] = [];
  for (let i = 0; i < oneTimeCount; i++) {
    const id = r.u32();
    const previous = pqOneTimePrekeys[i - 1];
    if (id === 0 || id >= nextPqPrekeyId || (previous !== undefined && id <= previous.id)) {
      throw new DecodeError('prekey state: one-time PQ prekey ids out of order');
    }
    if (pqLastResortPrekeys.some((k) => k.id === id)) throw new DecodeError('prekey state: a PQ prekey id is used twice');
    pqOneTimePrekeys.push({ id, keyPair: readKemKeyPair(r) });
  }
  return { nextPqPrekeyId, pqSinceBundleVersion, pqLastResortPrekeys, pqOneTimePrekeys };
}

function readKeyPair(r: Reader): KeyPair {
  const publicKey = r.fixed(RAW_KEY_BYTES);
  checkX25519PublicKey(publicKey);
  return redacted({ publicKey, privateKey: r.fixed(RAW_KEY_BYTES) });
}

export function decodePrekeyState(bytes: Uint8Array): PrekeyState {
  const r = new Reader(bytes, 'prekey state');
  const version = r.u8();
  if (version !== PREKEY_RECORD_VERSION && version !== PREKEY_RECORD_VERSION_CLASSIC) {
    throw new DecodeError('prekey state: unsupported version', 'UnsupportedVersion');
  }
  const nextSignedPrekeyId = r.u32();
  const nextOneTimePrekeyId = r.u32();
  const bundleVersion = r.u32();
  const spkCount = r.u8();
  if (spkCount === 0 || spkCount > MAX_STORED_SIGNED_PREKEYS) throw new DecodeError('prekey state: bad signed prekey count');
  const signedPrekeys: SignedPrekey[] = [];
  for (let i = 0; i < spkCount; i++) {
    const id = r.u32();
    const createdAt = r.u64();
    const retired = r.u64();
    const keyPair = readKeyPair(r);
    const previous = signedPrekeys[i - 1];
    if (id === 0 || id >= nextSignedPrekeyId || (previous !== undefined && id <= previous.id)) {
      throw new DecodeError('prekey state: signed prekey ids out of order');
    }
    const isLast = i === spkCount - 1;
    if (isLast && retired !== 0) throw new DecodeError('prekey state: the last signed prekey must be current');
    signedPrekeys.push({ id, keyPair, createdAt, retiredAt: isLast ? null : retired });
  }
  const opkCount = r.u16();
  if (opkCount > MAX_STORED_ONE_TIME_PREKEYS) throw new DecodeError('prekey state: too many one-time prekeys');
  const oneTimePrekeys: OneTimePrekey[] = [];
  for (let i = 0; i < opkCount; i++) {
    const id = r.u32();
    const previous = oneTimePrekeys[i - 1];
    if (id === 0 || id >= nextOneTimePrekeyId || (previous !== undefined && id <= previous.id)) {
      throw new DecodeError('prekey state: one-time prekey ids out of order');
    }
    oneTimePrekeys.push({ id, keyPair: readKeyPair(r) });
  }
  const pq =
    version === PREKEY_RECORD_VERSION
      ? readPqSection(r)
      : { nextPqPrekeyId: 1, pqSinceBundleVersion: 0, pqLastResortPrekeys: [], pqOneTimePrekeys: [] };
  r.end();
  return state({ signedPrekeys, oneTimePrekeys, nextSignedPrekeyId, nextOneTimePrekeyId, bundleVersion, ...pq });
}
