import type { BatchedHistogram, Telemetry, XdsKind } from '@meshfed/shared';
import type { AdsProtocol } from './proxy-insights.js';

/** Why a stream was refused before it was served; a fixed set so the label stays bounded. */
export const ADS_REFUSAL_REASONS = ['unauthenticated', 'permission-denied', 'auth-error', 'duplicate', 'bad-first-request', 'other'] as const;
export type AdsRefusalReason = (typeof ADS_REFUSAL_REASONS)[number];

/** Protocol problems a stream survives (or, past a bound, is ended for). */
export type AdsProtocolErrorKind = 'garbage' | 'unknown-type' | 'stale-nonce';

/** xDS metrics of one zone control plane; calls are synchronous and cheap. */
export interface AdsMetrics {
  streamOpened(protocol: AdsProtocol, proxyType: string): void;
  streamClosed(protocol: AdsProtocol, proxyType: string): void;
  sent(type: XdsKind, protocol: AdsProtocol, bytes: number): void;
  acked(type: XdsKind, protocol: AdsProtocol): void;
  nacked(type: XdsKind, protocol: AdsProtocol): void;
  /** The server could not send one resource (it can never fit in a message). */
  refusedToSend(type: XdsKind, protocol: AdsProtocol): void;
  refused(reason: AdsRefusalReason): void;
  stalled(type: XdsKind, protocol: AdsProtocol): void;
  protocolError(kind: AdsProtocolErrorKind, protocol: AdsProtocol): void;
  /** From a snapshot change to the response that carries it written to the stream. */
  pushLatency(type: XdsKind, protocol: AdsProtocol, ms: number): void;
}

type Counter = ReturnType<Telemetry['counter']>;
type UpDownCounter = ReturnType<Telemetry['meter']['createUpDownCounter']>;

/**
 * A counter by (type, protocol) kept as plain numbers and reported when metrics are read (an
 * observable counter): these count every response and ACK, and OTel hashes a call's attributes on
 * every add, a visible cost when one change pushes to thousands of proxies.
 */
class Tally {
  readonly #cells = new Map<string, { readonly attributes: { type: XdsKind; protocol: AdsProtocol }; value: number }>();

  constructor(meter: Telemetry['meter'], name: string, description: string) {
    meter.createObservableCounter(name, { description }).addCallback((result) => {
      for (const c of this.#cells.values()) result.observe(c.value, c.attributes);
    });
  }

  add(type: XdsKind, protocol: AdsProtocol, n: number): void {
    const key = protocol === 'delta' ? type : `${type}/${protocol}`;
    const c = this.#cells.get(key);
    if (c) c.value += n;
    else this.#cells.set(key, { attributes: { type, protocol }, value: n });
  }
}

interface Instruments {
  readonly streamsActive: UpDownCounter;
  readonly responsesSent: Tally;
  readonly bytesSent: Tally;
  readonly acks: Tally;
  readonly nacks: Counter;
  readonly resourcesRefused: Counter;
  readonly streamsRefused: Counter;
  readonly stalls: Counter;
  readonly protocolErrors: Counter;
  readonly pushLatency: BatchedHistogram<{ type: XdsKind; protocol: AdsProtocol }>;
}

// A push is an encode and a write, usually well under a millisecond; a push held back until the
// previous response's ACK (delta) can take seconds, hence the range.
const PUSH_BUCKETS_S = [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30];

// Instruments are made once per Telemetry, so several servers on one Telemetry share the series.
const byTelemetry = new WeakMap<Telemetry, Instruments>();

function instruments(telemetry: Telemetry): Instruments {
  const cached = byTelemetry.get(telemetry);
  if (cached) return cached;
  const m = telemetry.meter;
  const made: Instruments = {
    streamsActive: m.createUpDownCounter('meshfed_xds_streams_active', { description: 'ADS streams open now, by protocol and proxy type' }),
    responsesSent: new Tally(m, 'meshfed_xds_responses_sent_total', 'xDS responses sent to proxies, by type and protocol'),
    bytesSent: new Tally(m, 'meshfed_xds_bytes_sent_total', 'Bytes of xDS responses sent to proxies, by type and protocol'),
    acks: new Tally(m, 'meshfed_xds_acks_total', 'xDS responses proxies applied (ACK), by type and protocol'),
    nacks: telemetry.counter('meshfed_xds_nacks_total', 'xDS responses proxies refused (NACK), by type and protocol'),
    resourcesRefused: telemetry.counter('meshfed_xds_resources_refused_total', 'xDS resources the server could not send (too large to ever fit), by type'),
    streamsRefused: telemetry.counter('meshfed_xds_streams_refused_total', 'ADS streams refused before being served, by reason'),
    stalls: telemetry.counter('meshfed_xds_stalls_total', 'ADS streams ended because a response went un-answered past the ACK timeout, by type and protocol'),
    protocolErrors: telemetry.counter('meshfed_xds_protocol_errors_total', 'ADS requests ignored (undecodable, unknown type, stale nonce), by kind and protocol'),
    // Batched, and sampled in bursts: one sample per stream per push is thousands per mesh-wide change
    // (responses_sent counts every response).
    pushLatency: telemetry.batchedHistogram('meshfed_xds_push_latency_seconds', {
      description: 'From a proxy snapshot change to the xDS response carrying it written to the stream (a uniform sample of at most 1000 per type per second)',
      buckets: PUSH_BUCKETS_S, maxPerBatch: 1000, maxDelayMs: 1000,
    }),
  };
  byTelemetry.set(telemetry, made);
  return made;
}

/**
 * Prometheus metrics for the ADS server. Labels are bounded on purpose: `type` (an xDS kind),
 * `protocol`, `proxy_type`, and fixed sets of reasons and kinds; never proxy ids, names or versions.
 */
export function createAdsMetrics(telemetry: Telemetry): AdsMetrics {
  const i = instruments(telemetry);
  return {
    streamOpened: (protocol, proxyType) => i.streamsActive.add(1, { protocol, proxy_type: proxyType }),
    streamClosed: (protocol, proxyType) => i.streamsActive.add(-1, { protocol, proxy_type: proxyType }),
    sent: (type, protocol, bytes) => {
      i.responsesSent.add(type, protocol, 1);
      i.bytesSent.add(type, protocol, bytes);
    },
    acked: (type, protocol) => i.acks.add(type, protocol, 1),
    nacked: (type, protocol) => i.nacks.add(1, { type, protocol }),
    refusedToSend: (type, protocol) => i.resourcesRefused.add(1, { type, protocol }),
    refused: (reason) => i.streamsRefused.add(1, { reason }),
    stalled: (type, protocol) => i.stalls.add(1, { type, protocol }),
    protocolError: (kind, protocol) => i.protocolErrors.add(1, { kind, protocol }),
    pushLatency: (type, protocol, ms) => i.pushLatency.record(Math.max(0, ms) / 1000, protocol === 'delta' ? type : `${type}/${protocol}`, { type, protocol }),
  };
}

export const NOOP_ADS_METRICS: AdsMetrics = {
  streamOpened() {}, streamClosed() {}, sent() {}, acked() {}, nacked() {}, refusedToSend() {}, refused() {}, stalled() {}, protocolError() {}, pushLatency() {},
};
