import { type Attributes, type Counter, type Histogram, type Meter, type Span, SpanStatusCode, type Tracer } from '@opentelemetry/api';
import { PrometheusExporter } from '@opentelemetry/exporter-prometheus';
import { resourceFromAttributes } from '@opentelemetry/resources';
import { MeterProvider } from '@opentelemetry/sdk-metrics';
import { BasicTracerProvider, SimpleSpanProcessor } from '@opentelemetry/sdk-trace-base';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { BatchedHistogram, type BatchedHistogramOptions } from './batched-histogram.js';
import { RecentSpans } from './recent-spans.js';

export interface TelemetryOptions {
  readonly service: string;
  readonly attributes?: Attributes;
}

/**
 * One per process: a meter whose metrics are served in Prometheus format by the API's `/metrics`, and
 * a tracer whose spans are kept in a bounded buffer. Nothing is registered globally, so tests can run
 * several control planes in one process without their metrics mixing.
 */
export class Telemetry {
  readonly meter: Meter;
  readonly tracer: Tracer;
  readonly spans = new RecentSpans();
  readonly #exporter: PrometheusExporter;
  readonly #meterProvider: MeterProvider;
  readonly #tracerProvider: BasicTracerProvider;
  readonly #batched = new Set<BatchedHistogram<Attributes>>();

  constructor(options: TelemetryOptions) {
    const resource = resourceFromAttributes({ 'service.name': options.service, ...options.attributes });
    this.#exporter = new PrometheusExporter({ preventServerStart: true });
    this.#meterProvider = new MeterProvider({ resource, readers: [this.#exporter] });
    this.meter = this.#meterProvider.getMeter('meshfed');
    this.#tracerProvider = new BasicTracerProvider({ resource, spanProcessors: [new SimpleSpanProcessor(this.spans)] });
    this.tracer = this.#tracerProvider.getTracer('meshfed');
  }

  /** Serves the Prometheus text format on a raw node request/response pair. */
  serveMetrics(req: IncomingMessage, res: ServerResponse): void {
    // What batched instruments hold is recorded first, so a read sees every sample taken before it.
    for (const b of this.#batched) b.flush();
    this.#exporter.getMetricsRequestHandler(req, res);
  }

  counter(name: string, description: string): Counter {
    return this.meter.createCounter(name, { description });
  }

  histogram(name: string, description: string, unit = 's'): Histogram {
    return this.meter.createHistogram(name, { description, unit });
  }

  /** A histogram recorded in batches (see BatchedHistogram), flushed before every read of the metrics. */
  batchedHistogram<A extends Attributes>(name: string, options: { description: string; unit?: string; buckets?: number[] } & BatchedHistogramOptions): BatchedHistogram<A> {
    const h = this.meter.createHistogram(name, {
      description: options.description, unit: options.unit ?? 's', ...(options.buckets ? { advice: { explicitBucketBoundaries: options.buckets } } : {}),
    });
    const b = new BatchedHistogram<A>(h, options);
    this.#batched.add(b as unknown as BatchedHistogram<Attributes>);
    return b;
  }

  /** Runs `fn` inside a span that records its outcome. */
  async span<T>(name: string, attributes: Attributes, fn: (span: Span) => Promise<T>): Promise<T> {
    return this.tracer.startActiveSpan(name, { attributes }, async (span) => {
      try {
        return await fn(span);
      } catch (err) {
        span.recordException(err as Error);
        span.setStatus({ code: SpanStatusCode.ERROR, message: (err as Error).message });
        throw err;
      } finally {
        span.end();
      }
    });
  }

  async shutdown(): Promise<void> {
    for (const b of this.#batched) b.flush();
    await Promise.allSettled([this.#meterProvider.shutdown(), this.#tracerProvider.shutdown()]);
  }
}
