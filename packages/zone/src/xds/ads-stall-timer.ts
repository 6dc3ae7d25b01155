export interface StallTimerOptions<T> {
  /** A response un-answered (neither ACK nor NACK) for this long is a stall. */
  readonly timeoutMs: number;
  /** The oldest response still awaiting its answer, on the same clock as `now`. */
  readonly oldest: () => { type: T; sentAt: number } | undefined;
  /** Called at most once; the timer is stopped by then. */
  readonly onStall: (type: T, unansweredMs: number) => void;
  readonly now?: () => number;
}

/**
 * Detects a stream whose proxy stopped answering, with one timer per stream at most: armed when a
 * response goes out, it fires when the oldest unanswered response would time out, and re-arms for the
 * next one if that was answered meanwhile. An idle, fully-answered stream holds no timer.
 */
export class StallTimer<T> {
  readonly #o: StallTimerOptions<T>;
  readonly #now: () => number;
  #timer: NodeJS.Timeout | undefined;
  #stopped = false;

  constructor(options: StallTimerOptions<T>) {
    this.#o = options;
    this.#now = options.now ?? Date.now;
  }

  /** Something was sent: make sure a check is due when the oldest unanswered response times out. */
  sent(): void {
    if (this.#timer === undefined && !this.#stopped) this.#schedule();
  }

  stop(): void {
    this.#stopped = true;
    clearTimeout(this.#timer);
    this.#timer = undefined;
  }

  #schedule(): void {
    const oldest = this.#o.oldest();
    if (!oldest) return;
    // At least 1 ms: a clock that reads a hair early must not spin.
    const delay = Math.max(1, oldest.sentAt + this.#o.timeoutMs - this.#now());
    this.#timer = setTimeout(() => this.#check(), delay);
    // A stall check never keeps the process alive on its own.
    this.#timer.unref();
  }

  #check(): void {
    this.#timer = undefined;
    if (this.#stopped) return;
    const oldest = this.#o.oldest();
    if (!oldest) return;
    const waited = this.#now() - oldest.sentAt;
    if (waited < this.#o.timeoutMs) return this.#schedule();
    this.stop();
    this.#o.onStall(oldest.type, waited);
  }
}
