/** Exponential backoff with full jitter, reset on the first good message (as grpc-js does). */
export class Backoff {
  #attempt = 0;

  constructor(
    private readonly baseMs = 1000,
    private readonly capMs = 30_000,
    private readonly random: () => number = Math.random,
  ) {}

  /** The wait before the next attempt: random in [base/2, min(cap, base·2^n)]. */
  next(): number {
    const ceiling = Math.min(this.capMs, this.baseMs * 2 ** this.#attempt);
    this.#attempt = Math.min(this.#attempt + 1, 30);
    const floor = Math.min(this.baseMs / 2, ceiling);
    return Math.round(floor + this.random() * (ceiling - floor));
  }

  reset(): void {
    this.#attempt = 0;
  }

  get attempts(): number {
    return this.#attempt;
  }
}
