import type { Logger } from 'pino';
import type { ChangeListener, EventBus, ResourceChangedEvent } from './event-bus.js';

/** Delivers synchronously inside this process. A listener that throws is logged and does not stop the others. */
export class InProcessEventBus implements EventBus {
  readonly #listeners = new Set<ChangeListener>();

  constructor(private readonly log?: Logger) {}

  publish(events: readonly ResourceChangedEvent[]): void {
    if (events.length === 0) return;
    for (const l of this.#listeners) {
      try {
        l(events);
      } catch (err) {
        this.log?.error({ err }, 'event listener failed');
      }
    }
  }

  subscribe(listener: ChangeListener): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  async close(): Promise<void> {
    this.#listeners.clear();
  }
}
