/** Every protocol limit in one place, each with the reason it exists. */

/** Version byte carried in every header, envelope, bundle and in the AD; unknown versions are rejected. */
export const PROTOCOL_VERSION = 1;

/** Most message keys one header may make us skip (DR §3.5 MAX_SKIP): bounds work a forged header can cause. */
export const MAX_SKIP = 1000;
/** Most skipped message keys kept per session, oldest evicted: bounds memory per session. */
export const MAX_SKIPPED_KEYS_PER_SESSION = 2000;
/** A skipped key is deleted after this many DH ratchet steps: old keys weaken forward secrecy. */
export const SKIPPED_KEY_MAX_DH_STEPS = 5;
/** A skipped key is deleted after this age (ms): late messages beyond it are lost by design. */
export const SKIPPED_KEY_MAX_AGE_MS = 30 * 24 * 3600 * 1000;
/** Counters stop here; the session must be re-established (never wrap a u32). */
export const MAX_CHAIN_COUNTER = 0xffff_fffe;

/** Signed prekey lifetime before rotation (ms). */
export const SIGNED_PREKEY_ROTATE_MS = 7 * 24 * 3600 * 1000;
/** Old signed prekey private keys are kept this long for late handshakes, then deleted (ms). */
export const SIGNED_PREKEY_GRACE_MS = 30 * 24 * 3600 * 1000;
/** A bundle older than this is stale and refused by initiators (rotation period plus slack). */
export const BUNDLE_MAX_AGE_MS = SIGNED_PREKEY_ROTATE_MS + 3 * 24 * 3600 * 1000;
/** Clock skew tolerated for a bundle's created_at in the future (ms). */
export const BUNDLE_MAX_FUTURE_SKEW_MS = 10 * 60 * 1000;
/** One-time prekeys published in a bundle. */
export const ONE_TIME_PREKEYS_TARGET = 100;
/** Refill one-time prekeys when fewer than this remain. */
export const ONE_TIME_PREKEYS_LOW_WATER = 20;

/**
 * ML-KEM-768 one-time prekeys published in a bundle (PQXDH). Each public key is 1,184 bytes, so ten
 * add ~12 KB to the retained bundle (~17 KB in all with 100 classic one-time prekeys), well inside
 * one MQTT message; the signed last-resort PQ prekey serves every initiator once these run out.
 */
export const PQ_ONE_TIME_PREKEYS_TARGET = 10;
/** Refill one-time PQ prekeys when fewer than this remain. */
export const PQ_ONE_TIME_PREKEYS_LOW_WATER = 4;

/** Archived sessions kept per peer (Sesame): old sessions still decrypt late messages. */
export const MAX_ARCHIVED_SESSIONS = 40;
/** A session that never got a reply is not used for sending after this (ms): fetch a fresh bundle. */
export const UNACKNOWLEDGED_SESSION_MAX_AGE_MS = 30 * 24 * 3600 * 1000;

/** Encrypted header plaintext is padded to exactly this many bytes, so headers do not leak counters. */
export const HEADER_PADDED_SIZE = 48;
/**
 * Body plaintext is padded up to the smallest bucket that fits, so the relay does not learn lengths.
 * 512 is there because the content fields (content.ts: ~66 bytes + content type + length prefixes)
 * and the padding marker push a typical short message (a 256-byte payload, a line of text) just past
 * 256: without it those went to 1024, doubling what is encrypted, sent and stored for the most common
 * size. The relay still sees only the bucket (Signal pads to multiples of 160 bytes, finer than this).
 */
export const BODY_SIZE_BUCKETS = [256, 512, 1024, 4096, 16384, 65536, 262144] as const;
/** Largest body a message may carry (the largest bucket minus padding overhead). */
export const MAX_BODY_BYTES = 262144 - 64;
/** Routing tag length: lets the receiver find the session in O(1) without naming the sender. */
export const ROUTING_TAG_BYTES = 16;

/** Relay CONNECT proof: accepted clock skew either way (ms); also how long the broker remembers a nonce. */
export const RELAY_AUTH_MAX_SKEW_MS = 2 * 60 * 1000;
/** Relay CONNECT proof nonce length: 128 bits make an accidental repeat negligible. */
export const RELAY_AUTH_NONCE_BYTES = 16;

// ── Groups (core/group/) ─────────────────────────────────────────────────────────────────────────

/**
 * Most members of one group, owner included. After a removal every remaining sender re-sends its key
 * pairwise to every member (one ratchet step each: N² across the group), and each membership version
 * carries the whole list (20 bytes a member, ~20 KB at 1024): this keeps one sender's re-key near a
 * thousand pairwise messages and a version well inside one message.
 */
export const MAX_GROUP_MEMBERS = 1024;
/** Most groups one daemon belongs to: bounds its routing index (one tag per sender and key of each group). */
export const MAX_GROUPS_PER_DAEMON = 1000;
/** Longest group name (UTF-8 bytes): a label, not a document; it travels in every membership version. */
export const MAX_GROUP_NAME_BYTES = 128;
/** Group id length: 128 bits, derived from the owner's identity key and a nonce (no collisions by chance). */
export const GROUP_ID_BYTES = 16;

/**
 * Most message keys one group message may make a member skip on a sender's chain (the sender-key MAX_SKIP).
 * The signature is checked first, so only a member can cause this work; the bound caps what one
 * (possibly malicious) member costs the others per message.
 */
export const MAX_GROUP_SKIP = 1000;
/** Most skipped message keys kept per sender chain, oldest evicted: bounds one chain record (~44 B a key). */
export const MAX_GROUP_SKIPPED_KEYS_PER_CHAIN = 1000;
/**
 * A skipped group message key is deleted after this age (ms): it only ever waits for a reordered copy,
 * and a message lost with it is re-sent pairwise by its sender (delivery is per-member receipts).
 */
export const GROUP_SKIPPED_KEY_MAX_AGE_MS = 7 * 24 * 3600 * 1000;
/**
 * Former chains a member keeps per sender after the sender rotated: copies under the old key may still
 * be queued; two covers a rotation that races another.
 */
export const MAX_RETIRED_SENDER_CHAINS = 2;
/** A retired sender chain is deleted this long after it was retired (ms, the member's clock). */
export const RETIRED_SENDER_CHAIN_MAX_AGE_MS = 7 * 24 * 3600 * 1000;

/** A sender key is replaced after this age (ms): bounds how long a stolen member state reads new messages. */
export const SENDER_KEY_MAX_AGE_MS = 7 * 24 * 3600 * 1000;
/** A sender key is replaced after this many messages: the same bound counted in messages. */
export const SENDER_KEY_MAX_MESSAGES = 10_000;

/**
 * Sequence numbers a member tracks above its cumulative receipt per sender (seq-log.ts): bounds the
 * record; past it the oldest hole is given up (and reported), which only happens when thousands of
 * messages arrive while an earlier one is still missing.
 */
export const MAX_GROUP_SEQ_ABOVE = 2000;
