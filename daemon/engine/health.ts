/**
 * The daemon's health as one boolean — running and connected to its relay — with listeners told of
 * every change (the gRPC health service, `ratchetd ctl health`). `update()` recomputes it; the daemon
 * calls it on every relay status change and phase change.
 */
export interface HealthSource {
  readonly healthy: boolean;
  /** Calls listener(healthy) on every change; returns the unsubscribe function. */
  onChange(listener: (healthy: boolean) => void): () => void;
}

export class HealthSignal implements HealthSource {
  private current = false;
  private readonly listeners = new Set<(healthy: boolean) => void>();

  constructor(
    private readonly compute: () => boolean,
    private readonly onListenerError: (err: unknown) => void,
  ) {}

  get healthy(): boolean {
    return this.current;
  }

  onChange(listener: (healthy: boolean) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  update(): void {
    const next = this.compute();
    if (next === this.current) return;
    this.current = next;
    for (const listener of [...this.listeners]) {
      try {
        listener(next);
      } catch (err) {
        this.onListenerError(err);
      }
    }
  }
}
