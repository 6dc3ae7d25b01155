import type { ExportResult } from '@opentelemetry/core';
import type { ReadableSpan, SpanExporter } from '@opentelemetry/sdk-trace-base';

/**
 * Keeps the last `capacity` finished spans in memory. Without a collector configured, this is where
 * spans go: bounded, inspectable from tests and from `/debug/spans`.
 */
export class RecentSpans implements SpanExporter {
  readonly #spans: ReadableSpan[] = [];

  constructor(private readonly capacity = 1000) {}

  export(spans: ReadableSpan[], done: (result: ExportResult) => void): void {
    for (const s of spans) {
      this.#spans.push(s);
      if (this.#spans.length > this.capacity) this.#spans.shift();
    }
    done({ code: 0 });
  }

  list(): readonly ReadableSpan[] {
    return this.#spans;
  }

  async shutdown(): Promise<void> {
    this.#spans.length = 0;
  }
}
