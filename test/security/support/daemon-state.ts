/**
 * What an attacker holding a copy of a data dir (key file included) can reconstruct: opens the
 * store with the key file, decodes identity, prekeys and peer records through the protocol facade,
 * and lists every private value found in them (for the secret scans). Only for stopped daemons or
 * copies: LevelDB allows one opener.
 */
import type { Crypto } from '../../../core/crypto.ts';
import pino from 'pino';
import {
  decodeIdentity,
  decodePrekeyState,
  type LocalIdentity,
  type PeerRecord,
  type PrekeyState,
  type Session,
} from '../../../core/index.ts';
import { PeerStore } from '../../../daemon/engine/peers.ts';
import { openDataDirStore } from '../../../daemon/store/open-store.ts';
import type { UserId } from '../../../core/user-id.ts';

export interface DaemonState {
  readonly identity: LocalIdentity;
  readonly prekeys: PrekeyState;
  /** Peer records by peer user id. */
  readonly peers: Map<string, PeerRecord>;
  /** Replay ids in the store (hex), so an honest replay check can be simulated. */
  readonly replayIds: Set<string>;
}

export interface LabelledSecret {
  readonly label: string;
  readonly bytes: Uint8Array;
}

export async function readDaemonState(crypto: Crypto, dataDir: string): Promise<DaemonState> {
  const store = await openDataDirStore({ dataDir, crypto });
  try {
    const identityBytes = await store.get('identity', 'self');
    const prekeyBytes = await store.get('prekeys', 'self');
    if (identityBytes === undefined || prekeyBytes === undefined) throw new Error(`${dataDir}: no identity or prekeys stored`);
    const peers = new Map<string, PeerRecord>();
    const userIds: string[] = [];
    for await (const r of store.iterate('peer')) {
      if (!r.ok) throw r.error;
      userIds.push(r.key);
    }
    // Peer records are stored split (head, archived sessions, skipped keys, held-back messages):
    // the engine's own reader puts them together.
    const reader = new PeerStore(crypto, store, pino({ level: 'silent' }));
    for (const id of userIds) {
      const { record } = await reader.load(id as UserId);
      if (record !== null) peers.set(id, record);
    }
    const replayIds = new Set<string>();
    for await (const r of store.iterate('replay')) {
      if (!r.ok) throw r.error;
      replayIds.add(r.key);
    }
    return { identity: decodeIdentity(crypto, identityBytes), prekeys: decodePrekeyState(prekeyBytes), peers, replayIds };
  } finally {
    await store.close();
  }
}

function sessionSecrets(prefix: string, s: Session): LabelledSecret[] {
  const r = s.ratchet;
  const out: LabelledSecret[] = [];
  const add = (label: string, b: Uint8Array | null | undefined): void => {
    if (b !== null && b !== undefined && b.length >= 16) out.push({ label: `${prefix}.${label}`, bytes: b.slice() });
  };
  add('DHs.private', r.dhs.privateKey);
  add('RK', r.rk);
  add('CKs', r.cks);
  add('CKr', r.ckr);
  add('HKs', r.hks);
  add('HKr', r.hkr);
  add('NHKs', r.nhks);
  add('NHKr', r.nhkr);
  r.retiredHeaderKeys.forEach((k, i) => add(`retiredHK[${i}]`, k));
  r.skipped.forEach((chain, i) => {
    add(`skipped[${i}].HK`, chain.headerKey);
    chain.keys.forEach((k) => add(`skipped[${i}].MK(n=${k.n})`, k.mk));
  });
  return out;
}

/**
 * Every private value of a daemon state: identity (64-byte secret key, 32-byte seed, X25519 form),
 * signed and one-time prekey privates, and per session the ratchet's DHs private key, root, chain
 * and header keys and skipped message keys.
 */
export function privateSecrets(crypto: Crypto, name: string, st: DaemonState): LabelledSecret[] {
  const sk = st.identity.keyPair.privateKey;
  const out: LabelledSecret[] = [
    { label: `${name}.identity.ed25519-secret-key(64)`, bytes: sk.slice() },
    { label: `${name}.identity.seed(32)`, bytes: sk.slice(0, 32) },
    { label: `${name}.identity.x25519-private`, bytes: crypto.ed25519PrivateToX25519(sk) },
  ];
  for (const spk of st.prekeys.signedPrekeys) out.push({ label: `${name}.SPK#${spk.id}.private`, bytes: spk.keyPair.privateKey.slice() });
  for (const opk of st.prekeys.oneTimePrekeys) out.push({ label: `${name}.OPK#${opk.id}.private`, bytes: opk.keyPair.privateKey.slice() });
  for (const [peer, rec] of st.peers) {
    const p = `${name}.peer(${peer.slice(0, 6)})`;
    if (rec.active !== null) out.push(...sessionSecrets(`${p}.active`, rec.active));
    rec.archived.forEach((s, i) => out.push(...sessionSecrets(`${p}.archived[${i}]`, s)));
  }
  return out;
}

/** The public identity values of a daemon that must not appear inside envelopes it sends. */
export function identityMarkers(crypto: Crypto, name: string, identity: LocalIdentity): LabelledSecret[] {
  const pk = identity.keyPair.publicKey;
  return [
    { label: `${name}.userId(text)`, bytes: Buffer.from(identity.userId, 'utf8') },
    { label: `${name}.userId(raw 20 bytes)`, bytes: base32Decode(identity.userId) },
    { label: `${name}.identityKey(ed25519)`, bytes: pk.slice() },
    { label: `${name}.identityKey(x25519)`, bytes: crypto.ed25519PublicToX25519(pk) },
  ];
}

function base32Decode(s: string): Uint8Array {
  const alphabet = 'abcdefghijklmnopqrstuvwxyz234567';
  const out: number[] = [];
  let bits = 0;
  let value = 0;
  for (const ch of s) {
    value = (value << 5) | alphabet.indexOf(ch);
    bits += 5;
    if (bits >= 8) {
      out.push((value >>> (bits - 8)) & 0xff);
      bits -= 8;
    }
  }
  return Uint8Array.from(out);
}

/** Labels of the secrets that occur in haystack (exact byte match). */
export function findSecrets(haystack: Buffer, secrets: readonly LabelledSecret[]): string[] {
  return secrets.filter((s) => haystack.indexOf(Buffer.from(s.bytes)) >= 0).map((s) => s.label);
}
