/**
 * A builtin gateway's routes: MeshGatewayRoutes attached to a listener (their selectors match the
 * listener's tags), made into virtual hosts by hostname and Envoy routes in Kuma's precedence, with
 * their filters (route-filters.ts: the same Envoy routes as MeshHTTPRoute's), and a TCP listener's
 * weighted backends. MeshHTTPRoutes and MeshTCPRoutes attached to the gateway replace these per port
 * (plugins/mesh-http-route.ts, mesh-tcp-route.ts applyGateway).
 */
import { type Draft, lazyTyped } from '../envoy-parts.js';
import { asHttpRouteMatch, backendRef, gatewayRuleAsHttpRule } from './route-filters.js';
import { type MeshIndex, SERVICE_TAG } from '../zone-index.js';
import type { GatewayEntry, GatewayRouteEntry } from '../zone-index.js';
import { backendClusters } from '../../plugins/backend-refs.js';
import { envoyRoute } from '../../plugins/mesh-http-route.js';
import type { GatewayRouteDraft, GatewayVirtualHostDraft } from '../../plugins/index.js';
import { displayName, type HTTPRouteRule } from '../../rules/index.js';
import type { GatewayBackends } from './backends.js';
import { compareHostnames, intersectHostnames } from './hostnames.js';
import { ENVOY_TYPE } from '@meshfed/shared';

export type Listener = GatewayEntry['spec']['conf']['listeners'][number];
type HttpRule = NonNullable<GatewayRouteEntry['spec']['conf']['http']>['rules'][number];
type GatewayMatch = HttpRule['matches'][number];

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

/** The routes of one virtual host, in Kuma's precedence; a request no route matches gets Envoy's 404. */
function virtualHostRoutes(routes: readonly GatewayRouteEntry[], listenerPort: number, mesh: MeshIndex, backends: GatewayBackends, problems: string[]): GatewayRouteDraft[] {
  const keyed: { match: GatewayMatch; rule: HTTPRouteRule; services: string[]; where: string }[] = [];
  for (const r of routes) {
    r.spec.conf.http!.rules.forEach((rule, i) => {
      const where = `MeshGatewayRoute ${r.name} rules[${i}]`;
      const httpRule = gatewayRuleAsHttpRule(rule, where, problems);
      const services = [...new Set((rule.backends ?? []).map((b) => b.destination[SERVICE_TAG]!))];
      for (const m of rule.matches) keyed.push({ match: m, rule: httpRule, services, where });
    });
  }
  // Stable: equal matches keep the routes' order (by name), then their rules'.
  keyed.sort((a, b) => compareGatewayMatches(a.match, b.match));
  const out: GatewayRouteDraft[] = [];
  const gateway = { listenerPort, externalHost: (name: string) => backends.externalHosts.get(name) };
  for (const { match, rule, services, where } of keyed) {
    const route = envoyRoute(asHttpRouteMatch(match), rule, { mesh, backends, where, problems, gateway });
    if (!route) continue;
    // Only a MeshHTTPRoute rule's route is named (policies targeting the MeshHTTPRoute find it by that).
    delete route['name'];
    out.push({ route, services });
  }
  return out;
}

/**
 * MeshHTTPRoutes and MeshTCPRoutes whose top-level targetRef names a MeshGateway the mesh does not have
 * route nothing, and no proxy would say so: every gateway of the mesh says it (the one meant is likely
 * among them).
 */
export function routesToMissingGateways(mesh: MeshIndex): string[] {
  const names = new Set(mesh.gateways.flatMap((g) => [g.name, displayName(g)]));
  return mesh.policies
    .filter((p) => (p.type === 'MeshHTTPRoute' || p.type === 'MeshTCPRoute') && p.spec.targetRef.kind === 'MeshGateway' && !names.has(p.spec.targetRef.name ?? ''))
    .map((p) => `${p.type} ${displayName(p)} spec.targetRef: MeshGateway ${p.spec.targetRef.name} does not exist in mesh ${mesh.name}; the route is not attached anywhere`);
}

/**
 * The virtual hosts of one HTTP port: one per listener hostname, and one per narrower hostname a route
 * attached to a listener names (Gateway API's hostname intersection), which then also gets that
 * listener's routes without hostnames. A route's hostnames that intersect none of the listener's leave
 * it unattached there. A listener's own hostname wins over the same hostname narrowed from a wildcard.
 */
export function httpVirtualHosts(gw: GatewayEntry, listeners: readonly Listener[], attached: (l: Listener) => GatewayRouteEntry[], mesh: MeshIndex, backends: GatewayBackends, problems: string[]): GatewayVirtualHostDraft[] {
  const own = new Map<string, { listenerHostname: string; routes: Set<GatewayRouteEntry> }>();
  const narrowed = new Map<string, { listenerHostname: string; routes: Set<GatewayRouteEntry> }>();
  const add = (m: typeof own, h: string, listenerHostname: string, r?: GatewayRouteEntry) => {
    let s = m.get(h);
    if (!s) m.set(h, (s = { listenerHostname, routes: new Set() }));
    if (r) s.routes.add(r);
  };
  for (const l of listeners) {
    const lh = l.hostname ?? '*';
    add(own, lh, lh);
    const routes = attached(l);
    const plain = routes.filter((r) => (r.spec.conf.http!.hostnames ?? []).length === 0);
    for (const r of routes) {
      const names = r.spec.conf.http!.hostnames ?? [];
      if (names.length === 0) {
        add(own, lh, lh, r);
        continue;
      }
      let any = false;
      for (const h of names) {
        const i = intersectHostnames(h, lh);
        if (i === undefined) continue;
        any = true;
        if (i === lh) add(own, lh, lh, r);
        else {
          add(narrowed, i, lh, r);
          for (const p of plain) add(narrowed, i, lh, p);
        }
      }
      if (!any) problems.push(`MeshGatewayRoute ${r.name}: none of its hostnames (${names.join(', ')}) intersects listener ${gw.name} port ${l.port} hostname ${lh}; it is not attached there`);
    }
  }
  for (const [h, v] of narrowed) if (!own.has(h)) own.set(h, v);
  const byName = (a: GatewayRouteEntry, b: GatewayRouteEntry) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0);
  return [...own.keys()].sort(compareHostnames).map((h) => {
    const { listenerHostname, routes } = own.get(h)!;
    const routeDrafts = virtualHostRoutes([...routes].sort(byName), listeners[0]?.port ?? 0, mesh, backends, problems);
    return { hostname: h, listenerHostname, virtualHost: { name: h, domains: [h] }, routes: routeDrafts };
  });
}

/** The TCP proxy of a TCP port: the first attached route's (by name) first rule, its backends weighted. */
export function tcpProxy(stat: string, gw: GatewayEntry, port: number, routes: readonly GatewayRouteEntry[], mesh: MeshIndex, backends: GatewayBackends, problems: string[]): Draft {
  const proxy = lazyTyped(ENVOY_TYPE.tcpProxy, { stat_prefix: stat }) as Draft;
  // No MeshGatewayRoute: a MeshTCPRoute may still route the port (plugins); one left without a
  // destination is dropped after them (hasTcpDestination).
  const [first, ...rest] = routes.filter((r) => r.spec.conf.tcp !== undefined);
  if (!first) return proxy;
  const rules = first.spec.conf.tcp!.rules;
  if (rest.length > 0 || rules.length > 1) {
    problems.push(`MeshGateway ${gw.name} TCP port ${port}: only the first rule of MeshGatewayRoute ${first.name} is used; ${[...(rules.length > 1 ? [`its other ${rules.length - 1} rule(s)`] : []), ...rest.map((r) => `MeshGatewayRoute ${r.name}`)].join(', ')} ignored`);
  }
  const target = backendClusters(rules[0]!.backends.map(backendRef), mesh, backends, `MeshGatewayRoute ${first.name}`, problems);
  if (!target) return proxy;
  if (target.length === 1) proxy['cluster'] = target[0]!.name;
  else proxy['weighted_clusters'] = { clusters: target.map((t) => ({ name: t.name, weight: t.weight })) };
  return proxy;
}

/** Whether a TCP proxy sends anywhere (a MeshGatewayRoute's or a MeshTCPRoute's backends). */
export const hasTcpDestination = (proxy: Draft): boolean => proxy['cluster'] !== undefined || proxy['weighted_clusters'] !== undefined;
