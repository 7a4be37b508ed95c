/**
 * Test helper: a minimal "daemon" over the protocol facade. It keeps only encoded records (identity,
 * prekeys, peer records, replay cache), decoding before and encoding after every step as a daemon
 * persisting to LevelDB would, and indexes routing tags to find the peer of a session envelope.
 */
import type { Crypto } from '../crypto.ts';
import { toHex, utf8 } from '../bytes.ts';
import {
  acceptHandshake,
  buildBundle,
  createIdentity,
  createPrekeyState,
  decodeEnvelope,
  decodeIdentity,
  decodePeerRecord,
  decodePrekeyState,
  decryptFromPeer,
  encodeIdentity,
  encodePeerRecord,
  encodePrekeyState,
  encryptForPeer,
  hasUsableSession,
  lastSeenBundleVersion,
  routingTags,
  startSession,
  unsealSender,
  verifyBundle,
  type Content,
  type ContentInput,
  type LocalIdentity,
  type PeerRecord,
  type ReceiveResult,
  type UserId,
} from '../index.ts';

export class Party {
  identity: Uint8Array;
  prekeys: Uint8Array;
  bundle: Uint8Array = new Uint8Array(0);
  readonly peers = new Map<string, Uint8Array>();
  readonly replayCache = new Set<string>();
  readonly tagIndex = new Map<string, string>();
  readonly userId: UserId;

  constructor(readonly crypto: Crypto, now: number) {
    const id = createIdentity(crypto);
    this.identity = encodeIdentity(id);
    this.userId = id.userId;
    this.prekeys = encodePrekeyState(createPrekeyState(crypto, now));
    this.publish(now);
  }

  private cachedIdentity: LocalIdentity | null = null;

  /** The identity record is decoded once (a daemon loads it at start); everything else on every step. */
  own(): LocalIdentity {
    this.cachedIdentity ??= decodeIdentity(this.crypto, this.identity);
    return this.cachedIdentity;
  }

  publish(now: number): Uint8Array {
    const r = buildBundle(this.crypto, this.own(), decodePrekeyState(this.prekeys), now);
    this.prekeys = encodePrekeyState(r.next);
    this.bundle = r.bundle;
    return r.bundle;
  }

  peer(userId: string): PeerRecord | null {
    const bytes = this.peers.get(userId);
    return bytes === undefined ? null : decodePeerRecord(bytes);
  }

  store(next: PeerRecord): void {
    const bytes = encodePeerRecord(next);
    this.peers.set(next.peerUserId, bytes);
    for (const [tag, owner] of [...this.tagIndex]) if (owner === next.peerUserId) this.tagIndex.delete(tag);
    for (const tag of routingTags(this.crypto, decodePeerRecord(bytes))) this.tagIndex.set(toHex(tag), next.peerUserId);
  }

  /** Starts a session from the peer's current bundle. */
  connect(to: Party, now: number, options: { useOneTimePrekey?: boolean } = {}): void {
    const peer = this.peer(to.userId);
    const bundle = verifyBundle(this.crypto, to.bundle, to.userId, now, lastSeenBundleVersion(peer));
    this.store(startSession(this.crypto, this.own(), peer, bundle, now, options));
  }

  /** Encrypts (starting a session first when there is no usable one). */
  send(to: Party, input: ContentInput | string, now: number): { envelope: Uint8Array; content: Content } {
    if (!hasUsableSession(this.peer(to.userId), now)) this.connect(to, now);
    const content: ContentInput = typeof input === 'string' ? { kind: 'message', body: utf8.encode(input), contentType: 'text/plain' } : input;
    const r = encryptForPeer(this.crypto, this.own(), this.peer(to.userId)!, content, now);
    this.store(r.next);
    return { envelope: r.envelope, content: r.content };
  }

  /** Decodes and decrypts one envelope; stores everything on success (one "batch"). */
  receive(envelope: Uint8Array, now: number): ReceiveResult {
    const env = decodeEnvelope(envelope);
    if (env.kind === 'handshake') {
      const own = this.own();
      const sender = unsealSender(this.crypto, own, env);
      const r = acceptHandshake(this.crypto, own, decodePrekeyState(this.prekeys), this.peer(sender.senderUserId), env, sender, now, (id) =>
        this.replayCache.has(toHex(id)),
      );
      this.store(r.next);
      this.prekeys = encodePrekeyState(r.nextPrekeys);
      this.replayCache.add(toHex(r.replayId));
      return r;
    }
    const owner = this.tagIndex.get(toHex(env.tag));
    if (owner === undefined) throw new Error('no peer for this routing tag');
    const r = decryptFromPeer(this.crypto, this.peer(owner)!, env, now);
    this.store(r.next);
    return r;
  }

  /** Bodies of delivered messages, as text. */
  static texts(r: ReceiveResult): string[] {
    return r.deliver.filter((c) => c.kind === 'message').map((c) => utf8.decode((c as { body: Uint8Array }).body));
  }

  /** Byte snapshot of every stored record, to assert "nothing changed". */
  snapshot(): string {
    return JSON.stringify({
      prekeys: toHex(this.prekeys),
      peers: [...this.peers].map(([k, v]) => [k, toHex(v)]),
      replay: [...this.replayCache],
    });
  }
}
