/**
 * The owner's prekeys and published bundle:
 * - created with the identity, maintained on a timer (rotate the signed prekey every 7 days, delete
 *   retired ones after 30 days with their replay-cache entries, refill one-time prekeys below 20);
 * - the bundle is rebuilt and republished (retained) after every change, after a one-time prekey is
 *   consumed (debounced), and at least daily so it never goes stale;
 * - the replay cache (replay id → signed prekey id) is held in memory for acceptHandshake's
 *   synchronous isReplay, and written in the handshake's batch.
 * The bundle version is stored before the bundle is published, so versions only go up.
 * PQ prekeys (PQXDH) live in the same record and follow the same rules (core/prekeys.ts): a
 * one-time PQ prekey is consumed in the handshake's batch, a last-resort one stays and the replay
 * cache guards its reuse; a record from before PQXDH (version 1) gets its PQ prekeys at the first
 * maintenance (daemon start), and the bundle published then is the first PQ one.
 * One lock ('prekeys') serialises every change; receive takes it inside the peer lock.
 */
import type { Logger } from 'pino';
import { Reader, toHex, Writer } from '../../core/bytes.ts';
import type { Crypto } from '../../core/crypto.ts';
import {
  buildBundle,
  createPrekeyState,
  decodePrekeyState,
  encodePrekeyState,
  maintainPrekeys,
  oneTimePrekeyCount,
  pqOneTimePrekeyCount,
  type LocalIdentity,
  type PrekeyState,
} from '../../core/index.ts';
import { currentSignedPrekey } from '../../core/prekeys.ts';
import type { RelayTransport } from '../relay/transport.ts';
import type { Store } from '../store/store.ts';
import type { KeyedLock } from './keyed-lock.ts';
import { Transaction } from './transaction.ts';

const PREKEYS_KEY = 'self';
const LOCK = 'prekeys';
const PUBLISH_LOCK = 'bundle-publish';

const encodeSpkId = (id: number): Uint8Array => new Writer().u8(1).u32(id).finish();
function decodeSpkId(b: Uint8Array): number {
  const r = new Reader(b, 'replay record');
  if (r.u8() !== 1) throw new RangeError('replay record version');
  const id = r.u32();
  r.end();
  return id;
}

export class PrekeyManager {
  private state!: PrekeyState;
  private readonly replay = new Map<string, number>();
  private lastPublishedAt = 0;
  private dirty = true;
  private debounce: NodeJS.Timeout | undefined;
  private closed = false;

  constructor(
    private readonly crypto: Crypto,
    private readonly store: Store,
    private readonly relay: RelayTransport,
    private readonly identity: LocalIdentity,
    private readonly locks: KeyedLock,
    private readonly log: Logger,
    private readonly now: () => number,
    private readonly timing: { bundleRepublishMs: number; bundleDebounceMs: number },
  ) {}

  async load(): Promise<void> {
    const stored = await this.store.get('prekeys', PREKEYS_KEY);
    if (stored === undefined) {
      this.state = createPrekeyState(this.crypto, this.now());
      await this.store.put('prekeys', PREKEYS_KEY, encodePrekeyState(this.state));
    } else {
      this.state = decodePrekeyState(stored);
    }
    for await (const rec of this.store.iterate('replay')) {
      if (!rec.ok) {
        this.log.error('a replay-cache record is corrupt');
        continue;
      }
      this.replay.set(rec.key, decodeSpkId(rec.value));
    }
  }

  get oneTimePrekeys(): number {
    return oneTimePrekeyCount(this.state);
  }

  /** Unconsumed one-time PQ (ML-KEM-768) prekeys. */
  get pqOneTimePrekeys(): number {
    return pqOneTimePrekeyCount(this.state);
  }

  signedPrekeyAgeMs(now: number): number {
    return Math.max(0, now - currentSignedPrekey(this.state).createdAt);
  }

  /** For acceptHandshake (synchronous). */
  readonly isReplay = (replayId: Uint8Array): boolean => this.replay.has(toHex(replayId));

  /** Runs fn with the current prekey state under the prekeys lock (for acceptHandshake). */
  withState<T>(fn: (state: PrekeyState) => Promise<T>): Promise<T> {
    return this.locks.run(LOCK, () => fn(this.state));
  }

  /** Adds a handshake's prekey change and replay id to tx (call inside withState). */
  recordHandshake(tx: Transaction, next: PrekeyState, replayId: Uint8Array, signedPrekeyId: number): void {
    const key = toHex(replayId);
    tx.put('replay', key, encodeSpkId(signedPrekeyId));
    const consumed = next !== this.state;
    if (consumed) tx.put('prekeys', PREKEYS_KEY, encodePrekeyState(next));
    tx.onApply(() => {
      this.replay.set(key, signedPrekeyId);
      if (consumed) {
        this.state = next;
        this.dirty = true;
      }
    });
    if (consumed) tx.onDurable(() => this.schedulePublish());
  }

  private schedulePublish(): void {
    if (this.debounce !== undefined || this.closed) return;
    this.debounce = setTimeout(() => {
      this.debounce = undefined;
      this.publishIfNeeded().catch((err: unknown) => this.log.warn({ err }, 'bundle republish failed'));
    }, this.timing.bundleDebounceMs);
    this.debounce.unref();
  }

  /** Maintains the prekeys and republishes the bundle when something changed or it is getting old. */
  async maintain(): Promise<void> {
    await this.locks.run(LOCK, async () => {
      const now = this.now();
      const m = maintainPrekeys(this.crypto, this.state, now);
      if (m.changed) {
        const tx = new Transaction();
        tx.put('prekeys', PREKEYS_KEY, encodePrekeyState(m.next));
        const dropped = [...this.replay].filter(([, spk]) => m.deletedSignedPrekeyIds.includes(spk)).map(([k]) => k);
        for (const k of dropped) tx.del('replay', k);
        // Applied only once durable (not onApply, as receive does): the prekeys lock is held across
        // the write, so nothing could build on an early update anyway, and a failed write then leaves
        // memory equal to the disk (the old prekeys, still valid). Nothing was published or acked on
        // its strength, so it is not fatal: the error reaches the caller (the maintenance timer logs
        // it, start-up fails) and the next run tries again.
        tx.onDurable(() => {
          this.state = m.next;
          for (const k of dropped) this.replay.delete(k);
          this.dirty = true;
        });
        await tx.commit(this.store);
        this.log.info({ oneTimePrekeys: oneTimePrekeyCount(m.next), pqOneTimePrekeys: pqOneTimePrekeyCount(m.next), droppedReplayIds: dropped.length }, 'prekeys maintained');
      }
    });
    await this.publishIfNeeded();
  }

  /** Forces the next publishIfNeeded to publish (e.g. at start). */
  markDirty(): void {
    this.dirty = true;
  }

  /**
   * Builds, stores and publishes a new bundle if the state changed or the last one is getting old.
   * The prekeys lock is held only to build and store: the relay's inbound handler may be waiting for
   * it while it holds the connection, so awaiting the PUBACK inside it could deadlock. A second lock,
   * which inbound processing never takes, keeps publishes in version order.
   */
  async publishIfNeeded(): Promise<boolean> {
    if (this.closed || !this.relay.connected) return false;
    return this.locks.run(PUBLISH_LOCK, async () => {
      const bundle = await this.locks.run(LOCK, async () => {
        const now = this.now();
        if (!this.dirty && now - this.lastPublishedAt < this.timing.bundleRepublishMs) return null;
        const built = buildBundle(this.crypto, this.identity, this.state, now);
        await this.store.put('prekeys', PREKEYS_KEY, encodePrekeyState(built.next));
        this.state = built.next;
        this.dirty = false;
        return { bytes: built.bundle, at: now, oneTimePrekeys: oneTimePrekeyCount(built.next) };
      });
      if (bundle === null) return false;
      try {
        await this.relay.publishBundle(bundle.bytes);
      } catch (err) {
        this.dirty = true;
        throw err;
      }
      this.lastPublishedAt = bundle.at;
      this.log.debug({ oneTimePrekeys: bundle.oneTimePrekeys }, 'bundle published');
      return true;
    });
  }

  close(): void {
    this.closed = true;
    if (this.debounce !== undefined) clearTimeout(this.debounce);
  }
}
