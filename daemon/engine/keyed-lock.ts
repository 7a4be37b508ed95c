/**
 * One async mutex per key (per peer): serialises load → core → batch → publish/ack for the sends and
 * receives of one peer, while different peers proceed in parallel. Entries are dropped when idle, so
 * memory does not grow with the number of peers ever seen.
 */
export class KeyedLock {
  private readonly tails = new Map<string, Promise<void>>();

  /** Runs fn when every earlier holder of `key` has finished; returns fn's result. */
  async run<T>(key: string, fn: () => Promise<T>): Promise<T> {
    const previous = this.tails.get(key) ?? Promise.resolve();
    let release!: () => void;
    const current = new Promise<void>((resolve) => (release = resolve));
    const tail = previous.then(() => current);
    this.tails.set(key, tail);
    await previous;
    try {
      return await fn();
    } finally {
      release();
      if (this.tails.get(key) === tail) this.tails.delete(key);
    }
  }

  /** Number of keys with a holder or waiters (for tests and status). */
  get size(): number {
    return this.tails.size;
  }
}
