/**
 * Waits between attempts: `startMs`, doubling up to `maxMs`, each with up to 20% jitter so agents
 * restarted together do not redial a zone in step. Reset after the first good answer.
 */
export class Backoff {
  #next: number;

  /** 100 ms doubling to 5 s: the agent's one policy, for the zone's API and its ADS stream alike. */
  constructor(
    readonly startMs = 100,
    readonly maxMs = 5_000,
    readonly random: () => number = Math.random,
  ) {
    this.#next = startMs;
  }

  next(): number {
    const base = this.#next;
    this.#next = Math.min(this.maxMs, base * 2);
    return Math.round(base * (1 - 0.2 * this.random()));
  }

  reset(): void {
    this.#next = this.startMs;
  }
}

/** Resolves after `ms`, or at once when `signal` aborts (never rejects). */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal?.aborted) return resolve();
    const timer = setTimeout(done, ms);
    function done() {
      clearTimeout(timer);
      signal?.removeEventListener('abort', done);
      resolve();
    }
    signal?.addEventListener('abort', done, { once: true });
  });
}
