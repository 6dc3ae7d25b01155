import { z } from 'zod';
import { durationSchema, durationToMs } from '../meta.js';
import { atLeastOne, headerModifier, positiveInt, statusCode } from './fields.js';
import { definePolicy, peerEntries, policySpec, type TargetRef, topTargetRef } from './target-ref.js';

// Envoy's token bucket refills at most every 50ms; shorter intervals are rejected by the proxy.
const Rate = z
  .object({
    num: positiveInt,
    interval: durationSchema.refine((d) => !durationSchema.safeParse(d).success || durationToMs(d) >= 50, 'must be at least 50ms'),
  })
  .strict();

const Local = z
  .object({
    http: z
      .object({
        disabled: z.boolean().optional(),
        requestRate: Rate.optional(),
        onRateLimit: z.object({ status: statusCode.optional(), headers: headerModifier(false).optional() }).strict().optional(),
      })
      .strict()
      .superRefine(atLeastOne(['disabled', 'requestRate', 'onRateLimit']))
      .optional(),
    tcp: z
      .object({ disabled: z.boolean().optional(), connectionRate: Rate.optional() })
      .strict()
      .superRefine(atLeastOne(['disabled', 'connectionRate']))
      .optional(),
  })
  .strict()
  .superRefine(atLeastOne(['http', 'tcp']));

const Conf = z.object({ local: Local }).strict();

// Kuma's IncludesGateways: a Mesh or MeshSubset ref covers gateways unless proxyTypes leaves them out.
function includesGateways(ref: TargetRef): boolean {
  if (ref.kind === 'MeshGateway' || ref.kind === 'MeshHTTPRoute') return true;
  return (ref.kind === 'Mesh' || ref.kind === 'MeshSubset') && (!ref.proxyTypes?.length || ref.proxyTypes.includes('Gateway'));
}

// Rate limits are enforced where traffic enters: on a sidecar's inbound (`from`), or on a gateway,
// which has no inbound of its own, for the traffic it forwards (`to`).
export const MeshRateLimitSpec = policySpec(
  {
    targetRef: topTargetRef(['Mesh', 'MeshSubset', 'MeshService', 'MeshServiceSubset', 'MeshGateway', 'MeshHTTPRoute']),
    from: peerEntries(['Mesh'], Conf).optional(),
    to: peerEntries(['Mesh'], Conf).optional(),
  },
  (spec, ctx) => {
    const top = spec.targetRef;
    const gatewayOnly = top.kind === 'MeshGateway' || top.kind === 'MeshHTTPRoute' || (top.proxyTypes?.length === 1 && top.proxyTypes[0] === 'Gateway');
    if (gatewayOnly && spec.from?.length) ctx.addIssue({ code: 'custom', path: ['from'], message: 'must not be defined when the top-level targetRef selects only gateways: use to' });
    if (!includesGateways(top) && spec.to?.length) ctx.addIssue({ code: 'custom', path: ['to'], message: 'can only be defined when the top-level targetRef selects gateways: use from' });
  },
);
export type MeshRateLimitSpec = z.infer<typeof MeshRateLimitSpec>;

export const MeshRateLimitDescriptor = definePolicy('MeshRateLimit', MeshRateLimitSpec);
