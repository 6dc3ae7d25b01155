/**
 * Selection: which parts of one proxy a policy's top-level targetRef selects. Kuma 2.7
 * pkg/plugins/policies/core/matchers/dataplane.go `dppSelectedByPolicy` and `inboundsSelectedByTags`:
 * a policy selects a proxy when it selects at least one of its inbounds, one listener of its builtin
 * gateway, or its delegated gateway. Which inbounds it selects matters for `from[]` rules (they are
 * per inbound); for `to[]` rules the proxy as a whole is selected.
 */
import type { DataplaneSpec, MeshGatewaySpec } from '@meshfed/shared';
import { listenerTags, selectorMatches, SERVICE_TAG } from '@meshfed/shared';
import { displayName } from './ordering.js';
import type { AnyPolicy, Policy } from './policy-kinds.js';

/** The MeshGateway a builtin gateway proxy serves (the caller resolves it, as Kuma's SelectGateway). */
export interface GatewayView {
  readonly name: string;
  readonly labels: Readonly<Record<string, string>>;
  readonly spec: MeshGatewaySpec;
}

/** One proxy as the matching step sees it. */
export interface ProxyView {
  readonly name: string;
  readonly mesh: string;
  readonly spec: DataplaneSpec;
  /** Only for a BUILTIN gateway proxy: the MeshGateway whose listeners it serves. */
  readonly gateway?: GatewayView | undefined;
}

export type ProxyType = 'Sidecar' | 'Gateway';

/** Kuma's resolveDataplaneProxyType: a Dataplane with `networking.gateway` is a Gateway. */
export const proxyTypeOf = (proxy: ProxyView): ProxyType => (proxy.spec.networking.gateway ? 'Gateway' : 'Sidecar');

/** `address:port` of an inbound (Kuma's InboundListener: the inbound's address, else the proxy's). */
export type InboundKey = string;

export const inboundKey = (address: string, port: number): InboundKey => `${address}:${port}`;

/** A builtin gateway listener: Kuma's InboundListenerHostname (`*` when the listener has no hostname). */
export interface GatewayListenerKey {
  readonly inbound: InboundKey;
  readonly hostname: string;
}

export interface Selection {
  readonly inbounds: readonly InboundKey[];
  readonly gatewayListeners: readonly GatewayListenerKey[];
  readonly delegatedGateway: boolean;
  /** Why the targetRef could not be resolved (a MeshHTTPRoute that does not exist): a warning. */
  readonly problem?: string;
}

const NOTHING: Selection = { inbounds: [], gatewayListeners: [], delegatedGateway: false };

export const isSelected = (s: Selection): boolean => s.inbounds.length > 0 || s.gatewayListeners.length > 0 || s.delegatedGateway;

/**
 * Kuma's TagSelector.Matches: every selector tag is present with the same value, or the value `*`.
 * The empty selector matches everything.
 */
export function tagsMatch(selector: Readonly<Record<string, string>> | undefined, tags: Readonly<Record<string, string>>): boolean {
  return selector === undefined || selectorMatches(selector, tags);
}

function selectedByTags(selector: Readonly<Record<string, string>> | undefined, proxy: ProxyView): Selection {
  const n = proxy.spec.networking;
  const inbounds: InboundKey[] = [];
  for (const ib of n.inbound ?? []) {
    // Kuma skips inbounds in state Ignored; a Dataplane here has no such state. Unhealthy inbounds
    // still get their listener, so they are selected too.
    if (tagsMatch(selector, ib.tags)) inbounds.push(inboundKey(ib.address ?? n.address, ib.port));
  }
  const gatewayListeners: GatewayListenerKey[] = [];
  if (proxy.gateway && n.gateway?.type === 'BUILTIN') {
    const seen = new Set(inbounds);
    for (const l of proxy.gateway.spec.conf.listeners) {
      const tags = listenerTags(n.gateway.tags, proxy.gateway.spec, l);
      if (!tagsMatch(selector, tags)) continue;
      const key = inboundKey(n.address, l.port);
      if (!seen.has(key)) {
        seen.add(key);
        inbounds.push(key);
      }
      gatewayListeners.push({ inbound: key, hostname: l.hostname ?? '*' });
    }
  }
  const delegatedGateway = n.gateway?.type === 'DELEGATED' && tagsMatch(selector, n.gateway.tags);
  return { inbounds, gatewayListeners, delegatedGateway };
}

/**
 * What of `proxy` the top-level targetRef of `policy` selects. `routes` are the mesh's MeshHTTPRoutes,
 * needed to resolve a top-level `kind: MeshHTTPRoute` (Kuma selects what the route's own top-level
 * targetRef selects).
 */
export function selectionOf(policy: AnyPolicy, proxy: ProxyView, routes: readonly Policy<'MeshHTTPRoute'>[] = []): Selection {
  if (policy.mesh !== proxy.mesh) return NOTHING;
  const ref = policy.spec.targetRef;
  const proxyTypeAllowed = !ref.proxyTypes?.length || ref.proxyTypes.includes(proxyTypeOf(proxy));
  switch (ref.kind) {
    case 'Mesh':
      return proxyTypeAllowed ? selectedByTags(undefined, proxy) : NOTHING;
    case 'MeshSubset':
      return proxyTypeAllowed ? selectedByTags(ref.tags, proxy) : NOTHING;
    // Kuma applies proxyTypes to Mesh and MeshSubset only: a service name already says which proxies.
    case 'MeshService':
      return selectedByTags({ [SERVICE_TAG]: ref.name ?? '' }, proxy);
    case 'MeshServiceSubset':
      // Kuma copies the tags over the service name; a `kuma.io/service` tag would replace it.
      return selectedByTags({ [SERVICE_TAG]: ref.name ?? '', ...(ref.tags ?? {}) }, proxy);
    case 'MeshGateway': {
      const gw = proxy.gateway;
      if (!gw || proxy.spec.networking.gateway?.type !== 'BUILTIN' || displayName(gw) !== ref.name) return NOTHING;
      const s = selectedByTags(ref.tags, proxy);
      return { ...s, delegatedGateway: false };
    }
    case 'MeshHTTPRoute': {
      const route = routes.find((r) => r.mesh === policy.mesh && displayName(r) === ref.name);
      if (!route) return { ...NOTHING, problem: `${policy.type} ${policy.name}: couldn't resolve MeshHTTPRoute targetRef with name '${ref.name}'` };
      if (route.spec.targetRef.kind === 'MeshHTTPRoute') return NOTHING; // the schema forbids it; never recurse
      return selectionOf(route, proxy, routes);
    }
    default:
      return NOTHING;
  }
}
