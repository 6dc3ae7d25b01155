import type { Draft } from '../generate/envoy-parts.js';
import { envoyDuration } from './envoy-values.js';
import type { PolicyPlugin } from './types.js';
import type { ToConf } from '../rules/index.js';
import { computeRule } from '../rules/index.js';

type Conf = ToConf<'MeshTimeout'>;

/**
 * MeshTimeout on TCP traffic (Kuma's meshtimeout plugin): `connectionTimeout` is the cluster's
 * connect_timeout, `idleTimeout` the tcp_proxy's idle_timeout; outbound by the conf computed for the
 * destination service, inbound by the conf computed for any client (`from`, Kuma computes it for the
 * whole mesh). The `http` section applies where a listener speaks HTTP.
 */
function apply(conf: Conf | undefined, cluster: Draft, tcpProxy: Draft | undefined): void {
  if (!conf) return;
  if (conf.connectionTimeout !== undefined) cluster['connect_timeout'] = envoyDuration(conf.connectionTimeout);
  if (conf.idleTimeout !== undefined && tcpProxy) tcpProxy['idle_timeout'] = envoyDuration(conf.idleTimeout);
}

export const meshTimeoutPlugin: PolicyPlugin<'MeshTimeout'> = {
  kind: 'MeshTimeout',
  applySidecar(draft, rules) {
    if (!rules) return;
    for (const ob of draft.outbounds) apply(rules.toByService[ob.service]?.conf, ob.cluster, ob.tcpProxy);
    for (const ib of draft.inbounds) {
      const from = rules.from[ib.rulesKey];
      apply(from ? (computeRule(from, [])?.conf as Conf | undefined) : undefined, ib.localCluster, ib.tcpProxy);
    }
  },
};
