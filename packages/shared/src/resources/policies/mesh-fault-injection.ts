import { z } from 'zod';
import { durationSchema } from '../meta.js';
import { atLeastOne, percentage, statusCode } from './fields.js';
import { definePolicy, forbidSection, peerEntries, policySpec, topTargetRef } from './target-ref.js';

const Fault = z
  .object({
    abort: z.object({ httpStatus: statusCode, percentage }).strict().optional(),
    delay: z.object({ value: durationSchema, percentage }).strict().optional(),
    responseBandwidth: z
      .object({ limit: z.string().regex(/^\d+(kbps|Mbps|Gbps)$/, 'must be a bandwidth such as 100kbps, 10Mbps or 1Gbps'), percentage })
      .strict()
      .optional(),
  })
  .strict()
  .superRefine(atLeastOne(['abort', 'delay', 'responseBandwidth']));

const Conf = z.object({ http: z.array(Fault).optional() }).strict();

// Faults are injected on the receiving side (`from`), except on a gateway, which has no inbound,
// so there they apply to what it forwards (`to`).
export const MeshFaultInjectionSpec = policySpec(
  {
    targetRef: topTargetRef(['Mesh', 'MeshSubset', 'MeshService', 'MeshServiceSubset', 'MeshGateway']),
    from: peerEntries(['Mesh', 'MeshSubset', 'MeshService', 'MeshServiceSubset'], Conf).optional(),
    to: peerEntries(['Mesh'], Conf).optional(),
  },
  (spec, ctx) => {
    if (spec.targetRef.kind === 'MeshGateway') forbidSection(ctx, spec.from, 'from', 'when the top-level targetRef is MeshGateway: use to');
    else forbidSection(ctx, spec.to, 'to', 'unless the top-level targetRef is MeshGateway: use from');
  },
);
export type MeshFaultInjectionSpec = z.infer<typeof MeshFaultInjectionSpec>;

export const MeshFaultInjectionDescriptor = definePolicy('MeshFaultInjection', MeshFaultInjectionSpec);
