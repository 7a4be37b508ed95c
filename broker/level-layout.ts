/**
 * The broker database's on-disk layout: the keys and record encoding of aedes-persistence-level 9.x,
 * kept exactly, so a data dir written before the batched persistence (broker/level-persistence.ts)
 * opens without a migration, and one written after still opens with the old code.
 *
 *   retained:{topic}                                 the retained packet
 *   subscriptions:{enc(clientId)}:{topic}            { clientId, topic, qos, rh, rap, nl, ... }
 *   outgoing:{enc(clientId)}:{brokerId}:{pad(counter)}   a queued packet (in queue order)
 *   outgoing-id:{enc(clientId)}:{pad(messageId)}     the same packet once it has a message id
 *   incoming:{enc(clientId)}:{pad(messageId)}        a QoS 2 packet received, not yet released
 *   will:{enc(clientId)}                             a will message
 * enc = encodeURIComponent (so ':' never appears inside an id), pad = 16 digits; values are
 * msgpack-lite encoded. Other keys (the broker's own sublevels, "!name!…") are not ours.
 */
import msgpack from 'msgpack-lite';

export const RETAINED = 'retained:';
export const SUBSCRIPTIONS = 'subscriptions:';
export const OUTGOING = 'outgoing:';
export const OUTGOING_BY_ID = 'outgoing-id:';
export const INCOMING = 'incoming:';
export const WILL = 'will:';

/** Digits of a padded counter or message id: Number.MAX_SAFE_INTEGER has 16. */
const PAD_DIGITS = 16;

/** As aedes-persistence-level pads (an absent number gives "undefined", as it did). */
export const pad = (n: number | undefined): string | undefined => n?.toString().padStart(PAD_DIGITS, '0');
const enc = encodeURIComponent;

export const retainedKey = (topic: string): string => `${RETAINED}${topic}`;
export const subscriptionsOf = (clientId: string): string => `${SUBSCRIPTIONS}${enc(clientId)}:`;
export const subscriptionKey = (clientId: string, topic: string): string => `${subscriptionsOf(clientId)}${topic}`;
export const outgoingOf = (clientId: string): string => `${OUTGOING}${enc(clientId)}:`;
export const outgoingKey = (clientId: string, brokerId: string | undefined, brokerCounter: number | undefined): string =>
  `${outgoingOf(clientId)}${brokerId}:${pad(brokerCounter)}`;
export const outgoingByIdKey = (clientId: string, messageId: number | undefined): string => `${OUTGOING_BY_ID}${enc(clientId)}:${pad(messageId)}`;
export const incomingOf = (clientId: string): string => `${INCOMING}${enc(clientId)}:`;
export const incomingKey = (clientId: string, messageId: number | undefined): string => `${incomingOf(clientId)}${pad(messageId)}`;
export const willKey = (clientId: string): string => `${WILL}${enc(clientId)}`;

/** The client id a per-client key (`{prefix}{enc(clientId)}:…` or `will:{enc(clientId)}`) belongs to. */
export function clientIdOf(key: string, prefix: string): string {
  const rest = key.slice(prefix.length);
  const end = rest.indexOf(':');
  return decodeURIComponent(end < 0 ? rest : rest.slice(0, end));
}

/**
 * Every key under `prefix` (which ends in ':'): from the prefix up to the same string with ';',
 * the next byte, instead of the ':' (nothing sorts between them, whatever bytes follow).
 */
export function prefixRange(prefix: string): { gte: string; lt: string } {
  return { gte: prefix, lt: `${prefix.slice(0, -1)};` };
}

/** A stored record: a packet, subscription or will as plain fields. */
export type StoredRecord = Record<string, unknown>;

export function encodeRecord(record: StoredRecord): Buffer {
  return msgpack.encode(record);
}

export function decodeRecord(blob: Uint8Array): StoredRecord {
  return msgpack.decode(blob) as StoredRecord;
}
