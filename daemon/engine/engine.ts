/**
 * Opens every part of a daemon from its configuration: crypto, the encrypted store, the identity
 * (created on first start), prekeys, contacts, inbox, idempotency records, outbox, quarantine, the
 * relay transport, and the sender/receiver wired to it. No network activity here: `goOnline` starts it.
 */
import type { Logger } from 'pino';
import { loadCrypto } from '../../crypto/index.ts';
import { utf8 } from '../../core/bytes.ts';
import { createIdentity, decodeIdentity, encodeIdentity, type LocalIdentity } from '../../core/index.ts';
import { encodeEd25519PublicKey } from '../../core/keys.ts';
import { createRelayProof, DEFAULT_RELAY_AUDIENCE } from '../../core/relay-auth.ts';
import { fingerprintDigits } from '../../core/safety-number.ts';
import type { Crypto } from '../../core/crypto.ts';
import { createMqttRelay, type RelayCredentials } from '../relay/mqtt-relay.ts';
import type { RelayTransport } from '../relay/transport.ts';
import { openDataDirStore } from '../store/open-store.ts';
import type { Store } from '../store/store.ts';
import { DEFAULT_LIMITS, type DaemonConfig, type EngineTiming } from './config.ts';
import { ContactBook } from './contacts.ts';
import { DeadLetters } from './dead-letters.ts';
import type { EngineContext } from './context.ts';
import { IdempotencyTable } from './idempotency.ts';
import { Inbox } from './inbox.ts';
import { KeyedLock } from './keyed-lock.ts';
import { Outbox } from './outbox.ts';
import { PeerStore } from './peers.ts';
import { PrekeyManager } from './prekey-manager.ts';
import { plainBrokerClientId } from './relay-client-id.ts';
import { Quarantine } from './quarantine.ts';
import { Receiver } from './receiver.ts';
import { RestoredSessions } from './restored-sessions.ts';
import { Sender } from './sender.ts';
import { Files } from './files/files.ts';
import { SessionRepair } from './session-repair.ts';
import { SkippedKeySweep } from './skipped-key-sweep.ts';
import { storeMigrations } from './store-migrations.ts';
import { Groups } from './groups/groups.ts';
import type { FatalHandler } from './transaction.ts';

export interface Engine {
  readonly ctx: EngineContext;
  readonly sender: Sender;
  readonly repair: SessionRepair;
  readonly receiver: Receiver;
  readonly skippedKeySweep: SkippedKeySweep;
  /** Fresh sessions with every contact after a restore from a backup (restored-sessions.ts). */
  readonly restored: RestoredSessions;
  readonly groups: Groups;
  /** File transfers (files/). */
  readonly files: Files;
  /** This user's half of safety numbers (30 digits). */
  readonly fingerprint: string;
}

const IDENTITY_KEY = 'self';

async function loadOrCreateIdentity(crypto: Crypto, store: Store, log: Logger): Promise<LocalIdentity> {
  const stored = await store.get('identity', IDENTITY_KEY);
  if (stored !== undefined) return decodeIdentity(crypto, stored);
  const identity = createIdentity(crypto);
  await store.put('identity', IDENTITY_KEY, encodeIdentity(identity));
  log.info({ userId: identity.userId }, 'created a new identity');
  return identity;
}

function relayCredentials(config: DaemonConfig, crypto: Crypto, identity: LocalIdentity, now: () => number): (channelBinding: Uint8Array) => RelayCredentials {
  const auth = config.relayAuth ?? 'proof';
  if (auth !== 'proof') {
    // A plain broker (Mosquitto): a password without a username logs in as the user id, the name its
    // pattern ACL (%u) and use_username_as_clientid expect (broker/mosquitto/README.md).
    const fixed: RelayCredentials = auth.password !== undefined && auth.username === undefined ? { ...auth, username: identity.userId } : auth;
    return () => fixed;
  }
  const audience = config.relayAudience ?? DEFAULT_RELAY_AUDIENCE;
  // A fresh proof for every CONNECT, bound to its TLS connection: the broker refuses a nonce it has
  // seen, and a proof made on another connection.
  return (channelBinding) => {
    const p = createRelayProof(crypto, identity, identity.userId, audience, now(), channelBinding);
    return { username: p.username, password: p.password };
  };
}

/** Opens the store and every part; on failure closes what was opened. */
export async function openEngine(config: DaemonConfig, timing: EngineTiming, now: () => number, fatal: FatalHandler): Promise<Engine> {
  const log = config.logger;
  const crypto = config.crypto ?? (await loadCrypto()).crypto;
  const store = config.openStore
    ? await config.openStore(crypto)
    : await openDataDirStore({
        dataDir: config.dataDir,
        crypto,
        ...(config.passphrase !== undefined ? { passphrase: config.passphrase } : {}),
        ...(config.keyFile !== undefined ? { keyFile: config.keyFile } : {}),
        ...(config.scrypt !== undefined ? { scrypt: config.scrypt } : {}),
        scrub: {
          onScrub: (r) => {
            // Failures only: the next tick retries, and while they last superseded values stay on disk.
            if (r.error !== undefined) log.warn({ reason: r.reason, err: r.error }, 'store scrub failed; superseded values stay on disk until one succeeds');
          },
        },
        migrations: storeMigrations(crypto),
      });
  let relay: RelayTransport | undefined;
  try {
    const identity = await loadOrCreateIdentity(crypto, store, log);
    relay =
      config.relay?.(identity.userId) ??
      createMqttRelay({
        url: config.brokerUrl,
        userId: identity.userId,
        logger: log.child({ part: 'relay' }),
        credentials: relayCredentials(config, crypto, identity, now),
        ...(config.relayAuth !== undefined && config.relayAuth !== 'proof' && config.relayAuth.password !== undefined ? { clientId: plainBrokerClientId(crypto, identity) } : {}),
        ...(config.brokerCa !== undefined ? { ca: config.brokerCa } : {}),
        ...(config.topicPrefix !== undefined ? { topicPrefix: config.topicPrefix } : {}),
      });
    const peerLocks = new KeyedLock();
    const own = { userId: identity.userId, identityKey: identity.keyPair.publicKey };
    const limits = { ...DEFAULT_LIMITS, ...config.limits };
    const inbox = new Inbox(store, log, limits.maxInboxMessages);
    const idempotency = new IdempotencyTable(store, inbox, log, now, { retentionMs: timing.idempotencyRetentionMs, maxRecords: limits.maxIdempotencyRecords, fatal });
    const deadLetters = new DeadLetters(store, inbox, log, now, fatal);
    inbox.onAcked = (tx, acked) => {
      idempotency.releaseReplies(tx, acked);
      deadLetters.release(tx, acked);
    };
    const ctx: EngineContext = {
      crypto,
      store,
      relay,
      log,
      now,
      identity,
      peerLocks,
      inboundQueue: new KeyedLock(),
      contacts: new ContactBook(crypto, store, own, log, now, limits.maxContacts),
      peers: new PeerStore(crypto, store, log),
      prekeys: new PrekeyManager(crypto, store, relay, identity, peerLocks, log, now, timing),
      inbox,
      idempotency,
      outbox: new Outbox(store, relay, (e) => inbox.publish(e), log, now, timing.outbox),
      quarantine: new Quarantine(store, log),
      deadLetters,
      timing,
      fatal,
    };
    await ctx.prekeys.load();
    await ctx.contacts.load();
    await ctx.inbox.load();
    await ctx.deadLetters.load();
    await ctx.idempotency.load();
    await ctx.idempotency.sweep();
    await ctx.outbox.load();
    await ctx.quarantine.load();
    await ctx.peers.loadSkippedKeyIndex();
    await ctx.peers.loadTagIndex();
    const sender = new Sender(ctx);
    const repair = new SessionRepair(ctx, sender);
    const groups = new Groups(ctx, sender);
    await groups.load();
    const receiver = new Receiver(ctx, sender, repair, groups);
    const files = new Files(ctx, sender, config.dataDir, config.files);
    await files.load(receiver, groups);
    relay.onEnvelope(receiver.handleEnvelope);
    ctx.outbox.onStuck = (peer) => repair.scheduleReestablish(peer);
    ctx.outbox.onUnanswered = (peer, since) => repair.checkUnanswered(peer, since);
    const fingerprint = fingerprintDigits(crypto, utf8.encode(identity.userId), encodeEd25519PublicKey(identity.keyPair.publicKey));
    return { ctx, sender, repair, receiver, skippedKeySweep: new SkippedKeySweep(ctx), restored: new RestoredSessions(ctx, sender), groups, files, fingerprint };
  } catch (e) {
    await relay?.close().catch(() => undefined);
    await store.close().catch(() => undefined);
    throw e;
  }
}
