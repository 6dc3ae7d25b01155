import { z } from 'zod';
import { defineResource } from './descriptor.js';

const Counters = z.object({
  responsesSent: z.number().int().nonnegative().default(0),
  responsesAcknowledged: z.number().int().nonnegative().default(0),
  responsesRejected: z.number().int().nonnegative().default(0),
});

/** What one direction of one type's sync has done: versions sent and acknowledged, the last NACK. */
const TypeSyncState = Counters.extend({
  direction: z.enum(['global-to-zone', 'zone-to-global']),
  lastSentVersion: z.string().optional(),
  lastAckedVersion: z.string().optional(),
  lastNack: z.object({ version: z.string().optional(), error: z.string(), time: z.string() }).optional(),
});

const Subscription = z.object({
  id: z.string(),
  globalInstanceId: z.string(),
  connectTime: z.string(),
  disconnectTime: z.string().optional(),
  version: z.object({ cp: z.object({ version: z.string() }) }).optional(),
  status: z
    .object({
      lastUpdateTime: z.string().optional(),
      total: Counters.optional(),
      stat: z.record(z.string(), TypeSyncState).optional(),
    })
    .optional(),
});

export const ZoneInsightSpec = z.object({ subscriptions: z.array(Subscription).default([]) }).strict();
export type ZoneInsightSpec = z.infer<typeof ZoneInsightSpec>;

export const ZoneInsightDescriptor = defineResource({
  kind: 'ZoneInsight', plural: 'zone-insights', singular: 'zone-insight', scope: 'global', owner: 'system',
  kds: [], spec: ZoneInsightSpec,
});
