import { z } from 'zod';
import { durationSchema } from '../meta.js';
import { atLeastOne, oneOf, percentage, positiveInt } from './fields.js';
import { definePolicy, peerEntries, policySpec, topTargetRef } from './target-ref.js';

const LB_TYPES = ['RoundRobin', 'LeastRequest', 'RingHash', 'Random', 'Maglev'] as const;
const HASH_TYPES = ['Header', 'Cookie', 'Connection', 'QueryParameter', 'FilterState'] as const;

const named = z.object({ name: z.string().min(1, 'must not be empty') }).strict();

// Each hash type reads its settings from the field named after it (type Header -> header).
const HashPolicy = z
  .object({
    type: oneOf(HASH_TYPES),
    terminal: z.boolean().optional(),
    header: named.optional(),
    cookie: z
      .object({ name: z.string().min(1, 'must not be empty'), ttl: durationSchema.optional(), path: z.string().startsWith('/', 'must be an absolute path').optional() })
      .strict()
      .optional(),
    connection: z.object({ sourceIP: z.boolean().optional() }).strict().optional(),
    queryParameter: named.optional(),
    filterState: z.object({ key: z.string().min(1, 'must not be empty') }).strict().optional(),
  })
  .strict()
  .superRefine((h, ctx) => {
    const own = h.type.charAt(0).toLowerCase() + h.type.slice(1);
    if ((h as Record<string, unknown>)[own] === undefined) ctx.addIssue({ code: 'custom', path: [own], message: `is required for type ${h.type}` });
    for (const t of HASH_TYPES) {
      const k = t.charAt(0).toLowerCase() + t.slice(1);
      if (k !== own && (h as Record<string, unknown>)[k] !== undefined) ctx.addIssue({ code: 'custom', path: [k], message: `cannot be set for type ${h.type}` });
    }
  });

const ringSize = z.number().int('must be an integer').min(1, 'must be in 1-8000000').max(8_000_000, 'must be in 1-8000000');

const LoadBalancer = z
  .object({
    type: oneOf(LB_TYPES),
    roundRobin: z.object({}).strict().optional(),
    leastRequest: z
      .object({
        // Envoy's power-of-N choice needs at least two candidates to compare.
        choiceCount: z.number().int('must be an integer').min(2, 'must be at least 2').optional(),
        activeRequestBias: z
          .union([z.number().min(0, 'must not be negative'), z.string().regex(/^\d+(\.\d+)?$/, 'must be a non-negative number such as "1.5"')], { error: 'must be a number or a decimal string' })
          .optional(),
      })
      .strict()
      .optional(),
    ringHash: z
      .object({
        hashFunction: oneOf(['XXHash', 'MurmurHash2']).optional(),
        minRingSize: ringSize.optional(),
        maxRingSize: ringSize.optional(),
        hashPolicies: z.array(HashPolicy).optional(),
      })
      .strict()
      .superRefine((r, ctx) => {
        if (r.minRingSize !== undefined && r.maxRingSize !== undefined && r.minRingSize > r.maxRingSize) {
          ctx.addIssue({ code: 'custom', path: ['minRingSize'], message: 'must not be greater than maxRingSize' });
        }
      })
      .optional(),
    random: z.object({}).strict().optional(),
    maglev: z
      .object({
        tableSize: z.number().int('must be an integer').min(1, 'must be in 1-5000011').max(5_000_011, 'must be in 1-5000011').optional(),
        hashPolicies: z.array(HashPolicy).optional(),
      })
      .strict()
      .optional(),
  })
  .strict()
  .superRefine((lb, ctx) => {
    // Settings for another algorithm would be silently ignored by Envoy; report them instead.
    for (const t of LB_TYPES) {
      const k = t.charAt(0).toLowerCase() + t.slice(1);
      if (t !== lb.type && (lb as Record<string, unknown>)[k] !== undefined) ctx.addIssue({ code: 'custom', path: [k], message: `cannot be set when type is ${lb.type}` });
    }
  });

const zones = z.array(z.string().min(1, 'must not be empty'));

const Failover = z
  .object({
    from: z.object({ zones: zones.min(1, 'must not be empty') }).strict().optional(),
    to: z
      .object({ type: oneOf(['None', 'Only', 'Any', 'AnyExcept']), zones: zones.optional() })
      .strict()
      .superRefine((t, ctx) => {
        const listed = (t.zones?.length ?? 0) > 0;
        if ((t.type === 'Only' || t.type === 'AnyExcept') && !listed) ctx.addIssue({ code: 'custom', path: ['zones'], message: `must not be empty when type is ${t.type}` });
        if ((t.type === 'Any' || t.type === 'None') && listed) ctx.addIssue({ code: 'custom', path: ['zones'], message: `must be empty when type is ${t.type}` });
      }),
  })
  .strict();

const LocalityAwareness = z
  .object({
    disabled: z.boolean().optional(),
    localZone: z
      .object({ affinityTags: z.array(z.object({ key: z.string().min(1, 'must not be empty'), weight: positiveInt.optional() }).strict()).optional() })
      .strict()
      .superRefine((lz, ctx) => {
        // Weights are shares of traffic: a mix of weighted and unweighted tags has no meaning.
        const tags = lz.affinityTags ?? [];
        const weighted = tags.filter((t) => t.weight !== undefined).length;
        if (weighted > 0 && weighted < tags.length) ctx.addIssue({ code: 'custom', path: ['affinityTags'], message: 'all or none of the affinity tags must have a weight' });
      })
      .optional(),
    crossZone: z
      .object({ failover: z.array(Failover).optional(), failoverThreshold: z.object({ percentage }).strict().optional() })
      .strict()
      .optional(),
  })
  .strict();

const Conf = z
  .object({ localityAwareness: LocalityAwareness.optional(), loadBalancer: LoadBalancer.optional() })
  .strict()
  .superRefine(atLeastOne(['localityAwareness', 'loadBalancer']));

export const MeshLoadBalancingStrategySpec = policySpec({
  targetRef: topTargetRef(['Mesh', 'MeshSubset', 'MeshService', 'MeshServiceSubset', 'MeshGateway']),
  to: peerEntries(['Mesh', 'MeshService'], Conf).optional(),
});
export type MeshLoadBalancingStrategySpec = z.infer<typeof MeshLoadBalancingStrategySpec>;

// Kuma's REST path is `meshloadbalancingstrategies`; meshfed first served the naive
// `meshloadbalancingstrategys`, which still answers.
export const MeshLoadBalancingStrategyDescriptor = definePolicy('MeshLoadBalancingStrategy', MeshLoadBalancingStrategySpec, 'meshloadbalancingstrategies', ['meshloadbalancingstrategys']);
