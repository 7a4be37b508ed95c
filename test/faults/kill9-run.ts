/**
 * The kill -9 fault run (issue 6, item 1), shared by the LevelDB and the Redis broker variants.
 *
 * alice and bob each send `messagesPerSide` messages to the other through the gRPC API while a
 * seeded schedule kills (SIGKILL) the broker, a daemon, both daemons or everything at random
 * points of the traffic, and restarts the killed processes on the same data dirs after a random
 * pause. The schedule is drawn from the seed before the run: kill point i fires once the number of
 * accepted sends reaches its threshold, plus a random delay, so kills land during the traffic
 * whatever the machine's speed. Afterwards both bots must have every message of the other exactly
 * once and in the sender's order, and a few more messages must still go both ways.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { DAEMONS, FaultCluster, type ClusterOptions, type DaemonName, type Target } from './cluster.ts';
import { Party } from './party.ts';
import { createPrng, type Prng } from './prng.ts';

export interface FaultRunOptions extends ClusterOptions {
  seed: number;
  messagesPerSide: number;
  /** Processes to kill in all (events kill one to three processes each; drawn until this many). */
  minKills: number;
  /** Label for the summary line (e.g. the broker's persistence). */
  label: string;
  /** How long, after the last send, every message may take to arrive (ms). */
  settleMs: number;
  /** Messages each way after the faults ("both sides keep talking"). */
  afterwards: number;
}

export interface FaultRunResult {
  seed: number;
  messages: number;
  kills: Record<Target, number>;
  killEvents: number;
  durationMs: number;
  sendRetries: number;
  redeliveries: number;
  receiveReconnects: number;
  violations: string[];
  missing: Record<DaemonName, number[]>;
  /** First-delivery order per receiver (payload indexes). */
  order: Record<DaemonName, number[]>;
  /** Sender's message id per index vs the id the receiver got it with. */
  idMismatches: string[];
}

interface KillEvent {
  /** Fires once this many sends (both sides together) were accepted. */
  afterSends: number;
  delayMs: number;
  targets: Target[];
  downMs: number;
}

const started0 = Date.now();
/** FAULTS_TRACE=1 prints the kills as they happen (stderr). */
function trace(line: string): void {
  if (process.env['FAULTS_TRACE'] === '1') process.stderr.write(`[faults +${Date.now() - started0} ms] ${line}\n`);
}

const TARGET_SETS: readonly (readonly Target[])[] = [['broker'], ['broker'], ['alice'], ['bob'], ['alice', 'bob'], ['broker', 'alice', 'bob']];

/** Kill events until `minKills` processes are killed, at random points of [3 %, 95 %] of the sends. */
export function killSchedule(prng: Prng, minKills: number, totalSends: number): KillEvent[] {
  const lo = Math.floor(totalSends * 0.03);
  const hi = Math.floor(totalSends * 0.95);
  const events: KillEvent[] = [];
  for (let kills = 0; kills < minKills; ) {
    const targets = [...prng.pick(TARGET_SETS)];
    kills += targets.length;
    events.push({ afterSends: prng.int(lo, hi), delayMs: prng.int(0, 60), targets, downMs: prng.int(0, 400) });
  }
  return events.sort((a, b) => a.afterSends - b.afterSends);
}

export async function runKill9Faults(o: FaultRunOptions): Promise<FaultRunResult> {
  const started = Date.now();
  const prng = createPrng(o.seed);
  const schedule = killSchedule(prng, o.minKills, 2 * o.messagesPerSide);
  const cluster = await FaultCluster.start(o);
  const address = (name: DaemonName) => () => ({ name, ...cluster.daemon(name) });
  const parties: Record<DaemonName, Party> = {
    alice: new Party(address('alice'), address('bob')),
    bob: new Party(address('bob'), address('alice')),
  };
  const other = (d: DaemonName): DaemonName => (d === 'alice' ? 'bob' : 'alice');
  const describe = (): string =>
    `seed ${o.seed}; kills ${JSON.stringify(cluster.kills)}; missing alice←bob ${JSON.stringify(parties.alice.missing(o.messagesPerSide).slice(0, 20))}, ` +
    `bob←alice ${JSON.stringify(parties.bob.missing(o.messagesPerSide).slice(0, 20))}; violations ${JSON.stringify([...parties.alice.ledger.violations, ...parties.bob.ledger.violations].slice(0, 10))}\n${cluster.stderrTails()}`;
  try {
    for (const d of DAEMONS) parties[d].startReceiving();
    // The first message each way sets the sessions up (bundle fetch + X3DH) before the faults start.
    await Promise.all(DAEMONS.map((d) => parties[d].sendOne(0)));
    // Sends (both sides together) stop at the next kill point until it has fired, so every kill
    // lands inside the traffic however long the restarts take; the side still up keeps sending
    // towards the following point while the killed processes restart.
    let sent = 2;
    let gate = schedule[0]?.afterSends ?? Infinity;
    const opened: Array<() => void> = [];
    const openGate = (limit: number): void => {
      gate = limit;
      for (const wake of opened.splice(0)) wake();
    };
    const beforeSend = async (): Promise<void> => {
      while (sent >= gate) await new Promise<void>((r) => opened.push(r));
    };
    const traffic = Promise.all(DAEMONS.map((d) => parties[d].sendRange(1, o.messagesPerSide, () => (sent += 1), beforeSend)));

    const chaos = (async () => {
      try {
        await runSchedule();
      } catch (e) {
        openGate(Infinity);
        throw new Error(`${(e as Error).message}\ncrashed: ${cluster.crashed() ?? 'none'}\n${describe()}`, { cause: e });
      }
    })();
    async function runSchedule(): Promise<void> {
      for (const [i, event] of schedule.entries()) {
        while (sent < event.afterSends) {
          const crash = cluster.crashed();
          if (crash !== undefined) throw new Error(crash);
          await sleep(5);
        }
        openGate(schedule[i + 1]?.afterSends ?? Infinity);
        await sleep(event.delayMs);
        trace(`kill ${event.targets.join('+')} after ${sent} sends`);
        await Promise.all(event.targets.map((t) => cluster.kill(t)));
        await sleep(event.downMs);
        // The broker first: a daemon starting without it waits (bounded) before its ready line.
        if (event.targets.includes('broker')) await cluster.restart('broker');
        await Promise.all(event.targets.filter((t) => t !== 'broker').map((t) => cluster.restart(t)));
        trace(`restarted ${event.targets.join('+')}`);
      }
    }
    await Promise.all([traffic, chaos]);

    // Everything sent must arrive (lost broker-acked envelopes come back through the outbox retries).
    await Promise.all(DAEMONS.map((d) => parties[d].waitForFirstDeliveries(o.messagesPerSide, o.settleMs, describe)));
    const crash = cluster.crashed();
    if (crash !== undefined) throw new Error(`${crash}\n${describe()}`);

    // Both sides keep talking after the faults.
    await Promise.all(DAEMONS.map((d) => parties[d].sendRange(o.messagesPerSide, o.messagesPerSide + o.afterwards)));
    const total = o.messagesPerSide + o.afterwards;
    await Promise.all(DAEMONS.map((d) => parties[d].waitForFirstDeliveries(total, 60_000, describe)));
    // Late duplicates (outbox retransmissions still on their way) would show up here.
    await sleep(1_500);

    const idMismatches: string[] = [];
    for (const d of DAEMONS) {
      const sender = parties[other(d)];
      for (const [index, id] of parties[d].ledger.idByIndex) {
        if (sender.sentIds[index] !== id) idMismatches.push(`${d} got ${other(d)}'s payload ${index} as ${id}; the sender was told ${sender.sentIds[index] ?? 'nothing'}`);
      }
    }
    return {
      seed: o.seed,
      messages: 2 * total,
      kills: { ...cluster.kills },
      killEvents: schedule.length,
      durationMs: Date.now() - started,
      sendRetries: parties.alice.sendRetries + parties.bob.sendRetries,
      redeliveries: parties.alice.ledger.redeliveries + parties.bob.ledger.redeliveries,
      receiveReconnects: parties.alice.reconnects + parties.bob.reconnects,
      violations: [...parties.alice.ledger.violations, ...parties.bob.ledger.violations],
      missing: { alice: parties.alice.missing(total), bob: parties.bob.missing(total) },
      order: { alice: [...parties.alice.ledger.firstOrder], bob: [...parties.bob.ledger.firstOrder] },
      idMismatches,
    };
  } finally {
    await Promise.all(DAEMONS.map((d) => parties[d].stop()));
    await cluster.stop();
  }
}

/** The one summary line a run prints. */
export function summaryLine(label: string, r: FaultRunResult): string {
  const kills = r.kills.broker + r.kills.alice + r.kills.bob;
  return JSON.stringify({
    event: 'faults',
    broker: label,
    messages: r.messages,
    kills,
    killsBy: r.kills,
    killEvents: r.killEvents,
    seed: r.seed,
    durationMs: r.durationMs,
    sendRetries: r.sendRetries,
    redeliveries: r.redeliveries,
  });
}

/** Assertions shared by the variants (vitest's expect is passed in to keep this file runner-free). */
export function checkKill9Result(expect: typeof import('vitest').expect, r: FaultRunResult, o: { messagesPerSide: number; afterwards: number; minKills: number }): void {
  const context = `seed ${r.seed}`;
  expect(r.violations, context).toEqual([]);
  expect(r.idMismatches, context).toEqual([]);
  expect(r.missing, context).toEqual({ alice: [], bob: [] });
  const total = o.messagesPerSide + o.afterwards;
  const inOrder = Array.from({ length: total }, (_, i) => i);
  expect(r.order.alice, context).toEqual(inOrder);
  expect(r.order.bob, context).toEqual(inOrder);
  expect(r.messages).toBeGreaterThanOrEqual(2_000);
  expect(r.kills.broker + r.kills.alice + r.kills.bob, context).toBeGreaterThanOrEqual(o.minKills);
  expect(r.kills.broker, context).toBeGreaterThan(0);
  expect(r.kills.alice + r.kills.bob, context).toBeGreaterThan(0);
}
