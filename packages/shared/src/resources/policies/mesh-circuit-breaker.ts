import { z } from 'zod';
import { atLeastOne, intPercent, percentage, positiveDuration, positiveInt } from './fields.js';
import { definePolicy, peerEntries, policySpec, topTargetRef } from './target-ref.js';

const ConnectionLimits = z
  .object({
    maxConnections: positiveInt.optional(),
    maxConnectionPools: positiveInt.optional(),
    maxPendingRequests: positiveInt.optional(),
    maxRetries: positiveInt.optional(),
    maxRequests: positiveInt.optional(),
  })
  .strict();

const consecutive = z.object({ consecutive: positiveInt.optional() }).strict();

const Detectors = z
  .object({
    totalFailures: consecutive.optional(),
    gatewayFailures: consecutive.optional(),
    localOriginFailures: consecutive.optional(),
    successRate: z
      .object({
        minimumHosts: positiveInt.optional(),
        requestVolume: positiveInt.optional(),
        // int-or-string like percentages, but only needs to be positive.
        standardDeviationFactor: z
          .union([z.number(), z.string().regex(/^\d+(\.\d+)?$/, 'must be a number or a decimal string such as "1.9"')], { error: 'must be a number or a decimal string' })
          .refine((v) => Number(v) > 0, 'must be greater than 0')
          .optional(),
      })
      .strict()
      .optional(),
    failurePercentage: z
      .object({ minimumHosts: positiveInt.optional(), requestVolume: positiveInt.optional(), threshold: intPercent.optional() })
      .strict()
      .optional(),
  })
  .strict()
  .superRefine(atLeastOne(['totalFailures', 'gatewayFailures', 'localOriginFailures', 'successRate', 'failurePercentage']));

// Outlier detection with no detector ejects nothing; Kuma asks for detectors unless it is disabled.
const OutlierDetection = z
  .object({
    disabled: z.boolean().optional(),
    interval: positiveDuration.optional(),
    baseEjectionTime: positiveDuration.optional(),
    maxEjectionPercent: intPercent.optional(),
    splitExternalAndLocalErrors: z.boolean().optional(),
    healthyPanicThreshold: percentage.optional(),
    detectors: Detectors.optional(),
  })
  .strict()
  .superRefine((o, ctx) => {
    if (!o.disabled && !o.detectors) ctx.addIssue({ code: 'custom', path: ['detectors'], message: 'is required unless outlierDetection is disabled' });
  });

const Conf = z
  .object({ connectionLimits: ConnectionLimits.optional(), outlierDetection: OutlierDetection.optional() })
  .strict()
  .superRefine(atLeastOne(['connectionLimits', 'outlierDetection']));

export const MeshCircuitBreakerSpec = policySpec({
  targetRef: topTargetRef(['Mesh', 'MeshSubset', 'MeshService', 'MeshServiceSubset', 'MeshGateway']),
  from: peerEntries(['Mesh'], Conf).optional(),
  to: peerEntries(['Mesh', 'MeshService'], Conf).optional(),
});
export type MeshCircuitBreakerSpec = z.infer<typeof MeshCircuitBreakerSpec>;

export const MeshCircuitBreakerDescriptor = definePolicy('MeshCircuitBreaker', MeshCircuitBreakerSpec);
