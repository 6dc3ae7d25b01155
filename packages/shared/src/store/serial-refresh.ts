import type { Logger } from '../telemetry/logger.js';

/** After a failed read; the next change event would retry too, but none may come. */
export const REFRESH_RETRY_MS = 1000;

export interface SerialRefresherOptions {
  /** Reads the store and applies what it found. A throw leaves the state as it was, is warned of and retried. */
  readonly refresh: () => Promise<void>;
  readonly log?: Logger;
  /** The warning when `refresh` throws: logged with `{ err, ...fields, retryInMs }`. */
  readonly failure: { readonly message: string; readonly fields?: Readonly<Record<string, unknown>> };
  /** Milliseconds from a failed refresh to the next; REFRESH_RETRY_MS unless told. */
  readonly retryMs?: number;
}

/**
 * What keeps an in-memory view of store resources current: refreshes (on change events) and the
 * view's own writes (`run`) go one after the other on one chain, so they never interleave and a
 * refresh never applies a state older than one already applied. Change events that arrive while a
 * refresh is waiting add nothing to it; one that arrives while a refresh runs queues one more.
 */
export class SerialRefresher {
  readonly #o: SerialRefresherOptions;
  readonly #retryMs: number;
  #chain: Promise<void> = Promise.resolve();
  #queued = false;
  #closed = false;
  #retry: NodeJS.Timeout | undefined;

  constructor(options: SerialRefresherOptions) {
    this.#o = options;
    this.#retryMs = options.retryMs ?? REFRESH_RETRY_MS;
  }

  /** True once `close()` was called: refreshes no longer run, and views stop telling their listeners. */
  get closed(): boolean {
    return this.#closed;
  }

  /** Runs `task` after everything already on the chain; its outcome is the answer, the chain goes on either way. */
  run<T>(task: () => Promise<T>): Promise<T> {
    const result = this.#chain.then(task);
    this.#chain = result.then(() => undefined, () => undefined);
    return result;
  }

  /** Queues a refresh, unless one is already waiting to run or this is closed. */
  schedule(): void {
    // One read waiting is enough: it sees every change committed before it runs.
    if (this.#queued || this.#closed) return;
    this.#queued = true;
    void this.run(async () => {
      this.#queued = false;
      if (this.#closed) return;
      try {
        await this.#o.refresh();
      } catch (err) {
        this.#o.log?.warn({ err, ...this.#o.failure.fields, retryInMs: this.#retryMs }, this.#o.failure.message);
        clearTimeout(this.#retry);
        if (this.#closed) return;
        this.#retry = setTimeout(() => this.schedule(), this.#retryMs);
        this.#retry.unref();
      }
    });
  }

  /** Resolves once the chain is quiet, including work put on it while waiting. */
  async idle(): Promise<void> {
    let seen: Promise<void>;
    do {
      seen = this.#chain;
      await seen;
    } while (seen !== this.#chain);
  }

  /** Stops refreshes, scheduled and retried; tasks given to `run` still run. */
  close(): void {
    this.#closed = true;
    clearTimeout(this.#retry);
  }
}
