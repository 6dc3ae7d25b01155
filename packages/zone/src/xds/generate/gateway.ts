/**
 * A builtin gateway's Envoy configuration (gateway.md, Kuma's gateway plugin): one listener per port of
 * the MeshGateway it serves, on the Dataplane's address. HTTP: an HTTP connection manager whose inline
 * route configuration has one virtual host per hostname, with the routes of the MeshGatewayRoutes
 * attached to the listener. TCP: a TCP proxy to the route's weighted backends. Backends are reached as a
 * sidecar reaches them (sidecar.ts outboundTarget: this zone, other zones through their ingresses or
 * this zone's egress, external services), with mesh mTLS as the gateway's own identity.
 *
 * Not built yet (said on the instance, never a NACK): HTTPS and TLS listeners, cross-mesh listeners,
 * `resources.connectionLimit`, route filters, MeshHTTPRoute / MeshTCPRoute and policies that target a
 * MeshGateway.
 */
import {
  type Any, ENVOY_EXTENSION_NAME, ENVOY_TYPE, identityCertSecretName, meshCaSecretName, spiffeId, XDS_TYPE_URL,
} from '@meshfed/shared';
import { dep, type GeneratedProxy, type GenerationContext } from './context.js';
import { type Draft, encodeEnvoy, identitySecret, lazyTyped, listener, meshCaSecret, statPrefix } from './envoy-parts.js';
import { identityOf, outboundTarget, servicesOfIdentity } from './sidecar.js';
import {
  type BuiltinGatewayInstance, type GatewayEntry, type GatewayRouteEntry, isWhole, type MeshIndex, NO_SUBSET, selectorMatches, SERVICE_TAG, subsetTags, type SubsetTags,
} from './zone-index.js';
import { backendClusters, type BackendRef } from '../plugins/backend-refs.js';
import { routeMatch } from '../plugins/mesh-http-route.js';
import type { HTTPRouteRule } from '../rules/index.js';

type Listener = GatewayEntry['spec']['conf']['listeners'][number];
type HttpRule = NonNullable<GatewayRouteEntry['spec']['conf']['http']>['rules'][number];
type GatewayMatch = HttpRule['matches'][number];
type Match = HTTPRouteRule['matches'][number];
type Backend = NonNullable<HttpRule['backends']>[number];

/** The Envoy listener (and route configuration) name of a gateway port, as Kuma names it. */
export const gatewayListenerName = (gateway: string, protocol: string, port: number): string => `${gateway}:${protocol}:${port}`;

/** Whether hostname pattern `pattern` (`*`, `*.example.com` or exact) covers `host` (itself a name or pattern). */
export function hostCovers(pattern: string, host: string): boolean {
  if (pattern === '*' || pattern === host) return true;
  if (!pattern.startsWith('*.')) return false;
  const suffix = pattern.slice(1); // `.example.com`
  return host.endsWith(suffix) && host.length > suffix.length && (!host.startsWith('*.') || host.length > pattern.length);
}

/** Gateway API's hostname intersection: the more specific of two hostnames when one covers the other. */
export function intersectHostnames(a: string, b: string): string | undefined {
  if (hostCovers(a, b)) return b;
  if (hostCovers(b, a)) return a;
  return undefined;
}

/** Virtual host order: exact names (sorted), then wildcards (the longer suffix first), `*` last. */
export function compareHostnames(a: string, b: string): number {
  const rank = (h: string) => (h === '*' ? 2 : h.startsWith('*.') ? 1 : 0);
  if (rank(a) !== rank(b)) return rank(a) - rank(b);
  if (rank(a) === 1 && a.length !== b.length) return b.length - a.length;
  return a < b ? -1 : a > b ? 1 : 0;
}

/**
 * Route precedence as Kuma's gateway route sorter (pkg/plugins/runtime/gateway/route/sorter.go): an
 * exact path first (the longer first), then a prefix (the longer first), then a regex (the longer
 * first), then no path; then a match with a method, then more header matches, then more query
 * parameter matches; equal ones by their path, as text.
 */
export function compareGatewayMatches(a: GatewayMatch, b: GatewayMatch): number {
  for (const kind of ['EXACT', 'PREFIX', 'REGEX'] as const) {
    const l = a.path?.match === kind ? a.path.value : undefined;
    const r = b.path?.match === kind ? b.path.value : undefined;
    if (l !== undefined && r === undefined) return -1;
    if (l === undefined && r !== undefined) return 1;
    if (l !== undefined && r !== undefined) {
      if (l.length !== r.length) return r.length - l.length;
      // Kuma: equal-length regexes are equally specific (no tie-break on their text).
      if (kind === 'REGEX') return 0;
      break;
    }
  }
  if ((a.method === undefined) !== (b.method === undefined)) return a.method === undefined ? 1 : -1;
  const headers = (b.headers?.length ?? 0) - (a.headers?.length ?? 0);
  if (headers !== 0) return headers;
  const query = (b.queryParameters?.length ?? 0) - (a.queryParameters?.length ?? 0);
  if (query !== 0) return query;
  const pa = a.path?.value ?? '';
  const pb = b.path?.value ?? '';
  return pa < pb ? -1 : pa > pb ? 1 : 0;
}

/** A MeshGatewayRoute match as MeshHTTPRoute's: the same Envoy RouteMatch and the same precedence. */
export function asHttpRouteMatch(m: GatewayMatch): Match {
  const pathType = { EXACT: 'Exact', PREFIX: 'PathPrefix', REGEX: 'RegularExpression' } as const;
  const headerType = { EXACT: 'Exact', REGEX: 'RegularExpression', ABSENT: 'Absent', PRESENT: 'Present' } as const;
  return {
    ...(m.path ? { path: { type: pathType[m.path.match], value: m.path.value } } : {}),
    ...(m.method ? { method: m.method } : {}),
    ...(m.headers?.length ? { headers: m.headers.map((h) => ({ name: h.name, type: headerType[h.match], ...(h.value !== undefined ? { value: h.value } : {}) })) } : {}),
    ...(m.queryParameters?.length ? { queryParams: m.queryParameters.map((q) => ({ name: q.name, type: q.match === 'REGEX' ? 'RegularExpression' : 'Exact', value: q.value })) } : {}),
  } as Match;
}

const backendRef = (b: Backend): BackendRef => {
  const service = b.destination[SERVICE_TAG]!;
  const subset = subsetTags(b.destination);
  return { kind: isWhole(subset) ? 'MeshService' : 'MeshServiceSubset', name: service, tags: b.destination, ...(b.weight !== undefined ? { weight: b.weight } : {}) };
};

/**
 * Envoy's edge-proxy best practices, the minimal part applied here: the client's address is the
 * downstream peer (use_remote_address), paths normalized with slashes merged and escaped slashes
 * redirected, headers with underscores refused, idle / stream-idle / request-headers timeouts.
 */
function edgeHcm(stat: string, routeConfig: Draft): Draft {
  return {
    name: ENVOY_EXTENSION_NAME.httpConnectionManager,
    typed_config: lazyTyped(ENVOY_TYPE.httpConnectionManager, {
      stat_prefix: stat,
      codec_type: 'AUTO',
      use_remote_address: { value: true },
      normalize_path: { value: true },
      merge_slashes: true,
      path_with_escaped_slashes_action: 'UNESCAPE_AND_REDIRECT',
      strip_any_host_port: true,
      common_http_protocol_options: { idle_timeout: { seconds: 3600 }, headers_with_underscores_action: 'REJECT_REQUEST' },
      stream_idle_timeout: { seconds: 300 },
      request_headers_timeout: { seconds: 10 },
      route_config: routeConfig,
      http_filters: [{ name: ENVOY_EXTENSION_NAME.router, typed_config: lazyTyped(ENVOY_TYPE.router, {}) }],
    }),
  };
}

/** The per-gateway-instance collection of clusters, endpoints and what it depends on. */
class GatewayBackends {
  readonly clusters = new Map<string, Any>();
  readonly endpoints = new Map<string, Any>();
  readonly deps: string[] = [];
  readonly problems: string[] = [];
  readonly externalHosts = new Map<string, string>();
  constructor(private readonly ctx: GenerationContext, private readonly mesh: MeshIndex) {}

  cluster(service: string, subset: SubsetTags = NO_SUBSET): string {
    if (!isWhole(subset) && (this.mesh.external.has(service) || this.mesh.remoteExternal.has(service))) {
      this.problems.push(`${service} is an ExternalService, which has no subsets: the route's tags are ignored`);
      subset = NO_SUBSET;
    }
    const target = outboundTarget(this.ctx, this.mesh, service, subset);
    const d = dep.service(this.mesh.name, service);
    if (!this.deps.includes(d)) this.deps.push(d);
    if (!this.clusters.has(target.name)) {
      this.clusters.set(target.name, this.ctx.memo.encode(XDS_TYPE_URL.cluster, target.cluster()));
      if (target.endpoints) this.endpoints.set(target.name, target.endpoints);
      if (target.externalHost !== undefined) this.externalHosts.set(target.name, target.externalHost);
      this.problems.push(...target.problems);
    }
    return target.name;
  }

  orderLocalities(): boolean {
    return false;
  }
}

/** The routes of one virtual host, in Kuma's precedence; a request no route matches gets Envoy's 404. */
function virtualHostRoutes(routes: readonly GatewayRouteEntry[], mesh: MeshIndex, backends: GatewayBackends, problems: string[]): Draft[] {
  const keyed: { match: GatewayMatch; rule: HttpRule; where: string }[] = [];
  for (const r of routes) {
    r.spec.conf.http!.rules.forEach((rule, i) => {
      const where = `MeshGatewayRoute ${r.name} rules[${i}]`;
      if ((rule.backends ?? []).length === 0) {
        problems.push(`${where}: a rule without backends (a redirect) is not built yet; the rule is left out`);
        return;
      }
      if ((rule.filters ?? []).length > 0) problems.push(`${where}: route filters are not applied yet (the rule routes without them)`);
      for (const m of rule.matches) keyed.push({ match: m, rule, where });
    });
  }
  // Stable: equal matches keep the routes' order (by name), then their rules'.
  keyed.sort((a, b) => compareGatewayMatches(a.match, b.match));
  const out: Draft[] = [];
  for (const { match, rule, where } of keyed) {
    const target = backendClusters((rule.backends ?? []).map(backendRef), mesh, backends, where, problems);
    if (!target) continue;
    const hostOf = (name: string) => backends.externalHosts.get(name);
    const action: Draft = target.length === 1
      ? { cluster: target[0]!.name, ...(hostOf(target[0]!.name) !== undefined ? { host_rewrite_literal: hostOf(target[0]!.name) } : {}) }
      : { weighted_clusters: { clusters: target.map((t) => ({ name: t.name, weight: { value: t.weight }, ...(hostOf(t.name) !== undefined ? { host_rewrite_literal: hostOf(t.name) } : {}) })) } };
    out.push({ match: routeMatch(asHttpRouteMatch(match)), route: action });
  }
  return out;
}

/**
 * The virtual hosts of one HTTP port: one per listener hostname, and one per narrower hostname a route
 * attached to a listener names (Gateway API's hostname intersection), which then also gets that
 * listener's routes without hostnames. A route's hostnames that intersect none of the listener's leave
 * it unattached there. A listener's own hostname wins over the same hostname narrowed from a wildcard.
 */
function httpVirtualHosts(gw: GatewayEntry, listeners: readonly Listener[], attached: (l: Listener) => GatewayRouteEntry[], mesh: MeshIndex, backends: GatewayBackends, problems: string[]): Draft[] {
  const own = new Map<string, Set<GatewayRouteEntry>>();
  const narrowed = new Map<string, Set<GatewayRouteEntry>>();
  const add = (m: Map<string, Set<GatewayRouteEntry>>, h: string, r?: GatewayRouteEntry) => {
    let s = m.get(h);
    if (!s) m.set(h, (s = new Set()));
    if (r) s.add(r);
  };
  for (const l of listeners) {
    const lh = l.hostname ?? '*';
    add(own, lh);
    const routes = attached(l);
    const plain = routes.filter((r) => (r.spec.conf.http!.hostnames ?? []).length === 0);
    for (const r of routes) {
      const names = r.spec.conf.http!.hostnames ?? [];
      if (names.length === 0) {
        add(own, lh, r);
        continue;
      }
      let any = false;
      for (const h of names) {
        const i = intersectHostnames(h, lh);
        if (i === undefined) continue;
        any = true;
        if (i === lh) add(own, lh, r);
        else {
          add(narrowed, i, r);
          for (const p of plain) add(narrowed, i, p);
        }
      }
      if (!any) problems.push(`MeshGatewayRoute ${r.name}: none of its hostnames (${names.join(', ')}) intersects listener ${gw.name} port ${l.port} hostname ${lh}; it is not attached there`);
    }
  }
  for (const [h, routes] of narrowed) if (!own.has(h)) own.set(h, routes);
  const byName = (a: GatewayRouteEntry, b: GatewayRouteEntry) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0);
  return [...own.keys()].sort(compareHostnames).map((h) => ({
    name: h,
    domains: [h],
    routes: virtualHostRoutes([...own.get(h)!].sort(byName), mesh, backends, problems),
  }));
}

/** The TCP proxy of a TCP port: the first attached route's (by name) first rule, its backends weighted. */
function tcpFilter(stat: string, gw: GatewayEntry, port: number, routes: readonly GatewayRouteEntry[], mesh: MeshIndex, backends: GatewayBackends, problems: string[]): Draft | undefined {
  const tcp = routes.filter((r) => r.spec.conf.tcp !== undefined);
  if (tcp.length === 0) {
    problems.push(`MeshGateway ${gw.name} TCP port ${port}: no MeshGatewayRoute with tcp rules is attached; the listener is left out`);
    return undefined;
  }
  const [first, ...rest] = tcp;
  const rules = first!.spec.conf.tcp!.rules;
  if (rest.length > 0 || rules.length > 1) {
    problems.push(`MeshGateway ${gw.name} TCP port ${port}: only the first rule of MeshGatewayRoute ${first!.name} is used; ${[...(rules.length > 1 ? [`its other ${rules.length - 1} rule(s)`] : []), ...rest.map((r) => `MeshGatewayRoute ${r.name}`)].join(', ')} ignored`);
  }
  const where = `MeshGatewayRoute ${first!.name}`;
  const target = backendClusters(rules[0]!.backends.map(backendRef), mesh, backends, where, problems);
  if (!target) return undefined;
  const fields: Draft = { stat_prefix: stat };
  if (target.length === 1) fields['cluster'] = target[0]!.name;
  else fields['weighted_clusters'] = { clusters: target.map((t) => ({ name: t.name, weight: t.weight })) };
  return { name: ENVOY_EXTENSION_NAME.tcpProxy, typed_config: lazyTyped(ENVOY_TYPE.tcpProxy, fields) };
}

/** Kuma's listener tags of a gateway listener: the Dataplane's gateway tags, the MeshGateway's, the listener's. */
function listenerTags(instance: BuiltinGatewayInstance, gw: GatewayEntry, l: Listener): Record<string, string> {
  return { ...(instance.dataplane.spec.networking.gateway?.tags ?? {}), ...(gw.spec.tags ?? {}), ...(l.tags ?? {}) };
}

export function generateGateway(ctx: GenerationContext, instance: BuiltinGatewayInstance): GeneratedProxy {
  const dp = instance.dataplane;
  const mesh = ctx.index.meshes.get(dp.mesh);
  if (!mesh) return { resources: undefined, deps: [dep.mesh(dp.mesh)], problems: [`mesh "${dp.mesh}" does not exist in this zone (yet)`] };
  const deps: string[] = [dep.mesh(dp.mesh), dep.gateways(dp.mesh), dep.policies(dp.mesh)];
  const problems: string[] = [...instance.problems];
  const secrets = new Map<string, Any>();
  const identity = identityOf(dp);
  if (mesh.mtlsBackend !== undefined) {
    if (identity === undefined) return { resources: undefined, deps, problems: [...problems, 'the gateway has no kuma.io/service tag to name its identity'] };
    deps.push(dep.certificate(dp.mesh, identity));
    const cert = ctx.certificate(dp.mesh, identity);
    if (!cert) return { resources: undefined, deps, problems: [...problems, ctx.certificateProblem(dp.mesh, identity) ?? `no certificate for ${servicesOfIdentity(identity).map((s) => spiffeId(dp.mesh, s)).join(', ')} yet`] };
    secrets.set(identityCertSecretName(dp.mesh), ctx.memo.get(`identity:${dp.mesh}:${identity}`, cert.version, () => encodeEnvoy(XDS_TYPE_URL.secret, identitySecret(dp.mesh, cert.certPem, cert.keyPem))));
    secrets.set(meshCaSecretName(dp.mesh), ctx.memo.get(`ca:${dp.mesh}`, cert.caPem, () => encodeEnvoy(XDS_TYPE_URL.secret, meshCaSecret(dp.mesh, cert.caPem))));
  }
  const backends = new GatewayBackends(ctx, mesh);
  const listeners = new Map<string, Any>();
  const gw = instance.gateway;
  if (gw) {
    for (const p of mesh.policies) {
      const ref = p.spec.targetRef as { kind: string; name?: string };
      if (ref.kind === 'MeshGateway' && ref.name === gw.name) problems.push(`${p.type} ${p.name} targets MeshGateway ${gw.name}: policies and routes with targetRef MeshGateway are not applied to builtin gateways yet`);
    }
    const attached = (l: Listener) => {
      const tags = listenerTags(instance, gw, l);
      return mesh.gatewayRoutes.filter((r) => r.spec.selectors.some((s) => selectorMatches(s.match, tags)));
    };
    const ports = new Map<number, Listener[]>();
    for (const l of gw.spec.conf.listeners) {
      if (l.protocol === 'HTTPS' || l.protocol === 'TLS') {
        problems.push(`MeshGateway ${gw.name} port ${l.port}: ${l.protocol} listeners are not built yet; the listener is left out`);
        continue;
      }
      if (l.crossMesh) {
        problems.push(`MeshGateway ${gw.name} port ${l.port}: crossMesh listeners are not built yet; the listener is left out`);
        continue;
      }
      if (l.resources?.connectionLimit !== undefined) problems.push(`MeshGateway ${gw.name} port ${l.port}: resources.connectionLimit is not enforced yet`);
      const list = ports.get(l.port);
      if (list) list.push(l);
      else ports.set(l.port, [l]);
    }
    const address = dp.spec.networking.address;
    for (const [port, ls] of [...ports].sort(([a], [b]) => a - b)) {
      const protocol = ls[0]!.protocol;
      const name = gatewayListenerName(gw.name, protocol, port);
      let filter: Draft | undefined;
      if (protocol === 'HTTP') {
        const virtualHosts = httpVirtualHosts(gw, ls, (l) => attached(l).filter((r) => r.spec.conf.http !== undefined), mesh, backends, problems);
        filter = edgeHcm(statPrefix(name), { name, validate_clusters: { value: false }, virtual_hosts: virtualHosts });
      } else {
        if (ls.length > 1) problems.push(`MeshGateway ${gw.name} TCP port ${port}: ${ls.length} listeners share it; the first one's routes are used`);
        filter = tcpFilter(statPrefix(name), gw, port, attached(ls[0]!), mesh, backends, problems);
      }
      if (!filter) continue;
      const l = listener(name, address, port, 'INBOUND', [{ filters: [filter] }]);
      // Edge best practice: a bounded read buffer per connection.
      l['per_connection_buffer_limit_bytes'] = { value: 32768 };
      listeners.set(name, ctx.memo.encode(XDS_TYPE_URL.listener, l));
    }
  }
  deps.push(...backends.deps);
  return {
    resources: { listener: listeners, cluster: backends.clusters, endpoint: backends.endpoints, secret: secrets },
    deps, problems: [...new Set([...problems, ...backends.problems])],
  };
}
