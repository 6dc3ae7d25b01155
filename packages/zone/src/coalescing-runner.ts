/**
 * Runs a job one at a time, however often it is asked for: a request while a run is in progress
 * causes exactly one more run after it, so a burst of N changes costs at most two runs. Reconcilers
 * use it to turn a stream of events into a bounded number of recomputes.
 */
export class CoalescingRunner {
  readonly #run: () => Promise<void>;
  #dirty = false;
  #stopped = false;
  #running: Promise<void> | undefined;

  constructor(run: () => Promise<void>) {
    this.#run = run;
  }

  /** Starts a run, or marks one more; resolves when the runs in progress (and the one marked) end. */
  trigger(): Promise<void> {
    if (this.#stopped) return this.#running ?? Promise.resolve();
    if (this.#running) {
      this.#dirty = true;
      return this.#running;
    }
    this.#running = this.#loop();
    return this.#running;
  }

  /** From inside a run: run once more after this one (it saw something change under it). */
  again(): void {
    this.#dirty = true;
  }

  /** No more runs; resolves once a run in progress has finished, so nothing happens after. */
  async stop(): Promise<void> {
    this.#stopped = true;
    await this.#running;
  }

  get stopped(): boolean {
    return this.#stopped;
  }

  async #loop(): Promise<void> {
    try {
      do {
        this.#dirty = false;
        await this.#run();
      } while (this.#dirty && !this.#stopped);
    } finally {
      this.#running = undefined;
    }
  }
}
