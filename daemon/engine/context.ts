/** What the engine's parts share: created once by createDaemon after the store and identity load. */
import type { Logger } from 'pino';
import type { Crypto } from '../../core/crypto.ts';
import type { LocalIdentity } from '../../core/index.ts';
import type { RelayTransport } from '../relay/transport.ts';
import type { Store } from '../store/store.ts';
import type { EngineTiming } from './config.ts';
import type { ContactBook } from './contacts.ts';
import type { DeadLetters } from './dead-letters.ts';
import type { IdempotencyTable } from './idempotency.ts';
import type { Inbox } from './inbox.ts';
import type { KeyedLock } from './keyed-lock.ts';
import type { Outbox } from './outbox.ts';
import type { PeerStore } from './peers.ts';
import type { PrekeyManager } from './prekey-manager.ts';
import type { Quarantine } from './quarantine.ts';
import type { FatalHandler } from './transaction.ts';

export interface EngineContext {
  readonly crypto: Crypto;
  readonly store: Store;
  readonly relay: RelayTransport;
  readonly log: Logger;
  readonly now: () => number;
  readonly identity: LocalIdentity;
  /** One lock per peer user id: load → core → batch → publish/ack. */
  readonly peerLocks: KeyedLock;
  /** Serialises every transaction that stores inbound messages (cursor order = commit order). */
  readonly inboundQueue: KeyedLock;
  readonly contacts: ContactBook;
  readonly peers: PeerStore;
  readonly prekeys: PrekeyManager;
  readonly inbox: Inbox;
  readonly idempotency: IdempotencyTable;
  readonly outbox: Outbox;
  readonly quarantine: Quarantine;
  readonly deadLetters: DeadLetters;
  readonly timing: EngineTiming;
  /** A staged batch failed to reach the disk: caches are ahead of it, so the engine must stop. */
  readonly fatal: FatalHandler;
}

/** The key of the inbound queue (a KeyedLock with a single key). */
export const INBOUND = 'inbound';
