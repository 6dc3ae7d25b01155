import { backendClusters } from './backend-refs.js';
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
      if (ob.tcpProxy) {
        delete ob.tcpProxy['cluster'];
        delete ob.tcpProxy['weighted_clusters'];
        if (target.length === 1) ob.tcpProxy['cluster'] = target[0]!.name;
        else ob.tcpProxy['weighted_clusters'] = { clusters: target.map((t) => ({ name: t.name, weight: t.weight })) };
      }
      if (ob.http) {
        const route = ob.http.routes[ob.http.routes.length - 1]!;
        route['route'] = target.length === 1 ? { cluster: target[0]!.name } : { weighted_clusters: { clusters: target.map((t) => ({ name: t.name, weight: { value: t.weight } })) } };
      }
    }
  },
};
