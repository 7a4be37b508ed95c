/**
 * Daemons for the relay integration tests (test/relay-*.test.ts) and the benchmark: createDaemon on
 * its production parts (LevelDB store in a temp dir, mqtt.js relay client) against any broker URL,
 * with an event log to wait on. Closed by closeAll() in afterEach.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import type { Logger } from 'pino';
import type { Crypto } from '../../daemon/protocol/crypto.ts';
import type { UserId } from '../../daemon/protocol/user-id.ts';
import { createDaemon } from '../../daemon/engine/index.ts';
import type { Daemon, DaemonConfig, EngineTiming } from '../../daemon/engine/index.ts';
import { EventLog, silentLogger } from '../../daemon/engine/test-support.ts';

export interface RelayDaemon {
  readonly daemon: Daemon;
  readonly userId: UserId;
  readonly log: EventLog;
  readonly dataDir: string;
}

export interface StartOptions {
  readonly brokerUrl: string;
  /** Default 'proof' (our broker); {} = anonymous; { password } = user id + password. */
  readonly relayAuth?: DaemonConfig['relayAuth'];
  /** Reuse a data dir (restart); default: a new temp dir. */
  readonly dataDir?: string;
  readonly timing?: Partial<EngineTiming>;
  readonly logger?: Logger;
}

/** Short receipt coalescing, and a short first connect wait (a refused login must not stall start). */
export const TEST_TIMING: Partial<EngineTiming> = { receiptDelayMs: 5, connectWaitMs: 3000 };

export class RelayDaemons {
  private readonly running = new Set<Daemon>();
  private readonly dirs: string[] = [];

  constructor(private readonly crypto: Crypto) {}

  async tempDir(label: string): Promise<string> {
    const dir = await mkdtemp(path.join(os.tmpdir(), `ratchetd-${label}-`));
    this.dirs.push(dir);
    return dir;
  }

  async start(o: StartOptions): Promise<RelayDaemon> {
    const dataDir = o.dataDir ?? (await this.tempDir('daemon'));
    const daemon = createDaemon({
      dataDir,
      brokerUrl: o.brokerUrl,
      logger: o.logger ?? silentLogger,
      crypto: this.crypto,
      ...(o.relayAuth === undefined ? {} : { relayAuth: o.relayAuth }),
      timing: { ...TEST_TIMING, ...o.timing },
    });
    this.running.add(daemon);
    const { userId } = await daemon.start();
    const log = new EventLog();
    await daemon.backend.subscribe(0, log.push);
    return { daemon, userId, log, dataDir };
  }

  async stop(d: RelayDaemon): Promise<void> {
    this.running.delete(d.daemon);
    await d.daemon.close();
  }

  async closeAll(): Promise<void> {
    for (const d of [...this.running]) await d.close().catch(() => undefined);
    this.running.clear();
    for (const dir of this.dirs.splice(0)) await rm(dir, { recursive: true, force: true });
  }
}

/** Resolves when the daemon reports a broker connection (polls its status). */
export async function brokerConnected(d: RelayDaemon, deadlineMs = 15_000): Promise<void> {
  const until = Date.now() + deadlineMs;
  while (!(await d.daemon.backend.getStatus()).brokerConnected) {
    if (Date.now() > until) throw new Error('timed out waiting for the broker connection');
    await new Promise((r) => setTimeout(r, 20));
  }
}

export const delivered = (log: EventLog, messageId: string): boolean =>
  log.events.some((e) => e.kind === 'delivery' && e.messageId === messageId && e.state === 'delivered');

export const deliveredCount = (log: EventLog): number => log.events.filter((e) => e.kind === 'delivery' && e.state === 'delivered').length;
