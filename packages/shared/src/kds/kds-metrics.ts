import type { Attributes, Counter, Histogram, UpDownCounter } from '@opentelemetry/api';
import type { Telemetry } from '../telemetry/telemetry.js';
import type { KdsDirection, KdsObserver } from './observer.js';

/** Why a stream was found stuck; anything else is counted as `other` so the label stays bounded. */
export const KDS_STALL_REASONS = ['ack-timeout', 'send-blocked', 'other'] as const;
export type KdsStallReason = (typeof KDS_STALL_REASONS)[number];

/** KDS metrics of one control plane: a KdsObserver plus what sessions do not report through it. */
export interface KdsMetrics extends KdsObserver {
  streamOpened(direction: KdsDirection): void;
  streamClosed(direction: KdsDirection): void;
  /** A stream stopped making progress (un-ACKed beyond its timeout, a send that cannot go on). */
  stalled(direction: KdsDirection, reason: string): void;
}

interface Instruments {
  readonly streamsActive: UpDownCounter;
  readonly responsesSent: Counter;
  readonly acks: Counter;
  readonly nacks: Counter;
  readonly refused: Counter;
  readonly protocolErrors: Counter;
  readonly stalls: Counter;
  readonly resourcesApplied: Counter;
  readonly bytesSent: Counter;
  readonly propagationLag: Histogram;
  readonly ackLatency: Histogram;
}

// Millisecond-scale propagation is the point, so the buckets start at 1 ms.
const LATENCY_BUCKETS_S = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30];

// Instruments are made once per Telemetry: several sessions (or both sides in one test process
// sharing a Telemetry) asking for metrics share the same series.
const byTelemetry = new WeakMap<Telemetry, Instruments>();

function instruments(telemetry: Telemetry): Instruments {
  const cached = byTelemetry.get(telemetry);
  if (cached) return cached;
  const m = telemetry.meter;
  const latency = (name: string, description: string) =>
    m.createHistogram(name, { description, unit: 's', advice: { explicitBucketBoundaries: LATENCY_BUCKETS_S } });
  const made: Instruments = {
    streamsActive: m.createUpDownCounter('meshfed_kds_streams_active', { description: 'KDS streams open now, by direction' }),
    responsesSent: telemetry.counter('meshfed_kds_responses_sent_total', 'KDS responses sent, by type and direction'),
    acks: telemetry.counter('meshfed_kds_acks_total', 'KDS responses the peer acknowledged, by type and direction'),
    nacks: telemetry.counter('meshfed_kds_nacks_total', 'KDS responses the peer refused (NACK), by type and direction'),
    refused: telemetry.counter('meshfed_kds_refused_total', 'Resources the sender refused to send (too large to ever fit), by type and direction'),
    protocolErrors: telemetry.counter('meshfed_kds_protocol_errors_total', 'KDS protocol problems a stream survived, by kind'),
    stalls: telemetry.counter('meshfed_kds_stalls_total', 'KDS streams found stuck and restarted, by direction and reason'),
    resourcesApplied: telemetry.counter('meshfed_kds_resources_applied_total', 'Resources received over KDS and applied, by type and direction'),
    bytesSent: telemetry.counter('meshfed_kds_bytes_sent_total', 'Bytes of KDS responses sent, by type and direction'),
    propagationLag: latency('meshfed_kds_propagation_lag_seconds', 'From the commit on the sending side to applied on this side'),
    ackLatency: latency('meshfed_kds_ack_latency_seconds', 'From a KDS response sent to its ACK'),
  };
  byTelemetry.set(telemetry, made);
  return made;
}

/**
 * Prometheus metrics for KDS on one side. Labels are bounded on purpose: `side`, `type` (a resource
 * kind), `direction`, and for errors and stalls a small fixed set of kinds; never resource names,
 * zones or versions.
 */
export function createKdsMetrics(telemetry: Telemetry, side: 'global' | 'zone'): KdsMetrics {
  const i = instruments(telemetry);
  const by = (type: string, direction: KdsDirection): Attributes => ({ side, type, direction });
  return {
    streamOpened: (direction) => i.streamsActive.add(1, { side, direction }),
    streamClosed: (direction) => i.streamsActive.add(-1, { side, direction }),
    stalled: (direction, reason) => {
      const r: KdsStallReason = (KDS_STALL_REASONS as readonly string[]).includes(reason) ? (reason as KdsStallReason) : 'other';
      i.stalls.add(1, { side, direction, reason: r });
    },
    sent: (type, direction, info) => {
      i.responsesSent.add(1, by(type, direction));
      if (info.bytes > 0) i.bytesSent.add(info.bytes, by(type, direction));
    },
    acked: (type, direction, info) => {
      i.acks.add(1, by(type, direction));
      if (Number.isFinite(info.latencyMs) && info.latencyMs >= 0) i.ackLatency.record(info.latencyMs / 1000, by(type, direction));
    },
    nacked: (type, direction) => i.nacks.add(1, by(type, direction)),
    refusedToSend: (type, direction) => i.refused.add(1, by(type, direction)),
    applied: (type, direction, info) => {
      if (info.resources > 0) i.resourcesApplied.add(info.resources, by(type, direction));
      if (info.lagMs !== undefined && Number.isFinite(info.lagMs)) {
        // Clocks of two hosts: a small negative lag is skew, not time travel.
        i.propagationLag.record(Math.max(0, info.lagMs) / 1000, by(type, direction));
      }
    },
    protocolError: (kind) => i.protocolErrors.add(1, { side, kind }),
  };
}
