/**
 * The targetRef policy types this step matches, with everything that differs between them declared
 * in one table (POLICY_KINDS): which sections they have, how a `to[]` entry becomes a mergeable
 * conf, and the exceptions to the generic merge. Types come from the zod schemas in
 * @meshfed/shared, never restated.
 */
import type { z } from 'zod';
import {
  MeshAccessLogDescriptor,
  MeshCircuitBreakerDescriptor,
  MeshFaultInjectionDescriptor,
  MeshHealthCheckDescriptor,
  MeshHTTPRouteDescriptor,
  MeshLoadBalancingStrategyDescriptor,
  MeshRateLimitDescriptor,
  MeshRetryDescriptor,
  MeshTCPRouteDescriptor,
  MeshTimeoutDescriptor,
  MeshTrafficPermissionDescriptor,
} from '@meshfed/shared';
import type { MergeExceptions } from './merge.js';

const DESCRIPTORS = {
  MeshTrafficPermission: MeshTrafficPermissionDescriptor,
  MeshTimeout: MeshTimeoutDescriptor,
  MeshRetry: MeshRetryDescriptor,
  MeshCircuitBreaker: MeshCircuitBreakerDescriptor,
  MeshHealthCheck: MeshHealthCheckDescriptor,
  MeshRateLimit: MeshRateLimitDescriptor,
  MeshFaultInjection: MeshFaultInjectionDescriptor,
  MeshLoadBalancingStrategy: MeshLoadBalancingStrategyDescriptor,
  MeshHTTPRoute: MeshHTTPRouteDescriptor,
  MeshTCPRoute: MeshTCPRouteDescriptor,
  MeshAccessLog: MeshAccessLogDescriptor,
} as const;

export type PolicyKind = keyof typeof DESCRIPTORS;
export const POLICY_KINDS_LIST = Object.keys(DESCRIPTORS) as PolicyKind[];

/** The body of a policy of kind K (`spec.targetRef`, `spec.from`, `spec.to`), as its schema outputs it. */
export type PolicyBody<K extends PolicyKind> = z.output<(typeof DESCRIPTORS)[K]['spec']>;
export type PolicySpec<K extends PolicyKind> = PolicyBody<K>['spec'];

type Entries<K extends PolicyKind, S extends string> = S extends keyof PolicySpec<K> ? NonNullable<PolicySpec<K>[S]> : never;
type Entry<K extends PolicyKind, S extends string> = Entries<K, S> extends readonly (infer E)[] ? E : never;

export type FromEntry<K extends PolicyKind> = Entry<K, 'from'>;
export type ToEntry<K extends PolicyKind> = Entry<K, 'to'>;

/** What a `from[]` entry contributes to the merge: its `default`. */
export type FromConf<K extends PolicyKind> = FromEntry<K> extends { default: infer D } ? D : never;

/**
 * What a `to[]` entry contributes to the merge. For most kinds its `default`; for the routes, the
 * shape Kuma merges them in (see ROUTE_CONF below).
 */
export type ToConf<K extends PolicyKind> = K extends 'MeshHTTPRoute'
  ? HTTPRouteConf
  : K extends 'MeshTCPRoute'
    ? TCPRouteConf
    : ToEntry<K> extends { default: infer D }
      ? D
      : never;

type HTTPRouteTo = ToEntry<'MeshHTTPRoute'>;
/** Kuma's meshhttproute PolicyDefault: the entry's rules, and its hostnames (gateways only). */
export interface HTTPRouteConf {
  readonly rules: HTTPRouteTo['rules'];
  readonly hostnames?: HTTPRouteTo['hostnames'];
}
export type HTTPRouteRule = HTTPRouteTo['rules'][number];
/** Kuma's meshtcproute To.GetDefault: the single rule's `default` (its backendRefs). */
export type TCPRouteConf = ToEntry<'MeshTCPRoute'>['rules'][number]['default'];

/** A parsed policy as the matching step takes it: metadata and the body its schema produced. */
export interface Policy<K extends PolicyKind = PolicyKind> {
  readonly type: K;
  readonly name: string;
  readonly mesh: string;
  readonly labels: Readonly<Record<string, string>>;
  readonly spec: PolicySpec<K>;
}

export type AnyPolicy = { [K in PolicyKind]: Policy<K> }[PolicyKind];

interface KindRules {
  /** How one `to[]` entry is turned into the conf that gets merged (default: its `default`). */
  readonly toConf?: (entry: never) => unknown;
  /** Exceptions to the generic merge (see merge.ts). */
  readonly merge?: MergeExceptions;
}

/**
 * Per-kind exceptions, the only place they are declared.
 *
 * MeshHTTPRoute: Kuma's api/v1alpha1/helpers.go `To.GetDefault` returns `{rules: reversed(rules),
 * hostnames}`; `rules` is tagged `policyMerge:"mergeValuesByKey"` with `matches` as `mergeKey`
 * (rules with equal matches are merged, the others kept), `hostnames` `policyMerge:"mergeValues"`
 * (one merged conf per hostname), and `Transform()` reverses the rules back after the merge: so the
 * more specific policy's rules come first, each policy's own order is kept.
 *
 * MeshTCPRoute: meshtcproute helpers.go `To.GetDefault` returns `rules[0]`; its backendRefs list is
 * replaced, like any list, by the more specific policy.
 */
export const POLICY_KINDS: { readonly [K in PolicyKind]: KindRules } = {
  MeshTrafficPermission: {},
  MeshTimeout: {},
  MeshRetry: {},
  MeshCircuitBreaker: {},
  MeshHealthCheck: {},
  MeshRateLimit: {},
  MeshFaultInjection: {},
  MeshLoadBalancingStrategy: {},
  MeshHTTPRoute: {
    toConf: (e: HTTPRouteTo): HTTPRouteConf => ({ rules: [...e.rules].reverse(), ...(e.hostnames ? { hostnames: e.hostnames } : {}) }),
    merge: { byKey: { field: 'rules', key: 'matches', valueField: 'default' }, splitBy: 'hostnames', reverseAfterMerge: 'rules' },
  },
  MeshTCPRoute: {
    toConf: (e: ToEntry<'MeshTCPRoute'>): TCPRouteConf => e.rules[0]!.default,
  },
  MeshAccessLog: {},
};

export function descriptorOf(kind: PolicyKind) {
  return DESCRIPTORS[kind];
}

export const isPolicyKind = (t: string): t is PolicyKind => Object.prototype.hasOwnProperty.call(DESCRIPTORS, t);
