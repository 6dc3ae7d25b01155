import { z } from 'zod';
import { durationSchema, tagsSchema } from '../meta.js';
import { atLeastOne, headerMatch, headerName, nonNegativeInt, oneOf, positiveDuration, positiveInt } from './fields.js';
import { definePolicy, peerEntries, policySpec, restrictKinds, topTargetRef } from './target-ref.js';

const HTTP_RETRY_ON = [
  '5xx', 'GatewayError', 'Reset', 'Retriable4xx', 'ConnectFailure', 'EnvoyRatelimited', 'RefusedStream', 'Http3PostConnectFailure',
  'HttpMethodConnect', 'HttpMethodDelete', 'HttpMethodGet', 'HttpMethodHead', 'HttpMethodOptions', 'HttpMethodPatch',
  'HttpMethodPost', 'HttpMethodPut', 'HttpMethodTrace',
];

// Besides the named conditions, Kuma accepts any status code as a string ("503").
const httpRetryOn = z
  .string()
  .refine(
    (v) => HTTP_RETRY_ON.includes(v) || (/^\d{3}$/.test(v) && Number(v) >= 100 && Number(v) <= 599),
    `must be an HTTP status code in 100-599 or one of ${HTTP_RETRY_ON.join(', ')}`,
  );

const BackOff = z
  .object({ baseInterval: positiveDuration.optional(), maxInterval: positiveDuration.optional() })
  .strict()
  .superRefine(atLeastOne(['baseInterval', 'maxInterval']));

// Without reset headers there is nothing to read the delay from, so the section would do nothing.
const RateLimitedBackOff = z
  .object({
    resetHeaders: z.array(z.object({ name: headerName, format: oneOf(['Seconds', 'UnixTimestamp']) }).strict()).min(1, 'must have at least one header'),
    maxInterval: positiveDuration.optional(),
  })
  .strict();

const Predicate = z
  .object({
    predicate: oneOf(['OmitPreviousHosts', 'OmitHostsWithTags', 'OmitPreviousPriorities']),
    tags: tagsSchema.optional(),
    updateFrequency: positiveInt.optional(),
  })
  .strict()
  .superRefine((p, ctx) => {
    if (p.predicate === 'OmitHostsWithTags' && !p.tags) ctx.addIssue({ code: 'custom', path: ['tags'], message: 'is required for predicate OmitHostsWithTags' });
    if (p.predicate !== 'OmitHostsWithTags' && p.tags) ctx.addIssue({ code: 'custom', path: ['tags'], message: `cannot be set for predicate ${p.predicate}` });
  });

const common = {
  // 0 is allowed: it switches retries off for a narrower target under a mesh-wide policy.
  numRetries: nonNegativeInt.optional(),
  perTryTimeout: durationSchema.optional(),
  backOff: BackOff.optional(),
  rateLimitedBackOff: RateLimitedBackOff.optional(),
};

const Http = z
  .object({
    ...common,
    retryOn: z.array(httpRetryOn).optional(),
    retriableResponseHeaders: z.array(headerMatch).optional(),
    retriableRequestHeaders: z.array(headerMatch).optional(),
    hostSelection: z.array(Predicate).optional(),
    hostSelectionMaxAttempts: positiveInt.optional(),
  })
  .strict()
  .superRefine((h, ctx) => {
    atLeastOne(['numRetries', 'perTryTimeout', 'backOff', 'rateLimitedBackOff', 'retryOn', 'retriableResponseHeaders', 'retriableRequestHeaders', 'hostSelection'])(h, ctx);
    // Envoy takes one OmitPreviousPriorities predicate per route.
    const idx = (h.hostSelection ?? []).flatMap((p, i) => (p.predicate === 'OmitPreviousPriorities' ? [i] : []));
    for (const i of idx.slice(1)) ctx.addIssue({ code: 'custom', path: ['hostSelection', i, 'predicate'], message: 'OmitPreviousPriorities can only be specified once' });
  });

const Grpc = z
  .object({ ...common, retryOn: z.array(oneOf(['Canceled', 'DeadlineExceeded', 'Internal', 'ResourceExhausted', 'Unavailable'])).optional() })
  .strict()
  .superRefine(atLeastOne(['numRetries', 'perTryTimeout', 'backOff', 'rateLimitedBackOff', 'retryOn']));

const Conf = z
  .object({ tcp: z.object({ maxConnectAttempt: positiveInt }).strict().optional(), http: Http.optional(), grpc: Grpc.optional() })
  .strict()
  .superRefine(atLeastOne(['tcp', 'http', 'grpc']));

export const MeshRetrySpec = policySpec(
  {
    targetRef: topTargetRef(['Mesh', 'MeshSubset', 'MeshService', 'MeshServiceSubset', 'MeshGateway']),
    to: peerEntries(['Mesh', 'MeshService'], Conf).optional(),
  },
  (spec, ctx) => {
    if (spec.targetRef.kind === 'MeshGateway') restrictKinds(ctx, spec.to, 'to', ['Mesh'], 'when the top-level targetRef is MeshGateway');
  },
);
export type MeshRetrySpec = z.infer<typeof MeshRetrySpec>;

// Kuma's REST path is `meshretries`, not the naive `meshretrys`.
export const MeshRetryDescriptor = definePolicy('MeshRetry', MeshRetrySpec, 'meshretries');
