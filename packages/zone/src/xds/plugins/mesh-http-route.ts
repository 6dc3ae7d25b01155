import type { Draft } from '../generate/envoy-parts.js';
import { type MeshIndex, subsetTags } from '../generate/zone-index.js';
import { type HTTPRouteRule, ruleMatchesHash } from '../rules/index.js';
import { backendClusters } from './backend-refs.js';
import { escapeRegex, fractionalPercent, headerMatcher, headerValueOptions } from './envoy-values.js';
import type { Backends, PolicyPlugin } from './types.js';

type Match = HTTPRouteRule['matches'][number];
type Filter = NonNullable<HTTPRouteRule['default']['filters']>[number];

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

/** One Envoy route for one match of a rule: its filters applied, to its backends (or the destination service). */
function envoyRoute(match: Match, rule: HTTPRouteRule, service: string, mesh: MeshIndex, backends: Backends, where: string, problems: string[]): Draft | undefined {
  // Named by the hash of its rule's matches: policies that target the MeshHTTPRoute find it by that (routeConf).
  const route: Draft = { name: ruleMatchesHash(rule.matches), match: routeMatch(match) };
  const filters: readonly Filter[] = rule.default.filters ?? [];
  const redirect = filters.find((f) => f.type === 'RequestRedirect')?.requestRedirect;
  if (redirect) {
    const r: Draft = {};
    if (redirect.scheme) r['scheme_redirect'] = redirect.scheme;
    if (redirect.hostname) r['host_redirect'] = redirect.hostname;
    if (redirect.port !== undefined) r['port_redirect'] = redirect.port;
    if (redirect.path?.type === 'ReplaceFullPath') r['path_redirect'] = redirect.path.replaceFullPath;
    if (redirect.path?.type === 'ReplacePrefixMatch') prefixRewrite(r, match, redirect.path.replacePrefixMatch!);
    r['response_code'] = REDIRECT_CODE[redirect.statusCode ?? 302];
    route['redirect'] = r;
  } else {
    const refs = rule.default.backendRefs?.length ? rule.default.backendRefs : [{ kind: 'MeshService', name: service }];
    const target = backendClusters(refs, mesh, backends, where, problems);
    if (!target) return undefined;
    const action: Draft = target.length === 1
      ? { cluster: target[0]!.name }
      : { weighted_clusters: { clusters: target.map((t) => ({ name: t.name, weight: { value: t.weight } })) } };
    for (const f of filters) {
      if (f.urlRewrite) {
        if (f.urlRewrite.hostname) action['host_rewrite_literal'] = f.urlRewrite.hostname;
        const path = f.urlRewrite.path;
        if (path?.type === 'ReplaceFullPath') action['regex_rewrite'] = { pattern: { regex: '.*' }, substitution: path.replaceFullPath };
        if (path?.type === 'ReplacePrefixMatch') prefixRewrite(action, match, path.replacePrefixMatch!);
      }
      if (f.requestMirror) {
        const ref = f.requestMirror.backendRef;
        const mirrors = (action['request_mirror_policies'] ??= []) as Draft[];
        mirrors.push({
          cluster: backends.cluster(ref.name ?? service, ref.kind === 'MeshServiceSubset' ? subsetTags(ref.tags ?? {}) : {}),
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

/**
 * MeshHTTPRoute (Kuma's meshhttproute plugin) on a sidecar's HTTP outbounds: the rules merged for the
 * destination service become the routes of its virtual host, one route per match, in precedence order
 * (compareMatches), then the catch-all to the service itself, which Kuma always appends. A rule without
 * backendRefs goes to the service; backendRefs with tags go to a cluster of that subset of its
 * instances, in every zone (the SNI carries the tags). A tcp outbound is MeshTCPRoute's.
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
        const r = envoyRoute(match, rule, ob.service, draft.mesh, draft.backends, where, ctx.problems);
        if (r) routes.push(r);
      }
      routes.push({ match: { prefix: '/' }, route: { cluster: draft.backends.cluster(ob.service) } });
      ob.http.routes.splice(0, ob.http.routes.length, ...routes);
    }
  },
};
