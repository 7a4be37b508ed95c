/**
 * Lightweight contacts for bench:scale. Each is only an identity and a peer record held in the
 * bench process (no daemon, no store): it sets its session with the daemon under test up through the
 * real broker, the way any peer would — X3DH from the daemon's published bundle (the signed-prekey
 * path, so 10,000 contacts do not compete for 100 one-time prekeys), a first message published to the
 * daemon's inbox, and the daemon's encrypted receipt read from its own inbox, which confirms the
 * session (from then on its messages are session envelopes, routed by tag). The daemon processes
 * every handshake through its normal path: TOFU contact, peer record, routing-tag index, receipt.
 */
import mqtt, { type MqttClient } from 'mqtt';
import type { Crypto } from '../core/crypto.ts';
import {
  createIdentity,
  decodeEnvelope,
  decryptFromPeer,
  encryptForPeer,
  startSession,
  type LocalIdentity,
  type PeerRecord,
  type VerifiedBundle,
} from '../core/index.ts';
import { createRelayProof, DEFAULT_RELAY_AUDIENCE } from '../core/relay-auth.ts';
import { inboxTopic } from '../core/topics.ts';
import type { UserId } from '../core/user-id.ts';

export interface BenchContact {
  readonly identity: LocalIdentity;
  /** The contact's side of its session with the daemon (updated as it encrypts). */
  record: PeerRecord;
}

export const BENCH_CONTENT_TYPE = 'text/plain';
const RECEIPT_WAIT_MS = 60_000;

/** An MQTT 3.1.1 connection to the ratchetd broker authenticated as `identity` (clean session). */
export async function connectAs(crypto: Crypto, brokerUrl: string, identity: LocalIdentity): Promise<MqttClient> {
  const proof = createRelayProof(crypto, identity, identity.userId, DEFAULT_RELAY_AUDIENCE, Date.now());
  const client = await mqtt.connectAsync(brokerUrl, {
    clientId: identity.userId,
    username: proof.username,
    password: Buffer.from(proof.password),
    protocolVersion: 4,
    clean: true,
    reconnectPeriod: 0,
    connectTimeout: 30_000,
  });
  // Small MQTT packets on loopback otherwise wait ~40 ms (Nagle + delayed ACK), as the daemon's do not.
  (client.stream as { setNoDelay?: (on: boolean) => void }).setNoDelay?.(true);
  return client;
}

/** Publishes envelopes QoS 1 to `to`'s inbox, at most `window` unacknowledged at a time, in order. */
export async function publishAll(client: MqttClient, to: UserId, envelopes: readonly Uint8Array[], window: number): Promise<void> {
  const topic = inboxTopic(to);
  let inFlight = 0;
  let failed: Error | undefined;
  let wake: (() => void) | undefined;
  for (const e of envelopes) {
    while (inFlight >= window && failed === undefined) await new Promise<void>((r) => (wake = r));
    if (failed !== undefined) throw failed;
    inFlight += 1;
    client.publish(topic, Buffer.from(e.buffer, e.byteOffset, e.byteLength), { qos: 1 }, (err) => {
      inFlight -= 1;
      if (err) failed = err;
      wake?.();
    });
  }
  while (inFlight > 0 && failed === undefined) await new Promise<void>((r) => (wake = r));
  if (failed !== undefined) throw failed;
}

/** One contact: identity, X3DH, first message, wait for the daemon's receipt. */
async function establishOne(crypto: Crypto, brokerUrl: string, daemon: UserId, bundle: VerifiedBundle): Promise<BenchContact> {
  const identity = createIdentity(crypto);
  const now = Date.now();
  const started = startSession(crypto, identity, null, bundle, now, { useOneTimePrekey: false });
  const hello = encryptForPeer(crypto, identity, started, { kind: 'message', body: new TextEncoder().encode('hello'), contentType: BENCH_CONTENT_TYPE }, now);
  let record = hello.next;
  const client = await connectAs(crypto, brokerUrl, identity);
  try {
    const confirmed = new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no receipt from the daemon for contact ${identity.userId} within ${RECEIPT_WAIT_MS} ms`)), RECEIPT_WAIT_MS);
      client.on('message', (_topic, payload) => {
        try {
          const env = decodeEnvelope(new Uint8Array(payload));
          if (env.kind !== 'session') return;
          record = decryptFromPeer(crypto, record, env, Date.now()).next;
          if (record.active?.pendingHandshake === null) {
            clearTimeout(timer);
            resolve();
          }
        } catch (e) {
          clearTimeout(timer);
          reject(e as Error);
        }
      });
    });
    await client.subscribeAsync(inboxTopic(identity.userId), { qos: 1 });
    await client.publishAsync(inboxTopic(daemon), Buffer.from(hello.envelope), { qos: 1 });
    await confirmed;
  } finally {
    await client.endAsync(true);
  }
  return { identity, record };
}

/** `count` contacts with confirmed sessions with `daemon`, `concurrency` set up at a time. */
export async function establishContacts(
  crypto: Crypto,
  brokerUrl: string,
  daemon: UserId,
  bundle: VerifiedBundle,
  count: number,
  concurrency: number,
  onProgress: (done: number) => void = () => undefined,
): Promise<BenchContact[]> {
  const out: BenchContact[] = [];
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < count) {
      next += 1;
      out.push(await establishOne(crypto, brokerUrl, daemon, bundle));
      onProgress(out.length);
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, count) }, worker));
  return out;
}

/** Pre-encrypts one message per entry of `senders` (contact indexes), in that order. */
export function encryptBurst(crypto: Crypto, contacts: BenchContact[], senders: readonly number[], label: string): Uint8Array[] {
  const now = Date.now();
  return senders.map((i, n) => {
    const c = contacts[i];
    if (c === undefined) throw new RangeError(`no contact ${i}`);
    const body = new TextEncoder().encode(`${label}:${n}`.padEnd(200, '.'));
    const r = encryptForPeer(crypto, c.identity, c.record, { kind: 'message', body, contentType: BENCH_CONTENT_TYPE }, now);
    c.record = r.next;
    return r.envelope;
  });
}
