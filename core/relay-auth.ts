/**
 * The relay CONNECT proof. Aedes 1.x speaks MQTT 3.1.1 only (no enhanced AUTH), so a client proves
 * at CONNECT that it holds the Ed25519 identity key behind its user id with a signed token in the
 * password field:
 *
 *   username = userId (self-certifying: deriveUserId(IK))
 *   password = version(2) ‖ IK public(32) ‖ timestamp u64 ms(8) ‖ nonce(16) ‖ Sig(64)
 *   Sig      = Ed25519(IK, "ratchetd-v2/relay-auth" ‖ lp(relay name) ‖ lp(clientId) ‖ lp(userId)
 *                          ‖ timestamp ‖ nonce ‖ lp(channel binding))
 *
 * - The relay name (the "audience": `--relay-name` on both sides, "ratchetd" by default) stops a
 *   proof made for one relay logging in at another relay with another name.
 * - The channel binding is the TLS connection's exporter (RFC 9266 tls-exporter: label
 *   "EXPORTER-Channel-Binding", 32 bytes, no context), empty on plain TCP. Both ends compute it from
 *   their own TLS session, so a proof made on one TLS connection verifies on no other: a proof read
 *   off the wire (or from a TLS-terminating proxy) is worthless anywhere else. It is not carried in
 *   the token; a broker checks proofs on a TLS listener with its own exporter, on a plain listener
 *   with the empty binding, so a bound proof fails on plain TCP and an unbound one on TLS.
 * - The client id is bound to the user id so nobody can take over (or, with clean:true, wipe)
 *   another user's session; the timestamp bounds a proof's life and the nonce lets the broker refuse
 *   a replay within that life (on plain TCP the nonce cache is the only replay defence).
 * Version 1 (the same token without the binding, domain "ratchetd-v1/relay-auth") is no longer
 * accepted: every daemon and broker of this code base makes and checks version 2.
 * Pure: crypto and the clock are passed in.
 */
import type { Crypto, KeyPair } from './crypto.ts';
import { Reader, Writer, concat, lp, toHex, utf8 } from './bytes.ts';
import { DecodeError, RatchetError } from './errors.ts';
import type { ErrorCode } from './errors.ts';
import { RELAY_AUTH_MAX_SKEW_MS, RELAY_AUTH_NONCE_BYTES } from './limits.ts';
import { deriveUserId, parseUserId } from './user-id.ts';
import type { UserId } from './user-id.ts';

/** Version byte of the proof token; unknown versions are refused. */
export const RELAY_AUTH_VERSION = 2;
/**
 * Default relay name (audience), the same on both sides so that default flags interoperate, also
 * through a plain TCP proxy. Give each relay (cluster) its own name with --relay-name.
 */
export const DEFAULT_RELAY_AUDIENCE = 'ratchetd';
/** Exact length of a proof token: version ‖ IK ‖ timestamp ‖ nonce ‖ signature. */
export const RELAY_PROOF_BYTES = 1 + 32 + 8 + RELAY_AUTH_NONCE_BYTES + 64;
/** RFC 9266 tls-exporter channel binding: the exporter label both ends use (no context argument). */
export const TLS_EXPORTER_LABEL = 'EXPORTER-Channel-Binding';
/** RFC 9266: 32 bytes of exporter output. */
export const CHANNEL_BINDING_BYTES = 32;
/** The binding of a connection that is not TLS (plain TCP, ws://). */
export const NO_CHANNEL_BINDING: Uint8Array = new Uint8Array(0);

const DOMAIN_LABEL = utf8.encode('ratchetd-v2/relay-auth');
/** Longest relay name (audience) in bytes; a name is also a log field and a flag value. */
export const MAX_AUDIENCE_BYTES = 255;
const MAX_CLIENT_ID_BYTES = 255;

/** A refused proof. `code` says why; the broker maps every code to a CONNACK refusal. */
export class RelayAuthError extends RatchetError {
  constructor(code: ErrorCode, message: string) {
    super(code, message);
  }
}

export interface RelayIdentity {
  readonly userId: UserId;
  /** Ed25519 identity key pair (IK); privateKey is libsodium's 64-byte secret key. */
  readonly keyPair: KeyPair;
}

export interface RelayProof {
  readonly username: string;
  readonly password: Uint8Array;
}

export interface VerifiedRelayProof {
  readonly userId: UserId;
  readonly nonce: Uint8Array;
  readonly timestamp: number;
}

function boundedUtf8(s: string, max: number, what: string): Uint8Array {
  const b = utf8.encode(s);
  if (b.length === 0 || b.length > max) throw new DecodeError(`${what} must be 1..${max} bytes`);
  return b;
}

function checkedBinding(binding: Uint8Array): Uint8Array {
  if (binding.length !== 0 && binding.length !== CHANNEL_BINDING_BYTES) {
    throw new DecodeError(`channel binding must be empty or ${CHANNEL_BINDING_BYTES} bytes`);
  }
  return binding;
}

/** The message Sig covers; every variable-length field is length-prefixed so fields cannot shift. */
function signedMessage(
  audience: string,
  clientId: string,
  userId: string,
  timestamp: number,
  nonce: Uint8Array,
  binding: Uint8Array,
): Uint8Array {
  const ts = new Writer().u64(timestamp).finish();
  return concat(
    DOMAIN_LABEL,
    lp(boundedUtf8(audience, MAX_AUDIENCE_BYTES, 'audience')),
    lp(boundedUtf8(clientId, MAX_CLIENT_ID_BYTES, 'client id')),
    lp(utf8.encode(userId)),
    ts,
    nonce,
    lp(checkedBinding(binding)),
  );
}

/**
 * Makes a fresh CONNECT proof. Call it for every (re)connect: the broker refuses a nonce it has seen,
 * so a proof must never be reused (mqtt.js resends `options.password` on reconnect; refresh it in the
 * client's 'reconnect' event). `channelBinding`: the connection's TLS exporter, once its handshake
 * is done (empty on plain TCP).
 */
export function createRelayProof(
  crypto: Crypto,
  identity: RelayIdentity,
  clientId: string,
  audience: string,
  now: number,
  channelBinding: Uint8Array = NO_CHANNEL_BINDING,
): RelayProof {
  const publicKey = identity.keyPair.publicKey;
  if (publicKey.length !== 32) throw new DecodeError('identity key must be 32 bytes', 'InvalidKey');
  if (deriveUserId(crypto, publicKey) !== identity.userId) {
    throw new RelayAuthError('IdentityMismatch', 'user id does not match the identity key');
  }
  const nonce = crypto.randomBytes(RELAY_AUTH_NONCE_BYTES);
  const message = signedMessage(audience, clientId, identity.userId, now, nonce, channelBinding);
  const signature = crypto.sign(message, identity.keyPair.privateKey);
  const password = new Writer()
    .u8(RELAY_AUTH_VERSION)
    .fixed(publicKey)
    .u64(now)
    .fixed(nonce)
    .fixed(signature)
    .finish();
  return { username: identity.userId, password };
}

interface DecodedProof {
  readonly identityKey: Uint8Array;
  readonly timestamp: number;
  readonly nonce: Uint8Array;
  readonly signature: Uint8Array;
}

/** Parses the token's bytes: exact length and version first; throws only DecodeError. */
export function decodeRelayProof(password: Uint8Array): DecodedProof {
  if (password.length !== RELAY_PROOF_BYTES) throw new DecodeError('relay proof: wrong length');
  const r = new Reader(password, 'relay proof');
  const version = r.u8();
  if (version !== RELAY_AUTH_VERSION) throw new DecodeError('relay proof: unsupported version', 'UnsupportedVersion');
  const identityKey = r.fixed(32);
  const timestamp = r.u64();
  const nonce = r.fixed(RELAY_AUTH_NONCE_BYTES);
  const signature = r.fixed(64);
  r.end();
  return { identityKey, timestamp, nonce, signature };
}

/**
 * Checks a CONNECT proof, statelessly (the replay check on the nonce is the broker's: it owns the
 * cache). Order: parse, bind user id to the key, bind client id to the user id, freshness, signature.
 * `channelBinding`: the broker's own exporter of the connection the proof arrived on (empty on a
 * plain listener); a proof made for any other channel fails as BadSignature.
 */
export function verifyRelayProof(
  crypto: Crypto,
  username: string | undefined,
  password: Uint8Array | undefined,
  clientId: string,
  audience: string,
  now: number,
  maxSkewMs: number = RELAY_AUTH_MAX_SKEW_MS,
  channelBinding: Uint8Array = NO_CHANNEL_BINDING,
): VerifiedRelayProof {
  if (username === undefined || password === undefined) throw new DecodeError('relay proof: missing username or password');
  const userId = parseUserId(username);
  const proof = decodeRelayProof(password);
  if (deriveUserId(crypto, proof.identityKey) !== userId) {
    throw new RelayAuthError('IdentityMismatch', 'user id is not derived from the presented identity key');
  }
  if (clientId !== userId) throw new RelayAuthError('IdentityMismatch', 'client id must equal the user id');
  if (proof.timestamp < now - maxSkewMs) throw new RelayAuthError('StaleProof', 'relay proof is too old');
  if (proof.timestamp > now + maxSkewMs) throw new RelayAuthError('FutureProof', 'relay proof is from the future');
  const message = signedMessage(audience, clientId, userId, proof.timestamp, proof.nonce, channelBinding);
  if (!crypto.verify(proof.signature, message, proof.identityKey)) {
    throw new RelayAuthError('BadSignature', 'relay proof signature does not verify');
  }
  return { userId, nonce: proof.nonce, timestamp: proof.timestamp };
}

/** A printable replay-cache key for a verified proof (the nonce is public; no secret is involved). */
export function relayProofReplayKey(proof: VerifiedRelayProof): string {
  return `${proof.userId}:${toHex(proof.nonce)}`;
}

/**
 * The mqtt.js client options for one connection, as plain data (the core does not import mqtt).
 * Use a fresh proof per (re)connect: `client.on('reconnect', () => Object.assign(client.options,
 * relayConnectOptions(...)))` — mqtt.js builds each CONNECT from `client.options`.
 */
export function relayConnectOptions(
  crypto: Crypto,
  identity: RelayIdentity,
  audience: string,
  now: number,
  channelBinding: Uint8Array = NO_CHANNEL_BINDING,
): { clientId: string; username: string; password: Buffer; protocolVersion: 4; clean: false } {
  const clientId: string = identity.userId; // the broker binds client id = user id
  const proof = createRelayProof(crypto, identity, clientId, audience, now, channelBinding);
  return {
    clientId,
    username: proof.username,
    password: Buffer.from(proof.password.buffer, proof.password.byteOffset, proof.password.byteLength),
    protocolVersion: 4,
    clean: false,
  };
}
