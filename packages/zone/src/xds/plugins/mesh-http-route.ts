import type { Draft } from '../generate/envoy-parts.js';
import { type MeshIndex, subsetTags } from '../generate/zone-index.js';
import { type HTTPRouteRule, ruleMatchesHash, type TypedRules } from '../rules/index.js';
import { backendClusters, type WeightedClusters } from './backend-refs.js';
import { escapeRegex, fractionalPercent, headerMatcher, headerValueOptions } from './envoy-values.js';
import type { Backends, GatewayRouteDraft, GatewayVirtualHostDraft, PolicyPlugin } from './types.js';
import { compareHostnames, hostCovers, intersectHostnames } from '../generate/gateway/hostnames.js';

export type Match = HTTPRouteRule['matches'][number];
export type Filter = NonNullable<HTTPRouteRule['default']['filters']>[number];

/**
 * Route precedence (Kuma's SortRules, Gateway API's order): by path — Exact, then PathPrefix, then
 * RegularExpression, a longer value first within a type, a match with a path before one without —
 * then a match with a method first, then more headers, then more query parameters. Stable: equal
 * matches keep the merged rules' order (the more specific policy's first).
 */
export function compareMatches(a: Match, b: Match): number {
  const rank = (m: Match) => (m.path === undefined ? 3 : m.path.type === 'Exact' ? 0 : m.path.type === 'PathPrefix' ? 1 : 2);
  if (rank(a) !== rank(b)) return rank(a) - rank(b);
  if (a.path && b.path && a.path.type !== 'Exact' && a.path.value.length !== b.path.value.length) return b.path.value.length - a.path.value.length;
  if ((a.method === undefined) !== (b.method === undefined)) return a.method === undefined ? 1 : -1;
  const headers = (b.headers?.length ?? 0) - (a.headers?.length ?? 0);
  if (headers !== 0) return headers;
  return (b.queryParams?.length ?? 0) - (a.queryParams?.length ?? 0);
}

/** A rule's match as Envoy's RouteMatch; a prefix other than `/` matches whole path segments, as Gateway API means it. */
export function routeMatch(m: Match): Draft {
  const out: Draft = {};
  const path = m.path ?? { type: 'PathPrefix', value: '/' };
  if (path.type === 'Exact') out['path'] = path.value;
  else if (path.type === 'RegularExpression') out['safe_regex'] = { regex: path.value };
  else if (path.value === '/') out['prefix'] = '/';
  else out['path_separated_prefix'] = path.value;
  const headers = [...(m.method ? [{ name: ':method', string_match: { exact: m.method } }] : []), ...(m.headers ?? []).map(headerMatcher)];
  if (headers.length > 0) out['headers'] = headers;
  if (m.queryParams?.length) {
    out['query_parameters'] = m.queryParams.map((q) => ({ name: q.name, string_match: q.type === 'Exact' ? { exact: q.value } : { safe_regex: { regex: q.value } } }));
  }
  return out;
}

const REDIRECT_CODE = { 301: 'MOVED_PERMANENTLY', 302: 'FOUND', 303: 'SEE_OTHER', 307: 'TEMPORARY_REDIRECT', 308: 'PERMANENT_REDIRECT' } as const;

/** Replacing the matched prefix by `/` with prefix_rewrite would leave `//rest`: Kuma rewrites by regex then. */
function prefixRewrite(action: Draft, match: Match, replacement: string): void {
  const prefix = match.path?.type === 'PathPrefix' ? match.path.value : '/';
  if (replacement === '/' && prefix !== '/') action['regex_rewrite'] = { pattern: { regex: `^${escapeRegex(prefix)}/*` }, substitution: '/' };
  else action['prefix_rewrite'] = replacement;
}

/** Who asks for a route, and what that changes. */
export interface RouteContext {
  readonly mesh: MeshIndex;
  readonly backends: Backends;
  /** The resource (and field) problems are about. */
  readonly where: string;
  readonly problems: string[];
  /** A sidecar's outbound service: where a rule without backendRefs (and a mirror without a name) goes. */
  readonly fallbackService?: string;
  /**
   * Builtin gateways (Kuma's gateway route table): a redirect strips the query and, without a port of
   * its own, keeps the listener's; a cluster of an ExternalService gets its host.
   */
  readonly gateway?: { readonly listenerPort: number; readonly externalHost: (cluster: string) => string | undefined };
}

/** The clusters and weights of a forwarding action, each with the host its backend needs (gateways). */
function forwardAction(target: WeightedClusters, ctx: RouteContext): Draft {
  const host = (name: string) => {
    const h = ctx.gateway?.externalHost(name);
    return h !== undefined ? { host_rewrite_literal: h } : {};
  };
  return target.length === 1
    ? { cluster: target[0]!.name, ...host(target[0]!.name) }
    : { weighted_clusters: { clusters: target.map((t) => ({ name: t.name, weight: { value: t.weight }, ...host(t.name) })) } };
}

const HOST_REWRITES = ['host_rewrite_literal', 'auto_host_rewrite', 'host_rewrite_header', 'host_rewrite_path_regex'] as const;

/**
 * One Envoy route for one match of a rule: its filters applied, to its backends (or the fallback
 * service). Named by the hash of its rule's matches: policies that target the MeshHTTPRoute find it
 * by that (routeConf). Undefined, with a problem, when the rule has nowhere to send.
 */
export function envoyRoute(match: Match, rule: HTTPRouteRule, ctx: RouteContext): Draft | undefined {
  const { mesh, backends, where, problems } = ctx;
  const route: Draft = { name: ruleMatchesHash(rule.matches), match: routeMatch(match) };
  const filters: readonly Filter[] = rule.default.filters ?? [];
  const redirect = filters.find((f) => f.type === 'RequestRedirect')?.requestRedirect;
  if (redirect) {
    const r: Draft = {};
    if (redirect.scheme) r['scheme_redirect'] = redirect.scheme;
    if (redirect.hostname) r['host_redirect'] = redirect.hostname;
    if (redirect.port !== undefined) r['port_redirect'] = redirect.port;
    // A scheme change without a port goes to the scheme's own port (Gateway API; Kuma sets none).
    else if (ctx.gateway && !redirect.scheme) r['port_redirect'] = ctx.gateway.listenerPort;
    if (redirect.path?.type === 'ReplaceFullPath') r['path_redirect'] = redirect.path.replaceFullPath;
    if (redirect.path?.type === 'ReplacePrefixMatch') prefixRewrite(r, match, redirect.path.replacePrefixMatch!);
    r['response_code'] = REDIRECT_CODE[redirect.statusCode ?? 302];
    if (ctx.gateway) r['strip_query'] = true;
    route['redirect'] = r;
    const ignored = filters.filter((f) => f.type === 'URLRewrite' || f.type === 'RequestMirror').map((f) => f.type);
    if (ignored.length > 0) problems.push(`${where}: a redirect is answered by the proxy itself, so its ${[...new Set(ignored)].join(' and ')} filter(s) do nothing`);
  } else {
    const refs = rule.default.backendRefs?.length ? rule.default.backendRefs : ctx.fallbackService !== undefined ? [{ kind: 'MeshService', name: ctx.fallbackService }] : [];
    if (refs.length === 0) {
      problems.push(`${where}: a rule without backendRefs must redirect; the rule is left out`);
      return undefined;
    }
    const target = backendClusters(refs, mesh, backends, where, problems);
    if (!target) return undefined;
    const action = forwardAction(target, ctx);
    for (const f of filters) {
      if (f.urlRewrite) {
        if (f.urlRewrite.hostname) action['host_rewrite_literal'] = f.urlRewrite.hostname;
        if (f.urlRewrite.hostToBackendHostname) {
          // One host rewrite per action (a oneof): the backend's own hostname replaces any other.
          for (const k of HOST_REWRITES) delete action[k];
          action['auto_host_rewrite'] = { value: true };
        }
        const path = f.urlRewrite.path;
        if (path?.type === 'ReplaceFullPath') action['regex_rewrite'] = { pattern: { regex: '.*' }, substitution: path.replaceFullPath };
        if (path?.type === 'ReplacePrefixMatch') prefixRewrite(action, match, path.replacePrefixMatch!);
      }
      if (f.requestMirror) {
        const ref = f.requestMirror.backendRef;
        const name = ref.name ?? ctx.fallbackService;
        if (name === undefined) {
          problems.push(`${where}: a RequestMirror backendRef without a name mirrors nowhere; it is left out`);
          continue;
        }
        const mirrors = (action['request_mirror_policies'] ??= []) as Draft[];
        mirrors.push({
          cluster: backends.cluster(name, ref.kind === 'MeshServiceSubset' ? subsetTags(ref.tags ?? {}) : {}),
          ...(f.requestMirror.percentage !== undefined ? { runtime_fraction: { default_value: fractionalPercent(f.requestMirror.percentage) } } : {}),
        });
      }
    }
    route['route'] = action;
  }
  // headerModifier(true)'s shape is built conditionally, so its `remove` is not typed: read it as a list.
  const removes = (mods: object) => (mods as { remove?: readonly string[] }).remove ?? [];
  for (const f of filters) {
    if (f.requestHeaderModifier) {
      const add = headerValueOptions(f.requestHeaderModifier);
      if (add.length) route['request_headers_to_add'] = [...((route['request_headers_to_add'] as Draft[] | undefined) ?? []), ...add];
      if (removes(f.requestHeaderModifier).length) route['request_headers_to_remove'] = [...removes(f.requestHeaderModifier)];
    }
    if (f.responseHeaderModifier) {
      const add = headerValueOptions(f.responseHeaderModifier);
      if (add.length) route['response_headers_to_add'] = [...((route['response_headers_to_add'] as Draft[] | undefined) ?? []), ...add];
      if (removes(f.responseHeaderModifier).length) route['response_headers_to_remove'] = [...removes(f.responseHeaderModifier)];
    }
  }
  return route;
}

type RouteRules = NonNullable<TypedRules<'MeshHTTPRoute'>['gatewayTo']>['byListenerHostname'][string];

/** One merged MeshHTTPRoute conf for a listener hostname: its rules, for one route hostname (`*` when none). */
interface HostnameRules {
  readonly hostname: string;
  readonly rules: readonly HTTPRouteRule[];
  readonly origins: readonly string[];
}

/**
 * The virtual hosts a gateway HTTP port gets from the MeshHTTPRoutes attached to its listeners (Kuma's
 * meshhttproute sortRulesToHosts): for each listener hostname, the more exact first, each route
 * hostname narrows it to their intersection; an intersection a more exact listener of the port already
 * covers is that listener's own (unmatchable here). A virtual host gets the rules of every route
 * hostname that covers it, the more specific hostname's first among equal matches, then in
 * MeshHTTPRoute's precedence. Every listener hostname keeps its virtual host, even without rules
 * (Envoy's 404, as for MeshGatewayRoutes). Undefined when no MeshHTTPRoute is attached to the port.
 */
export function gatewayRouteVirtualHosts(
  listenerHostnames: readonly string[],
  rulesOf: (listenerHostname: string) => RouteRules | undefined,
  where: string,
  ctx: RouteContext,
): GatewayVirtualHostDraft[] | undefined {
  const hosts = new Map<string, { listenerHostname: string; sets: HostnameRules[] }>();
  const observed: string[] = [];
  const unattached = new Map<string, { origins: readonly string[]; any: boolean }>();
  let attached = false;
  for (const lh of [...new Set(listenerHostnames)].sort(compareHostnames)) {
    if (!hosts.has(lh)) hosts.set(lh, { listenerHostname: lh, sets: [] });
    // Only rules of `to: Mesh` are a gateway's: a sidecar's route (to a MeshService) selecting it has no hostnames to serve.
    const sets: HostnameRules[] = (rulesOf(lh) ?? []).filter((r) => r.subset.length === 0).map((r) => ({ hostname: r.conf.hostnames?.[0] ?? '*', rules: r.conf.rules, origins: r.origins }));
    if (sets.length > 0) attached = true;
    for (const set of sets) {
      const key = `${set.origins.join(', ')}\u0000${set.hostname}`;
      const seen = unattached.get(key) ?? { origins: set.origins, any: false };
      unattached.set(key, seen);
      const narrowed = intersectHostnames(set.hostname, lh);
      if (narrowed === undefined) continue;
      seen.any = true;
      if (observed.some((o) => hostCovers(o, narrowed))) continue;
      let host = hosts.get(narrowed);
      if (!host) hosts.set(narrowed, (host = { listenerHostname: lh, sets: [] }));
      if (host.listenerHostname === lh) host.sets.push(set);
    }
    observed.push(lh);
  }
  if (!attached) return undefined;
  for (const [key, { origins, any }] of unattached) {
    // The merged conf names every route of the listener; which one named the hostname is not kept.
    if (!any) ctx.problems.push(`MeshHTTPRoute ${origins.length > 1 ? `(one of ${origins.join(', ')})` : origins[0]}: the hostname ${key.split('\u0000')[1]} intersects no listener hostname of ${where} (${[...new Set(listenerHostnames)].join(', ')}); its rules are not attached there`);
  }
  // Rules without hostnames ("*") and wildcards also serve the narrower virtual hosts they cover.
  for (const [h, host] of hosts) {
    for (const [, other] of hosts) {
      if (other === host || other.listenerHostname !== host.listenerHostname) continue;
      for (const set of other.sets) if (set.hostname !== h && hostCovers(set.hostname, h) && !host.sets.includes(set)) host.sets.push(set);
    }
  }
  return [...hosts.keys()].sort(compareHostnames).map((h) => {
    const { listenerHostname, sets } = hosts.get(h)!;
    const keyed = [...sets]
      .sort((a, b) => compareHostnames(a.hostname, b.hostname))
      .flatMap((set) => set.rules.map((rule) => ({ rule, set })))
      .flatMap(({ rule, set }) => rule.matches.map((match) => ({ match, rule, set })));
    keyed.sort((a, b) => compareMatches(a.match, b.match));
    const routes: GatewayRouteDraft[] = [];
    // A route whose match an earlier one has is never reached: the more specific hostname's (or the same
    // rule reached through two of a route's hostnames) is kept.
    const matched = new Set<string>();
    for (const { match, rule, set } of keyed) {
      const key = JSON.stringify(routeMatch(match));
      if (matched.has(key)) continue;
      const route = envoyRoute(match, rule, { ...ctx, where: `MeshHTTPRoute ${set.origins.join(', ')} (${where}, hostname ${h})` });
      if (!route) continue;
      matched.add(key);
      routes.push({ route, services: [...new Set((rule.default.backendRefs ?? []).flatMap((r) => (r.name !== undefined && (r.weight ?? 1) > 0 ? [r.name] : [])))] });
    }
    return { hostname: h, listenerHostname, virtualHost: { name: h, domains: [h] }, routes };
  });
}

/**
 * MeshHTTPRoute (Kuma's meshhttproute plugin) on a sidecar's HTTP outbounds: the rules merged for the
 * destination service become the routes of its virtual host, one route per match, in precedence order
 * (compareMatches), then the catch-all to the service itself, which Kuma always appends. A rule without
 * backendRefs goes to the service; backendRefs with tags go to a cluster of that subset of its
 * instances, in every zone (the SNI carries the tags). A tcp outbound is MeshTCPRoute's.
 *
 * On a builtin gateway (targetRef MeshGateway, `to: Mesh`), the rules attached to each listener
 * hostname become the virtual hosts of its port (gatewayRouteVirtualHosts), replacing the port's
 * MeshGatewayRoutes. Run before the other route policies, so timeouts and retries shape these routes.
 */
export const meshHttpRoutePlugin: PolicyPlugin<'MeshHTTPRoute'> = {
  kind: 'MeshHTTPRoute',
  applySidecar(draft, rules, ctx) {
    if (!rules) return;
    for (const ob of draft.outbounds) {
      const computed = rules.toByService[ob.service];
      if (!ob.http || !computed || computed.conf.rules.length === 0) continue;
      const where = `MeshHTTPRoute ${computed.origins.join(', ')} for ${ob.service}`;
      const keyed = computed.conf.rules.flatMap((rule) => rule.matches.map((match) => ({ match, rule })));
      keyed.sort((a, b) => compareMatches(a.match, b.match));
      const routes: Draft[] = [];
      for (const { match, rule } of keyed) {
        const r = envoyRoute(match, rule, { mesh: draft.mesh, backends: draft.backends, where, problems: ctx.problems, fallbackService: ob.service });
        if (r) routes.push(r);
      }
      routes.push({ match: { prefix: '/' }, route: { cluster: draft.backends.cluster(ob.service) } });
      ob.http.routes.splice(0, ob.http.routes.length, ...routes);
    }
  },
  applyGateway(draft, rules, ctx) {
    const byHost = rules?.gatewayTo?.byListenerHostname;
    if (!byHost) return;
    for (const l of draft.listeners) {
      if (!l.http) continue;
      // The listener hostnames the port serves (an HTTPS one without its certificate is not): each has its own virtual host.
      const own = new Map(l.http.virtualHosts.filter((vh) => vh.hostname === vh.listenerHostname).map((vh) => [vh.listenerHostname, vh]));
      const where = `MeshGateway ${draft.gateway} port ${l.port}`;
      // The gateway's Backends (generate/gateway/backends.ts) know the host each ExternalService cluster needs.
      const externalHost = (name: string) => (draft.backends as { externalHosts?: ReadonlyMap<string, string> }).externalHosts?.get(name);
      const hosts = gatewayRouteVirtualHosts([...own.keys()], (lh) => byHost[`${l.rulesKey}:${lh}`], where, {
        mesh: draft.mesh, backends: draft.backends, where, problems: ctx.problems, gateway: { listenerPort: l.port, externalHost },
      });
      if (!hosts) continue;
      // Kuma (meshroute CollectListenerInfos, SetGatewayListeners): the port is the MeshHTTPRoutes' alone.
      const replaced = [...new Set(l.http.virtualHosts.flatMap((vh) => (vh.routes.length > 0 ? [vh.hostname] : [])))];
      if (replaced.length > 0) ctx.problems.push(`${where}: MeshHTTPRoutes are attached, so its MeshGatewayRoutes are not used (as in Kuma, one kind of route serves a port; hostnames ${replaced.join(', ')})`);
      // A virtual host keeps what the listener set on its own (TLS requirements, headers), under its own name.
      const withListener = hosts.map((h) => ({ ...h, virtualHost: { ...(own.get(h.listenerHostname)?.virtualHost ?? {}), name: h.hostname, domains: [h.hostname] } }));
      l.http.virtualHosts.splice(0, l.http.virtualHosts.length, ...withListener);
    }
  },
};
