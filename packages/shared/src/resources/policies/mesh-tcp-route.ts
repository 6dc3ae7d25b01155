import { z } from 'zod';
import { someWeight } from './fields.js';
import { backendRefSchema, definePolicy, policySpec, restrictKinds, targetRefSchema, topTargetRef } from './target-ref.js';

// TCP has nothing to match on, so a destination takes exactly one rule (Kuma keeps the list for
// Gateway API symmetry).
const To = z
  .object({
    targetRef: targetRefSchema(['Mesh', 'MeshService']),
    rules: z
      .array(
        z
          .object({
            default: z
              .object({ backendRefs: z.array(backendRefSchema(['MeshService', 'MeshServiceSubset'])).min(1, 'must have at least one backendRef') })
              .strict()
              .superRefine((d, ctx) => someWeight(d.backendRefs, ctx, ['backendRefs'])),
          })
          .strict(),
      )
      .length(1, 'must have exactly one rule'),
  })
  .strict();

export const MeshTCPRouteSpec = policySpec(
  {
    targetRef: topTargetRef(['Mesh', 'MeshSubset', 'MeshService', 'MeshServiceSubset', 'MeshGateway']),
    to: z.array(To).optional(),
  },
  (spec, ctx) => {
    const gateway = spec.targetRef.kind === 'MeshGateway';
    restrictKinds(ctx, spec.to, 'to', gateway ? ['Mesh'] : ['MeshService'], `when the top-level targetRef is ${spec.targetRef.kind}`);
  },
);
export type MeshTCPRouteSpec = z.infer<typeof MeshTCPRouteSpec>;

export const MeshTCPRouteDescriptor = definePolicy('MeshTCPRoute', MeshTCPRouteSpec);
