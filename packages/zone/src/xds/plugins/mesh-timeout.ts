import { type Draft, type HttpDraft, upstreamHttpOptions } from '../generate/envoy-parts.js';
import { isHttp, type Protocol } from '../generate/protocol.js';
import { destinations, routeConf } from './destinations.js';
import { envoyDuration } from './envoy-values.js';
import { clusterToConfs, listenerFromConf, listenerRoutes, routeToConf, tcpToConf } from './gateway-confs.js';
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
 * A gateway listener's own timeouts from its `from` conf (Kuma's ConfigureGatewayListener): the
 * connection manager's idle, stream idle, request headers and whole-request timeouts, or the TCP
 * proxy's idle timeout. Kuma fills what the conf leaves out with its gateway defaults; the gateway
 * generator already set meshfed's own edge defaults (generate/gateway/listeners.ts), so only what
 * the conf sets replaces them.
 */
function configureGatewayListener(conf: Conf, tcpProxy: Draft | undefined, hcm: Draft | undefined): void {
  if (tcpProxy && conf.idleTimeout !== undefined) tcpProxy['idle_timeout'] = envoyDuration(conf.idleTimeout);
  if (!hcm) return;
  if (conf.idleTimeout !== undefined) hcm['common_http_protocol_options'] = { ...(hcm['common_http_protocol_options'] as Draft | undefined), idle_timeout: envoyDuration(conf.idleTimeout) };
  if (conf.http?.streamIdleTimeout !== undefined) hcm['stream_idle_timeout'] = envoyDuration(conf.http.streamIdleTimeout);
  if (conf.http?.requestHeadersTimeout !== undefined) hcm['request_headers_timeout'] = envoyDuration(conf.http.requestHeadersTimeout);
  if (conf.http?.requestTimeout !== undefined) hcm['request_timeout'] = envoyDuration(conf.http.requestTimeout);
}

/**
 * A gateway route's timeouts (Kuma's ConfigureRouteAction): the request timeout, the policy's or
 * Kuma's default; the stream idle timeout where the policy sets one. Kuma also gives a route without
 * one its 30m default, which would outlast the gateway connection manager's own (edge) stream idle
 * timeout on every route a policy touches: left to the connection manager here.
 */
function configureGatewayRoute(route: Draft, conf: Conf): void {
  const action = route['route'] as Draft | undefined;
  if (!action) return;
  action['timeout'] = or(conf.http?.requestTimeout, DEFAULTS.requestTimeout);
  if (conf.http?.streamIdleTimeout !== undefined) action['idle_timeout'] = envoyDuration(conf.http.streamIdleTimeout);
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
  /**
   * A builtin gateway (Kuma's applyToGateway): each listener's own timeouts from its `from` conf (a
   * TCP listener's idle timeout also from its `to` conf); each
   * route's from its `to` conf (gateway-confs: its MeshHTTPRoute rule's, its service's, or the Mesh
   * one); each cluster's by its service, as a sidecar's.
   */
  applyGateway(draft, rules, ctx) {
    if (!rules) return;
    for (const l of draft.listeners) {
      const from = listenerFromConf(rules, l);
      if (from) configureGatewayListener(from.conf as Conf, l.tcpProxy, l.http?.hcm);
      // A TCP listener forwards like a sidecar's outbound, whose idle timeout is its destination's
      // (`to`): Kuma reads only `from` here, which a policy on the MeshGateway cannot have.
      const tcp = from?.conf.idleTimeout === undefined ? tcpToConf(rules, draft, l, ctx.problems) : undefined;
      if (tcp?.conf.idleTimeout !== undefined && l.tcpProxy) l.tcpProxy['idle_timeout'] = envoyDuration(tcp.conf.idleTimeout);
      for (const { vh, route } of listenerRoutes(l)) {
        const c = routeToConf(rules, l, vh, route, ctx.problems);
        if (c) configureGatewayRoute(route.route, c.conf);
      }
    }
    for (const c of clusterToConfs(rules, draft, ctx.problems)) configureCluster(c.conf, c.cluster.protocol, c.cluster.cluster);
  },
};
