/**
 * Message TTL (issue 5): a queued inbox message older than the TTL is deleted instead of delivered
 * (Aedes deletes a queued message its forward hook refuses). The sender's outbox keeps the message
 * until an encrypted receipt returns, so an expiry is a retry later, never a silent loss.
 *
 * Aedes stores no time with a queued packet (aedes-persistence-level 9 drops `messageExpiry`), only
 * (brokerId, brokerCounter): a random id per broker run and a per-run counter. So we keep *checkpoints*
 * "at time T run B's counter was K", one per granularity g while publishes happen, in memory and, with
 * LevelDB, in the broker database (sublevel "ratchetd-ttl") to survive restarts. A packet (B, c) was
 * created no later than the first checkpoint of B with K ≥ c: that time is an upper bound, so a
 * message can expire up to g (2g after a crash) late, never early.
 */
import type { AbstractSublevel } from 'abstract-level';
import type { Level } from 'level';
import type { Logger } from 'pino';

/** Checkpoint spacing: 1/100 of the TTL (so expiry is at most 1% late), between 10 ms and 1 hour. */
export function checkpointGranularity(ttlMs: number): number {
  return Math.min(3_600_000, Math.max(10, Math.floor(ttlMs / 100)));
}

interface Checkpoint {
  readonly counter: number;
  readonly time: number;
}

export interface TtlOptions {
  readonly ttlMs: number;
  readonly now: () => number;
  readonly db: Level<string, string> | null;
  readonly logger: Logger;
}

/** The live broker's run id and counter (Aedes' `id` and internal `counter`). */
export interface CounterSource {
  readonly id: string;
  readonly counter: number;
}

const pad = (n: number) => n.toString().padStart(16, '0');

export class MessageTtl {
  private readonly granularity: number;
  /** runId → checkpoints, ascending by counter (and time). */
  private readonly runs = new Map<string, Checkpoint[]>();
  /** Earliest checkpoint ever recorded: bounds packets of runs from before the TTL was enabled. */
  private firstTime: number;
  private source: CounterSource | null = null;
  private timer: NodeJS.Timeout | null = null;
  private readonly store: AbstractSublevel<Level<string, string>, string | Buffer | Uint8Array, string, string> | null;

  private constructor(private readonly opts: TtlOptions) {
    this.granularity = checkpointGranularity(opts.ttlMs);
    this.firstTime = opts.now();
    this.store = opts.db === null ? null : opts.db.sublevel<string, string>('ratchetd-ttl', { keyEncoding: 'utf8', valueEncoding: 'utf8' });
  }

  /** Loads the checkpoints of earlier runs. */
  static async open(opts: TtlOptions): Promise<MessageTtl> {
    const ttl = new MessageTtl(opts);
    if (ttl.store !== null) {
      for await (const [key, value] of ttl.store.iterator()) {
        const [runId, counter] = key.split('!');
        const time = Number(value);
        if (runId === undefined || counter === undefined || !Number.isSafeInteger(time)) continue;
        ttl.add(runId, { counter: Number(counter), time });
        ttl.firstTime = Math.min(ttl.firstTime, time);
      }
    }
    return ttl;
  }

  /** Starts checkpointing the running broker. */
  attach(source: CounterSource): void {
    this.source = source;
    this.timer = setInterval(() => void this.checkpoint(), this.granularity);
    this.timer.unref();
  }

  /** Records "now, the counter is K" if it moved since the last checkpoint. Called every g ms and at stop. */
  checkpoint(): Promise<void> {
    const s = this.source;
    if (s === null) return Promise.resolve();
    const list = this.runs.get(s.id);
    const last = list?.[list.length - 1];
    if (s.counter === 0 || (last !== undefined && last.counter === s.counter)) return Promise.resolve();
    const cp = { counter: s.counter, time: this.opts.now() };
    this.add(s.id, cp);
    this.prune(s.id, cp.time);
    if (this.store === null) return Promise.resolve();
    return this.store.put(`${s.id}!${pad(cp.counter)}`, String(cp.time)).catch((err: unknown) => {
      this.opts.logger.warn({ err }, 'TTL checkpoint not stored (expiry after a restart may be later)');
    });
  }

  /** Stops the timer and records a last checkpoint (before the database closes). */
  async stop(): Promise<void> {
    if (this.timer !== null) clearInterval(this.timer);
    this.timer = null;
    await this.checkpoint();
  }

  /** True if a queued packet is certainly older than the TTL. Packets without broker data never expire. */
  isExpired(packet: { readonly brokerId?: string; readonly brokerCounter?: number }): boolean {
    const { brokerId, brokerCounter } = packet;
    if (typeof brokerId !== 'string' || typeof brokerCounter !== 'number') return false;
    return this.createdNoLaterThan(brokerId, brokerCounter) + this.opts.ttlMs < this.opts.now();
  }

  private createdNoLaterThan(runId: string, counter: number): number {
    const list = this.runs.get(runId);
    if (list === undefined || list.length === 0) {
      // A run we never checkpointed: the current one before its first checkpoint, or one from before
      // the TTL was enabled (its packets predate our first checkpoint).
      return runId === this.source?.id ? this.opts.now() : this.firstTime;
    }
    const later = list.find((cp) => cp.counter >= counter);
    if (later !== undefined) return later.time;
    const last = list[list.length - 1] as Checkpoint;
    // Past the last checkpoint: the next tick (g later) would have recorded it; a crashed run may
    // also have lost its last write, hence 2g.
    return runId === this.source?.id ? Math.min(this.opts.now(), last.time + this.granularity) : last.time + 2 * this.granularity;
  }

  private add(runId: string, cp: Checkpoint): void {
    const list = this.runs.get(runId) ?? [];
    list.push(cp); // counters only grow within a run; stored keys load in counter order
    this.runs.set(runId, list);
  }

  /** Drops checkpoints older than 2·TTL except each run's last (dropping only makes expiry later). */
  private prune(runId: string, now: number): void {
    const list = this.runs.get(runId);
    if (list === undefined) return;
    const horizon = now - 2 * this.opts.ttlMs;
    while (list.length > 1 && (list[0] as Checkpoint).time < horizon) {
      const old = list.shift() as Checkpoint;
      this.store?.del(`${runId}!${pad(old.counter)}`).catch((err: unknown) => {
        this.opts.logger.debug({ err }, 'old TTL checkpoint not deleted');
      });
    }
  }
}
