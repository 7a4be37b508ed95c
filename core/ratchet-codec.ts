/**
 * Versioned binary encoding of RatchetState. Deterministic, so decode → encode gives back the same
 * bytes; the decoder checks the version byte first, then every length and invariant, and throws only
 * DecodeError. No JSON, one allocation per encode (this runs on every message).
 *
 * Format v2 (integers big-endian; T = a 16-byte routing tag, tag(HK) of the header key before it):
 *   u8  STATE_FORMAT_VERSION (2)
 *   u8  flags: 0x01 DHr, 0x02 CKs+HKs, 0x04 CKr+HKr, 0x08 received (other bits must be 0)
 *   32  DHs public ‖ 32 DHs private ‖ 32 RK
 *   [32 DHr] [32 CKs ‖ 32 HKs ‖ T] [32 CKr ‖ 32 HKr ‖ T]      (present per flags, in this order)
 *   32  NHKs ‖ 32 NHKr ‖ T
 *   u32 Ns ‖ u32 Nr ‖ u32 PN ‖ u32 dhStep
 *   u16 |AD| ‖ AD
 *   u8  retired header key count (≤ SKIPPED_KEY_MAX_DH_STEPS) ‖ (32 HK ‖ T) each, newest first
 *   u16 skipped chain count ‖ per chain: 32 HK ‖ u32 dhStep ‖ u16 key count (≥ 1)
 *       ‖ per key: u32 N ‖ u64 skippedAt(ms) ‖ 32 MK
 *   (total skipped keys ≤ MAX_SKIPPED_KEYS_PER_SESSION; no trailing bytes)
 * v1 was v2 without the tags; it is refused (UnsupportedVersion): its tags cannot be derived here
 * without crypto, and no v1 state was ever deployed. The tags are not checked against their keys on
 * decode (no crypto here either): a wrong one only misroutes, it never opens a header.
 */
import { Reader } from './bytes.ts';
import { DecodeError } from './errors.ts';
import { MAX_CHAIN_COUNTER, MAX_SKIPPED_KEYS_PER_SESSION, ROUTING_TAG_BYTES, SKIPPED_KEY_MAX_DH_STEPS } from './limits.ts';
import { RatchetState } from './ratchet-state.ts';
import type { SkippedChain, SkippedKey } from './skipped-keys.ts';
import { checkX25519PublicKey } from './keys.ts';

export const STATE_FORMAT_VERSION = 2;
const K = 32;
const T = ROUTING_TAG_BYTES;
const FLAG_DHR = 0x01;
const FLAG_SENDING = 0x02;
const FLAG_RECEIVING = 0x04;
const FLAG_RECEIVED = 0x08;
const KNOWN_FLAGS = FLAG_DHR | FLAG_SENDING | FLAG_RECEIVING | FLAG_RECEIVED;
const SKIPPED_KEY_BYTES = 4 + 8 + K;
const MAX_AD_BYTES = 0xffff;

function encodedSize(s: RatchetState): number {
  let n = 2 + 3 * K + 2 * K + T + 16 + 2 + s.ad.length + 1 + (K + T) * s.retiredHeaderKeys.length + 2;
  if (s.dhr) n += K;
  if (s.cks) n += 2 * K + T;
  if (s.ckr) n += 2 * K + T;
  for (const chain of s.skipped) n += K + 4 + 2 + SKIPPED_KEY_BYTES * chain.keys.length;
  return n;
}

export function encodeRatchetState(s: RatchetState): Uint8Array {
  const out = new Uint8Array(encodedSize(s));
  const view = new DataView(out.buffer);
  const sending = s.cks !== null && s.hks !== null;
  const receiving = s.ckr !== null && s.hkr !== null;
  out[0] = STATE_FORMAT_VERSION;
  out[1] = (s.dhr ? FLAG_DHR : 0) | (sending ? FLAG_SENDING : 0) | (receiving ? FLAG_RECEIVING : 0) | (s.received ? FLAG_RECEIVED : 0);
  out.set(s.dhs.publicKey, 2);
  out.set(s.dhs.privateKey, 2 + K);
  out.set(s.rk, 2 + 2 * K);
  let o = 2 + 3 * K;
  if (s.dhr) {
    out.set(s.dhr, o);
    o += K;
  }
  if (sending) {
    out.set(s.cks!, o);
    out.set(s.hks!, o + K);
    out.set(s.hksTag!, o + 2 * K);
    o += 2 * K + T;
  }
  if (receiving) {
    out.set(s.ckr!, o);
    out.set(s.hkr!, o + K);
    out.set(s.hkrTag!, o + 2 * K);
    o += 2 * K + T;
  }
  out.set(s.nhks, o);
  out.set(s.nhkr, o + K);
  out.set(s.nhkrTag, o + 2 * K);
  o += 2 * K + T;
  view.setUint32(o, s.ns);
  view.setUint32(o + 4, s.nr);
  view.setUint32(o + 8, s.pn);
  view.setUint32(o + 12, s.dhStep);
  view.setUint16(o + 16, s.ad.length);
  out.set(s.ad, o + 18);
  o += 18 + s.ad.length;
  out[o++] = s.retiredHeaderKeys.length;
  s.retiredHeaderKeys.forEach((hk, i) => {
    out.set(hk, o);
    out.set(s.retiredHeaderTags[i]!, o + K);
    o += K + T;
  });
  view.setUint16(o, s.skipped.length);
  o += 2;
  for (const chain of s.skipped) {
    out.set(chain.headerKey, o);
    view.setUint32(o + K, chain.dhStep);
    view.setUint16(o + K + 4, chain.keys.length);
    o += K + 6;
    for (const key of chain.keys) {
      view.setUint32(o, key.n);
      view.setBigUint64(o + 4, BigInt(key.at));
      out.set(key.mk, o + 12);
      o += SKIPPED_KEY_BYTES;
    }
  }
  return out;
}

function counter(r: Reader, what: string): number {
  const v = r.u32();
  if (v > MAX_CHAIN_COUNTER) throw new DecodeError(`ratchet state: ${what} out of range`);
  return v;
}

export function decodeRatchetState(bytes: Uint8Array): RatchetState {
  const r = new Reader(bytes, 'ratchet state');
  const version = r.u8();
  if (version !== STATE_FORMAT_VERSION) throw new DecodeError('ratchet state: unsupported version', 'UnsupportedVersion');
  const flags = r.u8();
  if ((flags & ~KNOWN_FLAGS) !== 0) throw new DecodeError('ratchet state: unknown flags');
  const publicKey = r.fixed(K);
  const privateKey = r.fixed(K);
  const rk = r.fixed(K);
  const dhr = flags & FLAG_DHR ? r.fixed(K) : null;
  if (dhr) checkX25519PublicKey(dhr);
  const cks = flags & FLAG_SENDING ? r.fixed(K) : null;
  const hks = cks ? r.fixed(K) : null;
  const hksTag = cks ? r.fixed(T) : null;
  const ckr = flags & FLAG_RECEIVING ? r.fixed(K) : null;
  const hkr = ckr ? r.fixed(K) : null;
  const hkrTag = ckr ? r.fixed(T) : null;
  if (ckr && !dhr) throw new DecodeError('ratchet state: receiving chain without DHr');
  const nhks = r.fixed(K);
  const nhkr = r.fixed(K);
  const nhkrTag = r.fixed(T);
  const ns = counter(r, 'Ns');
  const nr = counter(r, 'Nr');
  const pn = counter(r, 'PN');
  const dhStep = r.u32();
  const ad = r.bytes16(MAX_AD_BYTES);
  const retiredCount = r.u8();
  if (retiredCount > SKIPPED_KEY_MAX_DH_STEPS) throw new DecodeError('ratchet state: too many retired header keys');
  const retiredHeaderKeys: Uint8Array[] = [];
  const retiredHeaderTags: Uint8Array[] = [];
  for (let i = 0; i < retiredCount; i++) {
    retiredHeaderKeys.push(r.fixed(K));
    retiredHeaderTags.push(r.fixed(T));
  }
  const chainCount = r.u16();
  const skipped: SkippedChain[] = [];
  let total = 0;
  for (let c = 0; c < chainCount; c++) {
    const headerKey = r.fixed(K);
    const chainStep = r.u32();
    if (chainStep > dhStep) throw new DecodeError('ratchet state: skipped chain from the future');
    const keyCount = r.u16();
    total += keyCount;
    if (keyCount === 0 || total > MAX_SKIPPED_KEYS_PER_SESSION) throw new DecodeError('ratchet state: bad skipped key count');
    const keys: SkippedKey[] = [];
    for (let k = 0; k < keyCount; k++) keys.push({ n: counter(r, 'skipped N'), at: r.u64(), mk: r.fixed(K) });
    skipped.push({ headerKey, dhStep: chainStep, keys });
  }
  r.end();
  return new RatchetState({
    dhs: { publicKey, privateKey },
    dhr,
    rk,
    cks,
    ckr,
    ns,
    nr,
    pn,
    hks,
    hkr,
    nhks,
    nhkr,
    hksTag,
    hkrTag,
    nhkrTag,
    dhStep,
    received: (flags & FLAG_RECEIVED) !== 0,
    retiredHeaderKeys,
    retiredHeaderTags,
    skipped,
    ad,
  });
}
