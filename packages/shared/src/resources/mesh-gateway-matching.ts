/**
 * How builtin gateway instances, MeshGateways, their listeners and MeshGatewayRoutes find each other
 * (Kuma's gateway matching), as pure functions: the zone's xDS generator and both control planes'
 * gateway overview must agree on it, so it lives once, here.
 */
import type { MeshGatewaySpec } from './mesh-gateway.js';
import type { MeshGatewayRouteSpec } from './mesh-gateway-route.js';

type Tags = Readonly<Record<string, string>>;
export type GatewayListenerSpec = MeshGatewaySpec['conf']['listeners'][number];

/** A selector's `match` holds for tags that carry every key with that value (`*`: any value). */
export function selectorMatches(selector: Tags, tags: Tags): boolean {
  for (const k in selector) {
    const actual = tags[k];
    if (actual === undefined || (selector[k] !== '*' && selector[k] !== actual)) return false;
  }
  return true;
}

/**
 * The MeshGateways that select a builtin gateway instance by its gateway tags, by name: the first one
 * is the one it serves (Kuma's SelectGateway keeps one), the others are ignored and said to be.
 */
export function claimingGateways<G extends { readonly name: string; readonly spec: Pick<MeshGatewaySpec, 'selectors'> }>(gateways: readonly G[], instanceTags: Tags): G[] {
  return gateways
    .filter((gw) => gw.spec.selectors.some((s) => selectorMatches(s.match, instanceTags)))
    .sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
}

/** Kuma's listener tags of a gateway listener: the instance's gateway tags, the MeshGateway's, the listener's (later wins). */
export function listenerTags(instanceTags: Tags, gateway: Pick<MeshGatewaySpec, 'tags'>, listener: Pick<GatewayListenerSpec, 'tags'>): Record<string, string> {
  return { ...instanceTags, ...(gateway.tags ?? {}), ...(listener.tags ?? {}) };
}

/** Whether a MeshGatewayRoute's selectors match a listener's tags (regardless of protocol). */
export function routeSelects(route: Pick<MeshGatewayRouteSpec, 'selectors'>, tags: Tags): boolean {
  return route.selectors.some((s) => selectorMatches(s.match, tags));
}

/** Routes of a kind serve listeners of matching protocols: http on HTTP(S), tcp on TCP and TLS. */
export function routeKind(route: MeshGatewayRouteSpec): 'http' | 'tcp' {
  return route.conf.http !== undefined ? 'http' : 'tcp';
}
export const listenerRouteKind = (protocol: GatewayListenerSpec['protocol']): 'http' | 'tcp' => (protocol === 'HTTP' || protocol === 'HTTPS' ? 'http' : 'tcp');

/** Whether hostname pattern `pattern` (`*`, `*.example.com` or exact) covers `host` (itself a name or pattern). */
export function hostCovers(pattern: string, host: string): boolean {
  if (pattern === '*' || pattern === host) return true;
  if (!pattern.startsWith('*.')) return false;
  const suffix = pattern.slice(1);
  return host.endsWith(suffix) && host.length > suffix.length && (!host.startsWith('*.') || host.length > pattern.length);
}

/** Gateway API's hostname intersection: the more specific of two hostnames when one covers the other. */
export function intersectHostnames(a: string, b: string): string | undefined {
  if (hostCovers(a, b)) return b;
  if (hostCovers(b, a)) return a;
  return undefined;
}
