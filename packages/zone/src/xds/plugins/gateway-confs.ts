/**
 * Which conf of a policy type shapes each part of a builtin gateway (Kuma's applyToGateway in each
 * policy plugin), in one place:
 *
 * - a listener as a whole: the `from` rules for any client (Kuma: MatchesAllIncomingTraffic), or the
 *   `to` rules of the policies selecting its port computed for the whole mesh (Kuma: MeshElement);
 * - a route: the `to` rules of the policies selecting its listener hostname, computed for the route's
 *   MeshHTTPRoute rule when it has one (`__rule-matches-hash__`), else by its backends' services: one
 *   service, that service's conf; several, the conf meant for every destination (the Mesh one), since
 *   one Envoy route cannot carry a per-service conf;
 * - a cluster: those `to` rules computed for its service (Kuma: MeshServiceElement), on each listener
 *   hostname whose routes send to it.
 *
 * Computing for an element (a point with some tags) rather than a subset: a negated tag holds for an
 * element that lacks the key, as in Kuma's current Rules.Compute(Element). So the Mesh-wide conf is
 * found beside rules for one service (`kuma.io/service != backend`) or one route rule.
 */
import { SERVICE_TAG } from '@meshfed/shared';
import type { Draft } from '../generate/envoy-parts.js';
import { computeForAnyClient, type Computed, type FromConf, type PolicyKind, type Rule, RULE_MATCHES_HASH_TAG, type ToConf, type TypedRules } from '../rules/index.js';
import type { GatewayClusterDraft, GatewayDraft, GatewayListenerDraft, GatewayRouteDraft, GatewayVirtualHostDraft } from './types.js';

/** The first rule containing `element` (rules are ordered most specific first). */
export function computeForElement<C>(rules: readonly Rule<C>[] | undefined, element: Readonly<Record<string, string>>): Rule<C> | undefined {
  return rules?.find((r) => r.subset.every((t) => (t.not ? element[t.key] !== t.value : element[t.key] === t.value)));
}

const computed = <C>(r: Rule<C> | undefined): Computed<C> | undefined => (r ? { conf: r.conf, origins: r.origins } : undefined);

/** The `to` rules of the policies selecting one listener hostname of a port (none when no policy selects it). */
export function hostnameToRules<K extends PolicyKind>(rules: TypedRules<K>, l: GatewayListenerDraft, listenerHostname: string): readonly Rule<ToConf<K>>[] | undefined {
  return rules.gatewayTo?.byListenerHostname[`${l.rulesKey}:${listenerHostname}`];
}

/** The listener's conf for every client: its `from` rules (policies with `from` selecting its port). */
export function listenerFromConf<K extends PolicyKind>(rules: TypedRules<K>, l: GatewayListenerDraft): Computed<FromConf<K>> | undefined {
  return computed(computeForAnyClient(rules.from[l.rulesKey]));
}

/** The listener's conf for all the traffic it forwards: the `to` rules of its port, for the whole mesh. */
export function listenerToConf<K extends PolicyKind>(rules: TypedRules<K>, l: GatewayListenerDraft): Computed<ToConf<K>> | undefined {
  return computed(computeForElement(rules.gatewayTo?.byListener[l.rulesKey], {}));
}

/**
 * The element a route (or a TCP proxy) is computed for: its MeshHTTPRoute rule's hash when it has
 * one, and its service when all its backends are one service (with several, no service: the Mesh
 * conf). `split` says the services differ.
 */
function routeElement(route: Draft | undefined, services: readonly string[]): { element: Record<string, string>; split: boolean } {
  const element: Record<string, string> = {};
  const name = route?.['name'];
  if (typeof name === 'string' && name !== '') element[RULE_MATCHES_HASH_TAG] = name;
  const distinct = [...new Set(services)];
  if (distinct.length === 1) element[SERVICE_TAG] = distinct[0]!;
  return { element, split: distinct.length > 1 };
}

/**
 * What a route split across services loses: a service with a conf of its own that differs from the
 * one the route takes. Said once per policy type and route.
 */
function splitProblem<C>(kind: PolicyKind, where: string, rules: readonly Rule<C>[], element: Record<string, string>, services: readonly string[], chosen: Rule<C> | undefined): string | undefined {
  const taken = JSON.stringify(chosen?.conf);
  const own = [...new Set(services)].map((s) => ({ s, r: computeForElement(rules, { ...element, [SERVICE_TAG]: s }) })).filter(({ r }) => r !== undefined && JSON.stringify(r.conf) !== taken);
  if (own.length === 0) return undefined;
  const all = [...new Set(own.flatMap(({ r }) => r!.origins))].sort();
  const left = all.filter((o) => !chosen?.origins.includes(o));
  return `${kind} ${(left.length > 0 ? left : all).join(', ')}: ${where} splits traffic across ${[...new Set(services)].join(', ')}, so it takes the conf for every destination (Mesh)${chosen ? ` (${chosen.origins.join(', ')})` : ', here none'}; the conf of ${own.map(({ s }) => s).join(', ')} alone does not apply to it`;
}

/** A route as an operator finds it: its listener, virtual host and match. */
function routeWhere(l: GatewayListenerDraft, vh: GatewayVirtualHostDraft, route: GatewayRouteDraft): string {
  const match = (route.route['match'] ?? {}) as Draft;
  const path = ['path', 'prefix', 'path_separated_prefix'].map((k) => match[k]).find((v) => typeof v === 'string') ?? (match['safe_regex'] as Draft | undefined)?.['regex'];
  return `gateway route ${l.name} ${vh.hostname}${path !== undefined ? ` ${String(path)}` : ''}`;
}

/**
 * A route's `to` conf (see the file's comment). With `problems`, a split route says which
 * service-specific confs it could not take.
 */
export function routeToConf<K extends PolicyKind>(rules: TypedRules<K>, l: GatewayListenerDraft, vh: GatewayVirtualHostDraft, route: GatewayRouteDraft, problems?: string[]): Computed<ToConf<K>> | undefined {
  const to = hostnameToRules(rules, l, vh.listenerHostname);
  if (!to) return undefined;
  const { element, split } = routeElement(route.route, route.services);
  const rule = computeForElement(to, element);
  if (split && problems) {
    const p = splitProblem(rules.type, routeWhere(l, vh, route), to, element, route.services, rule);
    if (p !== undefined && !problems.includes(p)) problems.push(p);
  }
  return computed(rule);
}

/** The clusters a route action or a TCP proxy sends to (weighted or not, mirrors included). */
export function targetClusters(action: Draft | undefined): string[] {
  if (!action) return [];
  const out: string[] = [];
  if (typeof action['cluster'] === 'string') out.push(action['cluster']);
  for (const c of ((action['weighted_clusters'] as Draft | undefined)?.['clusters'] as Draft[] | undefined) ?? []) if (typeof c['name'] === 'string') out.push(c['name']);
  for (const m of (action['request_mirror_policies'] as Draft[] | undefined) ?? []) if (typeof m['cluster'] === 'string') out.push(m['cluster']);
  return out;
}

/** The services a TCP listener's proxy sends to, in its order. */
export function tcpServices(draft: GatewayDraft, l: GatewayListenerDraft): string[] {
  const byName = new Map(draft.clusters.map((c) => [c.name, c.service]));
  return [...new Set(targetClusters(l.tcpProxy).map((n) => byName.get(n)).filter((s) => s !== undefined))];
}

/**
 * A TCP listener's `to` conf for what its proxy forwards, by the same heuristic as a route (its
 * port's rules: one listener per TCP port is built).
 */
export function tcpToConf<K extends PolicyKind>(rules: TypedRules<K>, draft: GatewayDraft, l: GatewayListenerDraft, problems?: string[]): Computed<ToConf<K>> | undefined {
  const to = rules.gatewayTo?.byListener[l.rulesKey];
  if (!to || !l.tcpProxy) return undefined;
  const services = tcpServices(draft, l);
  const { element, split } = routeElement(undefined, services);
  const rule = computeForElement(to, element);
  if (split && problems) {
    const p = splitProblem(rules.type, `gateway TCP proxy ${l.name}`, to, element, services, rule);
    if (p !== undefined && !problems.includes(p)) problems.push(p);
  }
  return computed(rule);
}

export interface ClusterConf<C> {
  readonly cluster: GatewayClusterDraft;
  readonly conf: C;
  readonly origins: readonly string[];
}

/**
 * Each cluster's `to` conf, computed for its service on the rules of every listener hostname (or TCP
 * port) sending to it. A cluster shared by listeners whose policies differ takes the first one's (by
 * port, then virtual host order), and says so.
 */
export function clusterToConfs<K extends PolicyKind>(rules: TypedRules<K>, draft: GatewayDraft, problems?: string[]): ClusterConf<ToConf<K>>[] {
  const users = new Map<string, { where: string; rules: readonly Rule<ToConf<K>>[] | undefined }[]>();
  const use = (name: string, where: string, r: readonly Rule<ToConf<K>>[] | undefined) => {
    const list = users.get(name) ?? [];
    if (!list.some((u) => u.where === where)) list.push({ where, rules: r });
    users.set(name, list);
  };
  for (const l of draft.listeners) {
    for (const vh of l.http?.virtualHosts ?? []) {
      const r = hostnameToRules(rules, l, vh.listenerHostname);
      for (const route of vh.routes) for (const name of targetClusters(route.route['route'] as Draft | undefined)) use(name, `${l.name} ${vh.listenerHostname}`, r);
    }
    if (l.tcpProxy) for (const name of targetClusters(l.tcpProxy)) use(name, l.name, rules.gatewayTo?.byListener[l.rulesKey]);
  }
  const out: ClusterConf<ToConf<K>>[] = [];
  for (const cluster of draft.clusters) {
    const found = (users.get(cluster.name) ?? []).map((u) => ({ where: u.where, rule: computeForElement(u.rules, { [SERVICE_TAG]: cluster.service }) }));
    const first = found.find((f) => f.rule !== undefined);
    if (!first) continue;
    const others = found.filter((f) => f.rule !== first.rule && JSON.stringify(f.rule?.conf) !== JSON.stringify(first.rule!.conf));
    if (others.length > 0 && problems) {
      problems.push(`${rules.type}: cluster ${cluster.name} serves ${[first, ...others].map((f) => f.where).join(', ')}, whose policies for ${cluster.service} differ: the conf of ${first.where} (${first.rule!.origins.join(', ')}) applies to all`);
    }
    out.push({ cluster, conf: first.rule!.conf, origins: first.rule!.origins });
  }
  return out;
}

/** Every route of an HTTP listener with its virtual host. */
export function* listenerRoutes(l: GatewayListenerDraft): Generator<{ vh: GatewayVirtualHostDraft; route: GatewayRouteDraft }> {
  for (const vh of l.http?.virtualHosts ?? []) for (const route of vh.routes) yield { vh, route };
}
