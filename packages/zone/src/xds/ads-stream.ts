import { performance } from 'node:perf_hooks';
import { status } from '@grpc/grpc-js';
import type { Logger, Telemetry, XdsKind } from '@meshfed/shared';
import { deltaProtocol } from './ads-delta-protocol.js';
import type { AdsMetrics } from './ads-metrics.js';
import type { AdsOutbound, AdsStep, StreamProtocol } from './ads-protocol.js';
import { sotwProtocol } from './ads-sotw-protocol.js';
import { StallTimer } from './ads-stall-timer.js';
import type { AdsProtocol, ProxyInsights } from './proxy-insights.js';
import type { SnapshotCache } from './snapshot-cache.js';

export interface AdsStreamOptions {
  readonly proxyId: string;
  readonly protocol: AdsProtocol;
  readonly cache: SnapshotCache;
  readonly insights: ProxyInsights;
  readonly log: Logger;
  readonly metrics: AdsMetrics;
  readonly telemetry?: Telemetry;
  readonly ackTimeoutMs: number;
  /** Undecodable frames in a row after which the stream is ended. */
  readonly maxGarbageFrames: number;
  readonly maxMessageBytes: number;
  /** Puts one response on the wire. */
  readonly write: (bytes: Buffer) => void;
  /** Ends the gRPC stream with a status; the owner then calls `close`. */
  readonly end: (code: status, reason: string) => void;
}

/** A stream's first response and every this-many-th after it get an `xds.push` span. */
const SPAN_SAMPLE_EVERY = 64;

/**
 * One admitted proxy's stream: frames in, snapshot changes in, responses out. Records every response,
 * ACK and NACK in insights and metrics, ends the stream when the proxy stops answering (one stall
 * timer) or sends nothing but garbage, and measures how long a snapshot change takes to reach the wire.
 */
export class AdsStream {
  readonly #o: AdsStreamOptions;
  readonly #proto: StreamProtocol;
  readonly #stall: StallTimer<XdsKind>;
  /** Per type, the first change whose push waits for an answer (delta), to measure it when it goes. */
  readonly #deferredSince = new Map<XdsKind, number>();
  #cancelWatch: (() => void) | undefined;
  #garbage = 0;
  #responses = 0;
  #closed = false;

  constructor(options: AdsStreamOptions) {
    this.#o = options;
    const { cache, proxyId } = options;
    const current = () => cache.get(proxyId);
    this.#proto = options.protocol === 'sotw' ? sotwProtocol(current) : deltaProtocol(current, options.maxMessageBytes);
    this.#stall = new StallTimer({ timeoutMs: options.ackTimeoutMs, oldest: () => this.#proto.oldestUnacked(), onStall: (type, ms) => this.#stalled(type, ms) });
  }

  /** Watches the proxy's snapshot and handles the frames that arrived while the stream was admitted. */
  start(frames: readonly Buffer[]): void {
    this.#cancelWatch = this.#o.cache.watch(this.#o.proxyId, (next, previous) => this.#onChange(next, previous));
    for (const f of frames) this.onFrame(f);
  }

  onFrame(frame: Buffer): void {
    if (this.#closed) return;
    const { log, metrics, proxyId, protocol } = this.#o;
    const step = this.#proto.onFrame(frame);
    if (step.ignored?.kind === 'garbage') {
      this.#garbage++;
      metrics.protocolError('garbage', protocol);
      log.warn({ proxyId, protocol, error: step.ignored.detail, inARow: this.#garbage }, 'xDS: ignored a frame that does not decode');
      if (this.#garbage >= this.#o.maxGarbageFrames) {
        this.#o.end(status.INVALID_ARGUMENT, `${this.#garbage} requests in a row do not decode as Envoy ${protocol === 'sotw' ? 'DiscoveryRequest' : 'DeltaDiscoveryRequest'}s (last: ${step.ignored.detail})`);
      }
      return;
    }
    this.#garbage = 0;
    if (step.ignored) {
      metrics.protocolError(step.ignored.kind, protocol);
      log.warn({ proxyId, protocol, kind: step.ignored.kind, detail: step.ignored.detail }, 'xDS: ignored a request');
    }
    // A push held back for this answer goes now (or turned out to be nothing): either way it is settled.
    let latency: { since: number; types: ReadonlySet<XdsKind> } | undefined;
    if (step.type !== undefined) {
      const since = this.#deferredSince.get(step.type);
      if (since !== undefined) latency = { since, types: new Set([step.type]) };
      this.#deferredSince.delete(step.type);
    }
    this.#emit(step, latency);
  }

  /** Stops watching and timing; the gRPC stream is the owner's to end. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#cancelWatch?.();
    this.#stall.stop();
    this.#deferredSince.clear();
  }

  #onChange(...args: Parameters<StreamProtocol['onChange']>): void {
    if (this.#closed) return;
    // The cache calls watchers synchronously inside `set`: this is the moment of the change.
    const at = performance.now();
    const step = this.#proto.onChange(...args);
    for (const t of step.deferred ?? []) if (!this.#deferredSince.has(t)) this.#deferredSince.set(t, at);
    for (const o of step.out) this.#deferredSince.delete(o.type);
    this.#emit(step, { since: at });
  }

  /** Records the step's answers and refusals, writes its responses, and times the push. */
  #emit(step: AdsStep, latency: { since: number; types?: ReadonlySet<XdsKind> } | undefined): void {
    const { insights, log, metrics, proxyId, protocol } = this.#o;
    for (const a of step.answers) {
      if (a.kind === 'ack') {
        insights.acked(proxyId, a.type, a);
        metrics.acked(a.type, protocol);
      } else {
        insights.nacked(proxyId, a.type, a);
        metrics.nacked(a.type, protocol);
        log.warn({ proxyId, type: a.type, version: a.version, error: a.error }, 'xDS: proxy refused its configuration (NACK)');
      }
    }
    for (const r of step.refusedToSend) {
      metrics.refusedToSend(r.type, protocol);
      log.error({ proxyId, type: r.type, name: r.name, error: r.error }, 'xDS: cannot send a resource');
    }
    if (step.out.length === 0 || this.#closed) return;
    for (const o of step.out) this.#write(o);
    if (latency) {
      const ms = performance.now() - latency.since;
      // Once per type: a push split into several responses of one type is one push.
      const out = step.out;
      for (let i = 0; i < out.length; i++) {
        const type = out[i]!.type;
        let seen = false;
        for (let j = 0; j < i && !seen; j++) seen = out[j]!.type === type;
        if (!seen && (!latency.types || latency.types.has(type))) metrics.pushLatency(type, protocol, ms);
      }
    }
    this.#stall.sent();
  }

  #write(o: AdsOutbound): void {
    const { proxyId, protocol, telemetry } = this.#o;
    // A span for a stream's first response and one in SPAN_SAMPLE_EVERY after it, only with telemetry: one per response was a
    // visible share of a push to thousands of proxies; the metrics still count every response.
    const span = telemetry && this.#responses++ % SPAN_SAMPLE_EVERY === 0 ? telemetry.tracer.startSpan('xds.push', {
      attributes: { 'meshfed.xds.proxy_id': proxyId, 'meshfed.xds.type': o.type, 'meshfed.xds.protocol': protocol, 'meshfed.xds.version': o.version, 'meshfed.xds.resources': o.resources, 'meshfed.xds.bytes': o.bytes.length },
    }) : undefined;
    // Unbounded buffering is not possible: a proxy that stops reading stops answering, and the stall timer ends the stream.
    this.#o.write(o.bytes);
    this.#o.insights.sent(proxyId, o.type, { version: o.version, nonce: o.nonce, resources: o.resources });
    this.#o.metrics.sent(o.type, protocol, o.bytes.length);
    span?.end();
  }

  #stalled(type: XdsKind, unansweredMs: number): void {
    if (this.#closed) return;
    const { ackTimeoutMs, insights, log, metrics, proxyId, protocol } = this.#o;
    insights.stalled(proxyId, type, { unansweredMs });
    metrics.stalled(type, protocol);
    log.warn({ proxyId, protocol, type, unansweredMs, ackTimeoutMs }, 'xDS: proxy stopped answering (no ACK or NACK); ending its stream so it reconnects');
    this.#o.end(status.UNAVAILABLE, `the ${type} response went unanswered (no ACK or NACK) for ${unansweredMs} ms, past the ${ackTimeoutMs} ms ACK timeout: reconnect`);
  }
}
