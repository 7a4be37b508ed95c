/**
 * Test harness for the engine: daemons on in-memory stores (surviving restarts) talking through the
 * in-process fake relay. Not a test file itself.
 */
import pino from 'pino';
import type { DaemonEvent, InboundMessage } from './types.ts';
import { createSodiumCrypto } from '../../crypto/sodium.ts';
import { utf8 } from '../../core/bytes.ts';
import type { Crypto } from '../../core/crypto.ts';
import type { UserId } from '../../core/user-id.ts';
import { createFakeRelayHub, type FakeRelayHub } from '../relay/fake-relay.ts';
import type { RelayTransport } from '../relay/transport.ts';
import { createMemoryBackend, type MemoryBackend } from '../store/memory-backend.ts';
import { openMemoryStore } from '../store/open-store.ts';
import type { PowerCutDisk } from '../store/power-cut-backend.ts';
import { openStore } from '../store/schema.ts';
import { storeMigrations } from './store-migrations.ts';
import type { Store } from '../store/store.ts';
import type { EngineLimits, EngineTiming } from './config.ts';
import { createDaemon, type Daemon } from './daemon.ts';
import type { FileOptions } from './files/file-options.ts';

export const silentLogger = pino({ level: 'silent' });

export class EventLog {
  readonly events: DaemonEvent[] = [];
  private waiters: Array<{ check(): boolean; resolve(): void }> = [];

  readonly push = (e: DaemonEvent): void => {
    this.events.push(e);
    this.waiters = this.waiters.filter((w) => {
      if (!w.check()) return true;
      w.resolve();
      return false;
    });
  };

  messages(from?: UserId): InboundMessage[] {
    return this.events.flatMap((e) => (e.kind === 'message' && (from === undefined || e.message.from === from) ? [e.message] : []));
  }

  texts(from?: UserId): string[] {
    return this.messages(from).map((m) => utf8.decode(m.body));
  }

  /** Resolves when pred holds; rejects with `what` after a deadline so a failure names itself. */
  until(pred: (log: EventLog) => boolean, what: string, deadlineMs = 15_000): Promise<void> {
    if (pred(this)) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`timed out waiting for: ${what}`)), deadlineMs);
      this.waiters.push({
        check: () => pred(this),
        resolve: () => {
          clearTimeout(timer);
          resolve();
        },
      });
    });
  }
}

export interface TestNet {
  hub: FakeRelayHub;
  crypto: Crypto;
  /** Every daemon's clock is Date.now() + offsetMs (tests move time forward). */
  clock: { offsetMs: number };
}

export async function createTestNet(): Promise<TestNet> {
  return { hub: createFakeRelayHub(), crypto: await createSodiumCrypto(), clock: { offsetMs: 0 } };
}

export interface TestDaemon {
  daemon: Daemon;
  userId: UserId;
  log: EventLog;
  backend: MemoryBackend;
  storeKey: Uint8Array;
  unsubscribe: () => void;
}

export interface TestDaemonOptions {
  backend?: MemoryBackend;
  storeKey?: Uint8Array;
  crypto?: Crypto;
  timing?: Partial<EngineTiming>;
  limits?: Partial<EngineLimits>;
  /** Subscribe to events after this cursor (default 0); false: no subscription. */
  subscribeAfter?: number | false;
  /** The daemon's clock (default: Date.now() + net.clock.offsetMs). */
  clock?: () => number;
  /** Wraps the daemon's relay transport (e.g. to count bundle fetches). */
  wrapRelay?: (t: RelayTransport) => RelayTransport;
  /** A real data dir (file transfers keep their files there); default: none. */
  dataDir?: string;
  files?: Partial<FileOptions>;
}

export async function startTestDaemon(net: TestNet, o: TestDaemonOptions = {}): Promise<TestDaemon> {
  const backend = o.backend ?? createMemoryBackend();
  const storeKey = o.storeKey ?? net.crypto.randomBytes(32);
  const daemon = createDaemon({
    dataDir: o.dataDir ?? '/nonexistent-test-data-dir',
    brokerUrl: 'fake://relay',
    logger: silentLogger,
    crypto: o.crypto ?? net.crypto,
    clock: o.clock ?? (() => Date.now() + net.clock.offsetMs),
    // As a daemon on its data dir: an older schema (a restored backup, a fixture) is migrated.
    openStore: (c) => openMemoryStore(c, storeKey, backend.reopen(), storeMigrations(c)),
    relay: (id) => (o.wrapRelay ?? ((t) => t))(net.hub.transport(id)),
    timing: { receiptDelayMs: 1, connectWaitMs: 1000, ...o.timing },
    ...(o.limits !== undefined ? { limits: o.limits } : {}),
    ...(o.files !== undefined ? { files: o.files } : {}),
  });
  const { userId } = await daemon.start();
  const log = new EventLog();
  let unsubscribe: () => void = () => undefined;
  if (o.subscribeAfter !== false) unsubscribe = await daemon.backend.subscribe(o.subscribeAfter ?? 0, log.push);
  return { daemon, userId, log, backend, storeKey, unsubscribe };
}

/** A daemon whose store lives on a disk that can lose power (store/power-cut-backend.ts). */
export type DiskDaemon = Pick<TestDaemon, 'daemon' | 'userId' | 'log' | 'unsubscribe'>;

/** A daemon on `disk`, reopened: a process start on what the disk kept. `timing` adds to the test timing. */
export async function startOnPowerCutDisk(
  net: TestNet,
  disk: PowerCutDisk,
  storeKey: Uint8Array,
  o: { crypto?: Crypto; timing?: Partial<EngineTiming> } = {},
): Promise<DiskDaemon> {
  const daemon = createDaemon({
    dataDir: '/nonexistent-test-data-dir',
    brokerUrl: 'fake://relay',
    logger: silentLogger,
    crypto: o.crypto ?? net.crypto,
    openStore: (c) => openStore({ backend: disk.reopen(), crypto: c, storeKey: storeKey.slice() }),
    relay: (id) => net.hub.transport(id),
    timing: { receiptDelayMs: 1, connectWaitMs: 1000, ...o.timing },
  });
  const { userId } = await daemon.start();
  const log = new EventLog();
  const unsubscribe = await daemon.backend.subscribe(0, log.push);
  return { daemon, userId, log, unsubscribe };
}

/** Closes the daemon and starts it again on the same store. */
export async function restartTestDaemon(net: TestNet, d: TestDaemon, o: TestDaemonOptions = {}): Promise<TestDaemon> {
  d.unsubscribe();
  await d.daemon.close();
  return startTestDaemon(net, { ...o, backend: d.backend, storeKey: d.storeKey });
}

/** Opens a stopped daemon's store directly (to inspect or tamper with it). */
export function openStoppedStore(net: TestNet, d: TestDaemon): Promise<Store> {
  return openMemoryStore(net.crypto, d.storeKey, d.backend.reopen());
}

export const text = (s: string): Uint8Array => utf8.encode(s);
