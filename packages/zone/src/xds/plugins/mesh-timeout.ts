import { type Draft, type HttpDraft, upstreamHttpOptions } from '../generate/envoy-parts.js';
import { isHttp, type Protocol } from '../generate/protocol.js';
import { destinations, routeConf } from './destinations.js';
import { envoyDuration } from './envoy-values.js';
import type { PolicyPlugin } from './types.js';
import type { ToConf } from '../rules/index.js';
import { computeForAnyClient } from '../rules/index.js';

type Conf = ToConf<'MeshTimeout'>;

/**
 * Kuma's meshtimeout configurer: once a MeshTimeout applies to a listener or cluster, every timeout it
 * governs is set, to the policy's value or to Kuma's default for it (so a narrower policy that sets
 * only one field does not leave the others at Envoy's own defaults, which differ).
 */
const DEFAULTS = {
  connectionTimeout: '5s',
  idleTimeout: '1h',
  requestTimeout: '15s',
  streamIdleTimeout: '30m',
  maxStreamDuration: '0s',
  maxConnectionDuration: '0s',
} as const;

const or = (value: string | undefined, fallback: string) => envoyDuration(value ?? fallback);

/**
 * The cluster side: `connectionTimeout` is the connect timeout; on HTTP clusters the upstream
 * connections' idle timeout and their streams' and connections' maximum durations (Kuma sets these on
 * http and http2 clusters; meshfed on grpc ones too, which are HTTP/2 connections all the same).
 */
function configureCluster(conf: Conf, protocol: Protocol, cluster: Draft): void {
  cluster['connect_timeout'] = or(conf.connectionTimeout, DEFAULTS.connectionTimeout);
  if (!isHttp(protocol)) return;
  upstreamHttpOptions(cluster)['common_http_protocol_options'] = {
    idle_timeout: or(conf.idleTimeout, DEFAULTS.idleTimeout),
    max_stream_duration: or(conf.http?.maxStreamDuration, DEFAULTS.maxStreamDuration),
    max_connection_duration: or(conf.http?.maxConnectionDuration, DEFAULTS.maxConnectionDuration),
  };
}

/**
 * The listener side: a TCP proxy's idle timeout; or the HTTP connection manager's stream idle timeout
 * (and request headers timeout when set), and `requestTimeout` as the timeout of every route that
 * forwards. The manager's own connection idle timeout is 0 as in Kuma: MeshTimeout's `idleTimeout`
 * lives on the cluster for HTTP.
 */
function configureListener(conf: Conf, tcpProxy: Draft | undefined, http: HttpDraft | undefined, perRoute: (route: Draft) => Conf | undefined = () => conf): void {
  if (tcpProxy) tcpProxy['idle_timeout'] = or(conf.idleTimeout, DEFAULTS.idleTimeout);
  if (!http) return;
  http.hcm['stream_idle_timeout'] = or(conf.http?.streamIdleTimeout, DEFAULTS.streamIdleTimeout);
  if (conf.http?.requestHeadersTimeout !== undefined) http.hcm['request_headers_timeout'] = envoyDuration(conf.http.requestHeadersTimeout);
  http.hcm['common_http_protocol_options'] = { idle_timeout: { seconds: 0 } };
  for (const route of http.routes) configureRoute(route, perRoute(route), conf);
}

/**
 * A forwarding route's timeout: `requestTimeout` of its own conf (a policy on its MeshHTTPRoute merged
 * over the destination's) or the destination's; and, where its own conf sets one, its stream idle
 * timeout (Kuma: the route's idle_timeout).
 */
function configureRoute(route: Draft, own: Conf | undefined, destination: Conf | undefined): void {
  const action = route['route'] as Draft | undefined;
  const conf = own ?? destination;
  if (!action || !conf) return;
  action['timeout'] = or(conf.http?.requestTimeout, DEFAULTS.requestTimeout);
  if (conf !== destination && conf.http?.streamIdleTimeout !== undefined) action['idle_timeout'] = envoyDuration(conf.http.streamIdleTimeout);
}

/**
 * MeshTimeout (Kuma's meshtimeout plugin): each outbound by the conf computed for its destination
 * service (`to`), on its listener and every cluster carrying its traffic; each inbound by the conf
 * computed for any client (`from`: Kuma computes it for the whole mesh), on its listener and local
 * cluster.
 */
export const meshTimeoutPlugin: PolicyPlugin<'MeshTimeout'> = {
  kind: 'MeshTimeout',
  applySidecar(draft, rules) {
    if (!rules) return;
    for (const d of destinations(draft)) {
      const conf = rules.toByService[d.service]?.conf;
      if (!conf) {
        // Only policies on its MeshHTTPRoutes: those routes alone.
        for (const ob of d.outbounds) for (const route of ob.http?.routes ?? []) configureRoute(route, routeConf(rules, d.service, route, undefined), undefined);
        continue;
      }
      for (const cluster of d.clusters) configureCluster(conf, d.protocol, cluster);
      for (const ob of d.outbounds) configureListener(conf, ob.tcpProxy, ob.http, (route) => routeConf(rules, d.service, route, conf));
    }
    for (const ib of draft.inbounds) {
      const conf = computeForAnyClient(rules.from[ib.rulesKey])?.conf as Conf | undefined;
      if (!conf) continue;
      configureCluster(conf, ib.protocol, ib.localCluster);
      configureListener(conf, ib.tcpProxy, ib.http);
    }
  },
};
