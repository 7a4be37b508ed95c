/**
 * Real processes for the security tests: one broker (`node bin/ratchetd.mjs broker --port 0`, LevelDB
 * persistence) and daemons (`node bin/ratchetd.mjs daemon …`) that reach the broker through a TCP tap
 * (tcp-tap.ts), each in its own data dir under one temp dir, with a gRPC client whose Receive stream
 * is collected (messages are acked as they arrive). `stop()` tears everything down.
 */
import { cp, mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { spawnReady, stopProcess, type ReadyProcess } from '../../../bots/harness/process.ts';
import { connectMessenger, type ApiEvent, type MessengerClient } from '../../../daemon/api/client.ts';
import { startTcpTap, type TcpTap } from './tcp-tap.ts';

export const RATCHETD = fileURLToPath(new URL('../../../bin/ratchetd.mjs', import.meta.url));

export class EventCollector {
  readonly events: ApiEvent[] = [];
  private waiters: Array<{ check: () => boolean; resolve: () => void }> = [];

  push(e: ApiEvent): void {
    this.events.push(e);
    this.waiters = this.waiters.filter((w) => (w.check() ? (w.resolve(), false) : true));
  }

  /** Bodies (UTF-8) of received messages, in arrival order, optionally from one sender. */
  texts(from?: string): string[] {
    return this.events.flatMap((e) => (e.kind === 'message' && (from === undefined || e.message.from === from) ? [Buffer.from(e.message.body).toString('utf8')] : []));
  }

  delivered(messageId: string): boolean {
    return this.events.some((e) => e.kind === 'delivery' && e.messageId === messageId && e.state === 'delivered');
  }

  until(check: () => boolean, what: string, timeoutMs = 30_000): Promise<void> {
    if (check()) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiters = this.waiters.filter((w) => w.check !== check);
        reject(new Error(`timed out waiting for ${what}; events: ${this.events.map((e) => e.kind).join(',')}`));
      }, timeoutMs);
      this.waiters.push({ check, resolve: () => (clearTimeout(timer), resolve()) });
    });
  }
}

export interface SecDaemon {
  readonly name: string;
  readonly dataDir: string;
  readonly socket: string;
  userId: string;
  client: MessengerClient;
  /** Every event of every run of this daemon (messages are acked on arrival). */
  readonly log: EventCollector;
  process: ReadyProcess;
  running: boolean;
  /** Whether the collector acks messages (default true); false leaves them in the daemon's inbox. */
  ack: boolean;
}

export interface SecNetwork {
  readonly dir: string;
  readonly brokerUrl: string;
  readonly brokerDataDir: string;
  readonly tap: TcpTap;
  readonly daemons: Map<string, SecDaemon>;
  /** Starts a daemon (new data dir, or the existing one of that name) connected through the tap. */
  startDaemon(name: string, options?: { dataDir?: string; ack?: boolean }): Promise<SecDaemon>;
  /** SIGTERM (clean shutdown: the LevelDB lock is released); the data dir stays. */
  stopDaemon(d: SecDaemon): Promise<void>;
  /** Stops the broker (SIGTERM, or SIGKILL) and starts it again on the same port and data dir. */
  restartBroker(signal?: 'SIGTERM' | 'SIGKILL'): Promise<void>;
  /** Copies a data dir (of a stopped daemon) to a fresh path, key file included. */
  copyDataDir(d: SecDaemon, label: string): Promise<string>;
  stop(): Promise<void>;
}

async function follow(d: SecDaemon): Promise<void> {
  const client = d.client;
  try {
    for await (const e of client.receive()) {
      d.log.push(e);
      if (e.kind === 'message' && d.ack) await client.ack([e.message.messageId]).catch(() => undefined);
    }
  } catch {
    // the daemon stopped: the stream ends with UNAVAILABLE/CANCELLED
  }
}

export async function startSecNetwork(options: { brokerArgs?: readonly string[] } = {}): Promise<SecNetwork> {
  const dir = await mkdtemp(join(tmpdir(), 'ratchetd-sec-'));
  const brokerDataDir = join(dir, 'broker');
  const procs = new Set<ReadyProcess>();
  const launch = async (name: string, args: readonly string[]): Promise<ReadyProcess> => {
    const p = await spawnReady(process.execPath, [RATCHETD, ...args, '--log-level', 'warn'], { name });
    procs.add(p);
    void p.exited.then(() => procs.delete(p));
    return p;
  };
  let broker: ReadyProcess | undefined;
  let tap: TcpTap | undefined;
  const daemons = new Map<string, SecDaemon>();

  const stop = async (): Promise<void> => {
    for (const d of daemons.values()) d.client.close();
    await Promise.all([...procs].filter((p) => p !== broker).map((p) => stopProcess(p, 5_000)));
    if (broker !== undefined) await stopProcess(broker, 5_000);
    await tap?.close();
    await rm(dir, { recursive: true, force: true });
  };

  try {
    await mkdir(brokerDataDir, { mode: 0o700 });
    broker = await launch('broker', ['broker', '--port', '0', '--data', brokerDataDir, ...(options.brokerArgs ?? [])]);
    const brokerUrl = String(broker.ready['mqtt']);
    const theTap = await startTcpTap(brokerUrl);
    tap = theTap;

    const startDaemon = async (name: string, o: { dataDir?: string; ack?: boolean } = {}): Promise<SecDaemon> => {
      const existing = daemons.get(name);
      const dataDir = o.dataDir ?? existing?.dataDir ?? join(dir, name);
      const socket = join(dir, `${name}.sock`);
      const p = await launch(`daemon ${name}`, ['daemon', '--data', dataDir, '--broker', theTap.url, '--socket', socket]);
      const client = connectMessenger({ socketPath: socket, callTimeoutMs: 30_000 });
      await client.waitForReady(10_000);
      const d: SecDaemon = existing ?? { name, dataDir, socket, userId: '', client, log: new EventCollector(), process: p, running: true, ack: true };
      Object.assign(d, { userId: String(p.ready['userId']), client, process: p, running: true, ack: o.ack ?? existing?.ack ?? true });
      daemons.set(name, d);
      void follow(d);
      return d;
    };

    return {
      dir,
      brokerUrl,
      brokerDataDir,
      tap: theTap,
      daemons,
      startDaemon,
      async stopDaemon(d) {
        d.client.close();
        const r = await stopProcess(d.process, 10_000);
        d.running = false;
        if (r.killed) throw new Error(`daemon ${d.name} needed SIGKILL`);
      },
      async restartBroker(signal = 'SIGTERM') {
        const old = broker!;
        if (signal === 'SIGKILL') {
          old.child.kill('SIGKILL');
          await old.exited;
        } else await stopProcess(old, 10_000);
        broker = await launch('broker', ['broker', '--port', new URL(brokerUrl).port, '--data', brokerDataDir, ...(options.brokerArgs ?? [])]);
      },
      async copyDataDir(d, label) {
        if (d.running) throw new Error('stop the daemon before copying its data dir');
        const to = join(dir, `copy-${d.name}-${label}`);
        await cp(d.dataDir, to, { recursive: true });
        return to;
      },
      stop,
    };
  } catch (e) {
    await stop();
    throw e;
  }
}

/** Sends a text and waits until the recipient's bot got it and the sender saw it delivered. */
export async function exchange(from: SecDaemon, to: SecDaemon, text: string): Promise<string> {
  const { messageId } = await from.client.send({ to: to.userId, body: text });
  await to.log.until(() => to.log.texts(from.userId).includes(text), `${to.name} receives "${text}"`);
  await from.log.until(() => from.log.delivered(messageId), `"${text}" delivered`);
  return messageId;
}
