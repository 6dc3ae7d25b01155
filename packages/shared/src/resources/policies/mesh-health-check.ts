import { z } from 'zod';
import { atLeastOne, headerModifier, intPercent, percentage, positiveDuration, positiveInt, statusCode } from './fields.js';
import { definePolicy, peerEntries, policySpec, topTargetRef } from './target-ref.js';

const Http = z
  .object({
    disabled: z.boolean().optional(),
    path: z.string().min(1, 'must not be empty').optional(),
    requestHeadersToAdd: headerModifier(false).optional(),
    expectedStatuses: z.array(statusCode).optional(),
  })
  .strict();

const Tcp = z
  .object({
    disabled: z.boolean().optional(),
    // Payloads are base64 so binary protocols can be probed from YAML.
    send: z.string().base64('must be base64-encoded').optional(),
    receive: z.array(z.string().base64('must be base64-encoded')).optional(),
  })
  .strict();

const Grpc = z.object({ disabled: z.boolean().optional(), serviceName: z.string().optional(), authority: z.string().optional() }).strict();

const Conf = z
  .object({
    interval: positiveDuration.optional(),
    timeout: positiveDuration.optional(),
    unhealthyInterval: positiveDuration.optional(),
    unhealthyThreshold: positiveInt.optional(),
    healthyThreshold: positiveInt.optional(),
    initialJitter: positiveDuration.optional(),
    intervalJitter: positiveDuration.optional(),
    intervalJitterPercent: intPercent.optional(),
    healthyPanicThreshold: percentage.optional(),
    failTrafficOnPanic: z.boolean().optional(),
    eventLogPath: z.string().min(1, 'must not be empty').optional(),
    alwaysLogHealthCheckFailures: z.boolean().optional(),
    noTrafficInterval: positiveDuration.optional(),
    reuseConnection: z.boolean().optional(),
    tcp: Tcp.optional(),
    http: Http.optional(),
    grpc: Grpc.optional(),
  })
  .strict()
  .superRefine(atLeastOne(['tcp', 'http', 'grpc']));

// Active health checks are outbound only: there is no `from`.
export const MeshHealthCheckSpec = policySpec({
  targetRef: topTargetRef(['Mesh', 'MeshSubset', 'MeshService', 'MeshServiceSubset', 'MeshGateway']),
  to: peerEntries(['Mesh', 'MeshService'], Conf).optional(),
});
export type MeshHealthCheckSpec = z.infer<typeof MeshHealthCheckSpec>;

export const MeshHealthCheckDescriptor = definePolicy('MeshHealthCheck', MeshHealthCheckSpec);
