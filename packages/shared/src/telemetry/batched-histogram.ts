import type { Attributes, Histogram } from '@opentelemetry/api';

export interface BatchedHistogramOptions {
  /** Samples held at most; reaching it records them at once. */
  readonly maxPending?: number;
  /** Samples are recorded at most this long after the first of them waited. */
  readonly maxDelayMs?: number;
}

/**
 * A histogram whose samples are handed to OpenTelemetry in batches, off the path that produces them:
 * OTel hashes a call's attributes on every record, a visible cost when one mesh-wide change records
 * a push latency for each of thousands of streams. Samples wait, per series, in a bounded buffer and
 * are recorded when metrics are read (Telemetry.serveMetrics flushes first), when the buffer is
 * full, or `maxDelayMs` after the first one waited. The recorded values are exact.
 */
export class BatchedHistogram<A extends Attributes> {
  readonly #histogram: Histogram;
  readonly #series = new Map<string, { readonly attributes: A; values: number[] }>();
  readonly #maxPending: number;
  readonly #maxDelayMs: number;
  #pending = 0;
  #timer: NodeJS.Timeout | undefined;

  constructor(histogram: Histogram, options: BatchedHistogramOptions = {}) {
    this.#histogram = histogram;
    this.#maxPending = options.maxPending ?? 50_000;
    this.#maxDelayMs = options.maxDelayMs ?? 1000;
  }

  /** `series` names the attributes (equal attributes, equal series); it is what is hashed per sample. */
  record(value: number, series: string, attributes: A): void {
    let s = this.#series.get(series);
    if (!s) this.#series.set(series, (s = { attributes, values: [] }));
    s.values.push(value);
    if (++this.#pending >= this.#maxPending) this.flush();
    else if (this.#timer === undefined) {
      this.#timer = setTimeout(() => this.flush(), this.#maxDelayMs);
      this.#timer.unref();
    }
  }

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
      for (const v of values) this.#histogram.record(v, s.attributes);
    }
  }
}
