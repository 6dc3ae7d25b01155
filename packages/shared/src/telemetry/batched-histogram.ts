import type { Attributes, Histogram } from '@opentelemetry/api';

export interface BatchedHistogramOptions {
  /**
   * Samples recorded per batch at most, per series: past it, the batch keeps a uniform random sample
   * of this size of everything recorded meanwhile (reservoir sampling). Bounds both memory and the
   * cost of a burst.
   */
  readonly maxPerBatch?: number;
  /** A batch is recorded at most this long after its first sample. */
  readonly maxDelayMs?: number;
}

/**
 * A histogram whose samples are handed to OpenTelemetry in batches, off the path that produces them,
 * and sampled in bursts: OTel sorts and hashes a call's attributes on every record (about 600 bytes of
 * garbage each), a visible cost when one mesh-wide change records a push latency for each of
 * thousands of streams. Samples wait, per series, in a bounded reservoir and are recorded when
 * metrics are read (Telemetry.serveMetrics flushes first) or `maxDelayMs` after the batch's first
 * sample. A batch of at most `maxPerBatch` samples is recorded whole; a larger burst records a uniform
 * sample of that size, so the distribution keeps its shape while `_count` counts sampled values: count
 * events with a counter.
 */
export class BatchedHistogram<A extends Attributes> {
  readonly #histogram: Histogram;
  readonly #series = new Map<string, { readonly attributes: A; values: number[]; seen: number }>();
  readonly #maxPerBatch: number;
  readonly #maxDelayMs: number;
  readonly #random: () => number;
  #pending = 0;
  #timer: NodeJS.Timeout | undefined;

  constructor(histogram: Histogram, options: BatchedHistogramOptions & { random?: () => number } = {}) {
    this.#histogram = histogram;
    this.#maxPerBatch = Math.max(1, options.maxPerBatch ?? 1000);
    this.#maxDelayMs = options.maxDelayMs ?? 1000;
    this.#random = options.random ?? Math.random;
  }

  /** `series` names the attributes (equal attributes, equal series); it is what is hashed per sample. */
  record(value: number, series: string, attributes: A): void {
    let s = this.#series.get(series);
    if (!s) this.#series.set(series, (s = { attributes, values: [], seen: 0 }));
    s.seen++;
    this.#pending++;
    if (s.values.length < this.#maxPerBatch) s.values.push(value);
    else {
      // Algorithm R: the seen-th sample replaces a kept one with probability maxPerBatch / seen.
      const j = Math.floor(this.#random() * s.seen);
      if (j < this.#maxPerBatch) s.values[j] = value;
    }
    if (this.#timer === undefined) {
      this.#timer = setTimeout(() => this.flush(), this.#maxDelayMs);
      this.#timer.unref();
    }
  }

  /** Samples seen since the last flush (recorded or not). */
  get pending(): number {
    return this.#pending;
  }

  flush(): void {
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    this.#timer = undefined;
    if (this.#pending === 0) return;
    this.#pending = 0;
    for (const s of this.#series.values()) {
      const values = s.values;
      if (values.length === 0) continue;
      s.values = [];
      s.seen = 0;
      for (const v of values) this.#histogram.record(v, s.attributes);
    }
  }
}
