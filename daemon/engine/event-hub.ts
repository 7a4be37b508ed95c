/** Live daemon events to API subscribers; a throwing listener is logged and does not affect others. */
import type { Logger } from 'pino';
import type { DaemonEvent } from '../api/backend.ts';

export class EventHub {
  private readonly listeners = new Set<(e: DaemonEvent) => void>();
  constructor(private readonly log: Logger) {}

  on(listener: (e: DaemonEvent) => void): () => void {
    this.listeners.add(listener);
    return () => {
      this.listeners.delete(listener);
    };
  }

  emit(event: DaemonEvent): void {
    for (const l of [...this.listeners]) {
      try {
        l(event);
      } catch (err) {
        this.log.error({ err }, 'event listener threw');
      }
    }
  }
}
