import { z } from 'zod';
import { defineResource } from './descriptor.js';

// What global knows about one zone's KDS sync, written only by the global control plane (owner
// `system`). One ZoneInsight per zone, named like the zone; it holds the zone's last few
// subscriptions (one per stream, from any global replica), each with per type and direction state.

const count = z.number().int().nonnegative().default(0);

/** A version of one resource the sender would not send (it can never fit in a message), or the peer refused. */
export const KdsResourceRefusal = z.object({
  name: z.string(),
  version: z.string(),
  error: z.string(),
  time: z.string().optional(),
});
export type KdsResourceRefusal = z.infer<typeof KdsResourceRefusal>;

export const KdsNack = z.object({
  version: z.string().optional(),
  error: z.string(),
  time: z.string(),
  /** The resources the peer refused, when it refused some and not the whole response (bounded). */
  rejected: z.array(KdsResourceRefusal).default([]),
});
export type KdsNack = z.infer<typeof KdsNack>;

/** What one direction of one type's sync has done on one stream. */
export const KdsTypeStat = z.object({
  /** Responses sent, acknowledged and rejected (NACKed) by the peer. */
  sent: count,
  acked: count,
  rejected: count,
  lastSentVersion: z.string().optional(),
  lastSentTime: z.string().optional(),
  lastAckedVersion: z.string().optional(),
  lastAckTime: z.string().optional(),
  lastAckLatencyMs: z.number().nonnegative().optional(),
  lastNack: KdsNack.optional(),
  /** Resources the sender refused to send at all; `refused` keeps the last few, `refusedTotal` counts all. */
  refusedTotal: count,
  refused: z.array(KdsResourceRefusal).default([]),
  /** Responses received from the peer and applied here, with what they carried. */
  applied: count,
  resourcesApplied: count,
  removalsApplied: count,
  resourcesRejected: count,
  lastAppliedTime: z.string().optional(),
});
export type KdsTypeStat = z.infer<typeof KdsTypeStat>;

export const KDS_DIRECTIONS = ['global-to-zone', 'zone-to-global'] as const;

/** Per direction; a type that flows both ways (ZoneIngress) has both. */
export const KdsTypeStats = z.object({
  'global-to-zone': KdsTypeStat.optional(),
  'zone-to-global': KdsTypeStat.optional(),
});
export type KdsTypeStats = z.infer<typeof KdsTypeStats>;

const Totals = z.object({ sent: count, acked: count, rejected: count, refused: count });

export const ZoneSubscriptionStatus = z.object({
  lastUpdateTime: z.string().optional(),
  total: Totals.prefault({}),
  /** Keyed by resource type, then direction. */
  stat: z.record(z.string(), KdsTypeStats).default({}),
  /** Protocol problems the stream survived, by kind (garbage, unknown-type, stale-nonce, invalid-resource). */
  protocolErrors: z.record(z.string(), z.number().int().nonnegative()).default({}),
  lastProtocolError: z.object({ kind: z.string(), detail: z.string(), time: z.string() }).optional(),
  /** Times the stream stopped making progress and was restarted. */
  stalls: count,
  lastStall: z.object({ direction: z.enum(KDS_DIRECTIONS), reason: z.string(), time: z.string() }).optional(),
});
export type ZoneSubscriptionStatus = z.infer<typeof ZoneSubscriptionStatus>;

/** One KDS stream of the zone, as the global replica that served it saw it. */
export const ZoneSubscription = z.object({
  /** The stream id, unique within its global replica. */
  id: z.string(),
  globalInstanceId: z.string(),
  connectTime: z.string(),
  disconnectTime: z.string().optional(),
  disconnectReason: z.string().optional(),
  /** Last unary health check from the zone; with connectTime, what `online` is computed from. */
  lastHealthCheckTime: z.string().optional(),
  /** Version of the global control plane replica that served the stream. */
  cpVersion: z.string(),
  /** Version the zone control plane declared. */
  zoneCpVersion: z.string(),
  status: ZoneSubscriptionStatus.prefault({}),
});
export type ZoneSubscription = z.infer<typeof ZoneSubscription>;

/** How many subscriptions a ZoneInsight keeps (the newest by connect time). */
export const MAX_ZONE_SUBSCRIPTIONS = 5;

export const ZoneInsightSpec = z.object({ subscriptions: z.array(ZoneSubscription).default([]) }).strict();
export type ZoneInsightSpec = z.infer<typeof ZoneInsightSpec>;

/**
 * A zone joined with its insight, as global's `GET /zones+insights[/{name}]` answers it: what the
 * global CP computes and what the CLI reads back.
 */
export const ZoneOverview = z.object({
  type: z.literal('ZoneInsight'),
  name: z.string(),
  creationTime: z.string(),
  modificationTime: z.string(),
  labels: z.record(z.string(), z.string()),
  /** From the Zone: a disabled zone is refused on KDS. */
  enabled: z.boolean(),
  online: z.boolean(),
  lastConnectTime: z.string().nullable(),
  lastDisconnectTime: z.string().nullable(),
  lastHealthCheckTime: z.string().nullable(),
  /** Version of the global replica that serves (or last served) the zone. */
  cpVersion: z.string().nullable(),
  zoneCpVersion: z.string().nullable(),
  globalInstanceId: z.string().nullable(),
  /** Oldest first; the last one is the current or most recent stream. */
  subscriptions: z.array(ZoneSubscription),
});
export type ZoneOverview = z.infer<typeof ZoneOverview>;

export const ZoneInsightDescriptor = defineResource({
  kind: 'ZoneInsight', plural: 'zone-insights', singular: 'zone-insight', scope: 'global', owner: 'system',
  kds: [], spec: ZoneInsightSpec,
});
