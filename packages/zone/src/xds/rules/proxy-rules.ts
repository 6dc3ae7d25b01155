/**
 * The matching step for one proxy: per policy type, the policies that select it and their merged
 * configuration — `from` rules per inbound, `to` rules for its outbound traffic (and computed for each
 * destination service it has an outbound for), and, for a builtin gateway, `to` rules per listener.
 * Kuma 2.7 pkg/plugins/policies/core/matchers/dataplane.go `MatchedPolicies`. Pure and synchronous.
 */
import { createHash } from 'node:crypto';
import { canonicalJson } from '@meshfed/shared';
import { SERVICE_TAG } from '@meshfed/shared';
import { buildRules, computeRule, type Rule, type RuleItem } from './build-rules.js';
import { mergeConfs } from './merge.js';
import { displayName, sortBySpecificity } from './ordering.js';
import {
  type AnyPolicy,
  type FromConf,
  type HTTPRouteRule,
  type Policy,
  POLICY_KINDS,
  POLICY_KINDS_LIST,
  type PolicyKind,
  type ToConf,
} from './policy-kinds.js';
import { type InboundKey, isSelected, type ProxyView, type Selection, selectionOf } from './selection.js';
import { meshServiceSubset, type Subset, subsetOf } from './subset.js';

/** Kuma's RuleMatchesHashTag: the tag that stands for one MeshHTTPRoute rule in `to` subsets. */
export const RULE_MATCHES_HASH_TAG = '__rule-matches-hash__';

/** A stable short hash of a MeshHTTPRoute rule's `matches` (what RULE_MATCHES_HASH_TAG carries). */
export function ruleMatchesHash(matches: HTTPRouteRule['matches']): string {
  return createHash('sha256').update(canonicalJson(matches)).digest('base64url').slice(0, 16);
}

export interface Computed<C> {
  readonly conf: C;
  readonly origins: readonly string[];
}

export interface TypedRules<K extends PolicyKind> {
  readonly type: K;
  /** The policies that select the proxy, in merge order: least specific first, the winner last. */
  readonly policies: readonly string[];
  /** Per inbound (`address:port`): rules by client subset, from the policies selecting that inbound. */
  readonly from: Readonly<Record<InboundKey, readonly Rule<FromConf<K>>[]>>;
  /** Rules by destination subset, from every policy selecting the proxy. */
  readonly to: readonly Rule<ToConf<K>>[];
  /** `to` computed for each service the proxy has an outbound for (Kuma: Compute(MeshService(name))). */
  readonly toByService: Readonly<Record<string, Computed<ToConf<K>>>>;
  /** Builtin gateways only: `to` rules from the policies selecting each listener. */
  readonly gatewayTo?: {
    readonly byListener: Readonly<Record<InboundKey, readonly Rule<ToConf<K>>[]>>;
    readonly byListenerHostname: Readonly<Record<string, readonly Rule<ToConf<K>>[]>>;
  };
  readonly warnings: readonly string[];
}

export type ProxyRules = { readonly [K in PolicyKind]?: TypedRules<K> };

type Entry = { targetRef: { kind: string; name?: string | undefined; tags?: Record<string, string> | undefined }; default?: unknown };

function fromItems(policies: readonly AnyPolicy[]): RuleItem<unknown>[] {
  const items: RuleItem<unknown>[] = [];
  for (const p of policies) {
    const from = (p.spec as { from?: Entry[] }).from ?? [];
    for (const e of from) {
      const subset = subsetOf(e.targetRef);
      if (subset) items.push({ subset, conf: e.default, origin: p.name });
    }
  }
  return items;
}

function toItems(kind: PolicyKind, policies: readonly AnyPolicy[], routes: readonly Policy<'MeshHTTPRoute'>[], warnings: string[]): RuleItem<unknown>[] {
  const toConf = (POLICY_KINDS[kind].toConf ?? ((e: Entry) => e.default)) as (e: Entry) => unknown;
  const items: RuleItem<unknown>[] = [];
  for (const p of policies) {
    const to = (p.spec as { to?: Entry[] }).to ?? [];
    const top = p.spec.targetRef;
    if (top.kind !== 'MeshHTTPRoute') {
      for (const e of to) {
        const subset = subsetOf(e.targetRef);
        if (subset) items.push({ subset, conf: toConf(e), origin: p.name });
      }
      continue;
    }
    // Kuma's buildToList: a policy on a MeshHTTPRoute applies its `to` confs to each rule of the route,
    // as the subset {kuma.io/service: <route's to>, __rule-matches-hash__: <hash of the rule's matches>}.
    const route = routes.find((r) => r.mesh === p.mesh && displayName(r) === top.name);
    if (!route) {
      warnings.push(`${p.type} ${p.name}: can't resolve MeshHTTPRoute ${top.name}`);
      continue;
    }
    for (const routeTo of route.spec.to ?? []) {
      for (const rule of routeTo.rules) {
        const hash = { key: RULE_MATCHES_HASH_TAG, value: ruleMatchesHash(rule.matches) };
        const subset: Subset =
          routeTo.targetRef.kind === 'Mesh' || routeTo.targetRef.kind === 'MeshSubset' ? [hash] : [{ key: SERVICE_TAG, value: routeTo.targetRef.name ?? '' }, hash];
        for (const e of to) items.push({ subset: [...subset].sort((a, b) => (a.key < b.key ? -1 : 1)), conf: toConf(e), origin: p.name });
      }
    }
  }
  return items;
}

function rulesFor<C>(kind: PolicyKind, items: RuleItem<C>[], warnings: string[]): Rule<C>[] {
  const ex = POLICY_KINDS[kind].merge;
  const built = buildRules(items, (confs) => mergeConfs(confs, ex));
  warnings.push(...built.warnings);
  return built.rules;
}

function outboundServices(proxy: ProxyView): string[] {
  return [...new Set((proxy.spec.networking.outbound ?? []).map((o) => o.tags[SERVICE_TAG]!))].sort();
}

/** The rules of one policy type for `proxy`; undefined when no policy of that type selects it. */
export function rulesForKind<K extends PolicyKind>(kind: K, proxy: ProxyView, all: readonly AnyPolicy[]): TypedRules<K> | undefined {
  const routes = all.filter((p): p is Policy<'MeshHTTPRoute'> => p.type === 'MeshHTTPRoute');
  const warnings: string[] = [];
  const selected: { policy: AnyPolicy; selection: Selection }[] = [];
  for (const policy of all) {
    if (policy.type !== kind) continue;
    const selection = selectionOf(policy, proxy, routes);
    if (selection.problem) warnings.push(selection.problem);
    if (isSelected(selection)) selected.push({ policy, selection });
  }
  if (selected.length === 0 && warnings.length === 0) return undefined;
  const ordered = sortBySpecificity(selected.map((s) => s.policy));
  const selectionOfPolicy = new Map(selected.map((s) => [s.policy, s.selection]));

  const byInbound = new Map<InboundKey, AnyPolicy[]>();
  const byListenerHostname = new Map<string, AnyPolicy[]>();
  for (const p of ordered) {
    const s = selectionOfPolicy.get(p)!;
    for (const ib of s.inbounds) byInbound.set(ib, [...(byInbound.get(ib) ?? []), p]);
    for (const l of s.gatewayListeners) {
      const key = `${l.inbound}:${l.hostname}`;
      byListenerHostname.set(key, [...(byListenerHostname.get(key) ?? []), p]);
    }
  }

  const from: Record<InboundKey, Rule<FromConf<K>>[]> = {};
  for (const [ib, ps] of [...byInbound].sort(([a], [b]) => (a < b ? -1 : 1))) {
    const rules = rulesFor(kind, fromItems(ps), warnings) as Rule<FromConf<K>>[];
    if (rules.length > 0) from[ib] = rules;
  }

  const to = rulesFor(kind, toItems(kind, ordered, routes, warnings), warnings) as Rule<ToConf<K>>[];
  // Per destination service, only policies that do not target a MeshHTTPRoute count: their items
  // carry __rule-matches-hash__, and in Kuma 2.7 their presence makes Compute(MeshService(name))
  // find no rule at all for the service (every candidate then names the hash key). See README.
  const routeTargeted = ordered.some((p) => p.spec.targetRef.kind === 'MeshHTTPRoute');
  const serviceLevel = routeTargeted
    ? (rulesFor(kind, toItems(kind, ordered.filter((p) => p.spec.targetRef.kind !== 'MeshHTTPRoute'), routes, []), []) as Rule<ToConf<K>>[])
    : to;
  const toByService: Record<string, Computed<ToConf<K>>> = {};
  for (const service of outboundServices(proxy)) {
    const r = computeRule(serviceLevel, meshServiceSubset(service));
    if (r) toByService[service] = { conf: r.conf, origins: r.origins };
  }

  let gatewayTo: TypedRules<K>['gatewayTo'];
  if (byListenerHostname.size > 0) {
    const byListener: Record<InboundKey, Rule<ToConf<K>>[]> = {};
    const listenerGateways = new Set([...byListenerHostname.keys()].map((k) => k.slice(0, k.lastIndexOf(':'))));
    for (const [ib, ps] of [...byInbound].sort(([a], [b]) => (a < b ? -1 : 1))) {
      if (!listenerGateways.has(ib)) continue;
      byListener[ib] = rulesFor(kind, toItems(kind, ps, routes, warnings), warnings) as Rule<ToConf<K>>[];
    }
    const byHost: Record<string, Rule<ToConf<K>>[]> = {};
    for (const [key, ps] of [...byListenerHostname].sort(([a], [b]) => (a < b ? -1 : 1))) {
      byHost[key] = rulesFor(kind, toItems(kind, ps, routes, warnings), warnings) as Rule<ToConf<K>>[];
    }
    gatewayTo = { byListener, byListenerHostname: byHost };
  }

  return {
    type: kind,
    policies: ordered.map((p) => p.name),
    from,
    to,
    toByService,
    ...(gatewayTo ? { gatewayTo } : {}),
    warnings: [...new Set(warnings)],
  };
}

/**
 * Every policy type's rules for `proxy`. `policies` may hold every policy of the zone, of any type and
 * mesh: a policy of another mesh never selects the proxy. Types no policy selects are left out.
 */
export function computeProxyRules(proxy: ProxyView, policies: readonly AnyPolicy[]): ProxyRules {
  const out: { [K in PolicyKind]?: TypedRules<K> } = {};
  for (const kind of POLICY_KINDS_LIST) {
    const r = rulesForKind(kind, proxy, policies);
    if (r) (out as Record<string, unknown>)[kind] = r;
  }
  return out;
}
