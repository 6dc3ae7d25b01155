import { hasTcpDestination } from '../generate/gateway/routes.js';
import type { Draft } from '../generate/envoy-parts.js';
import { backendClusters, type WeightedClusters } from './backend-refs.js';
import type { PolicyPlugin } from './types.js';

/**
 * MeshTCPRoute (Kuma's meshtcproute plugin): the outbound's traffic goes to the rule's backendRefs,
 * by weight (per connection). On an HTTP outbound it sets the catch-all route the same way (per
 * request), which a MeshHTTPRoute for the service then replaces: Kuma lets the HTTP route win where
 * the service speaks HTTP, and the TCP route apply otherwise. Runs before the HTTP route plugin.
 */
export const meshTcpRoutePlugin: PolicyPlugin<'MeshTCPRoute'> = {
  kind: 'MeshTCPRoute',
  applySidecar(draft, rules, ctx) {
    if (!rules) return;
    for (const ob of draft.outbounds) {
      const conf = rules.toByService[ob.service]?.conf;
      if (!conf) continue;
      const where = `MeshTCPRoute ${rules.toByService[ob.service]!.origins.join(', ')} for ${ob.service}`;
      const target = backendClusters(conf.backendRefs, draft.mesh, draft.backends, where, ctx.problems);
      if (!target) continue;
      if (ob.tcpProxy) setTcpTarget(ob.tcpProxy, target);
      if (ob.http) {
        const route = ob.http.routes[ob.http.routes.length - 1]!;
        route['route'] = target.length === 1 ? { cluster: target[0]!.name } : { weighted_clusters: { clusters: target.map((t) => ({ name: t.name, weight: { value: t.weight } })) } };
      }
    }
  },
  /**
   * A gateway's TCP ports: the MeshTCPRoute (`to: Mesh`) attached to the port's listener sends its
   * connections to the rule's backendRefs, by weight. As in Kuma (meshtcproute ApplyToGateway), a port
   * with a MeshTCPRoute is that route's alone: a MeshGatewayRoute's tcp rule there is not used.
   */
  applyGateway(draft, rules, ctx) {
    const byListener = rules?.gatewayTo?.byListener;
    if (!byListener) return;
    for (const l of draft.listeners) {
      if (l.http) continue;
      const rule = (byListener[l.rulesKey] ?? []).find((r) => r.subset.length === 0);
      if (!rule) continue;
      const where = `MeshTCPRoute ${rule.origins.join(', ')} (MeshGateway ${draft.gateway} port ${l.port})`;
      if (!l.tcpProxy) {
        ctx.problems.push(`${where}: the port has no TCP proxy to route; the route is not applied`);
        continue;
      }
      const target = backendClusters(rule.conf.backendRefs, draft.mesh, draft.backends, where, ctx.problems);
      if (!target) continue;
      if (hasTcpDestination(l.tcpProxy)) ctx.problems.push(`MeshGateway ${draft.gateway} ${l.protocol} port ${l.port}: MeshTCPRoute ${rule.origins.join(', ')} is attached, so its MeshGatewayRoute tcp rules are not used (as in Kuma, one kind of route serves a port)`);
      setTcpTarget(l.tcpProxy, target);
    }
  },
};

/** A tcp_proxy's destination: one cluster, or weighted clusters (a oneof: the other is removed). */
function setTcpTarget(proxy: Draft, target: WeightedClusters): void {
  delete proxy['cluster'];
  delete proxy['weighted_clusters'];
  if (target.length === 1) proxy['cluster'] = target[0]!.name;
  else proxy['weighted_clusters'] = { clusters: target.map((t) => ({ name: t.name, weight: t.weight })) };
}
