import { type Any, ENVOY_TYPE, pack, typed, XDS_TYPE_URL } from '@meshfed/shared';
import { makeSnapshot, type XdsResources, type XdsSnapshot } from './snapshot.js';

/** Synthetic Envoy resources for the xDS tests, encoded with the real protos. */
export function listener(name: string, port: number, route?: string): Any {
  const filter = route
    ? {
      name: 'envoy.filters.network.http_connection_manager',
      typed_config: typed(ENVOY_TYPE.httpConnectionManager, {
        stat_prefix: name, rds: { route_config_name: route, config_source: { ads: {} } },
        http_filters: [{ name: 'envoy.filters.http.router', typed_config: typed(ENVOY_TYPE.router, {}) }],
      }),
    }
    : { name: 'envoy.filters.network.tcp_proxy', typed_config: typed(ENVOY_TYPE.tcpProxy, { stat_prefix: name, cluster: 'backend' }) };
  return pack(XDS_TYPE_URL.listener, {
    name, address: { socket_address: { address: '127.0.0.1', port_value: port } }, filter_chains: [{ filters: [filter] }],
  });
}

export function edsCluster(name: string, timeoutSeconds = 5): Any {
  return pack(XDS_TYPE_URL.cluster, { name, type: 'EDS', connect_timeout: { seconds: timeoutSeconds }, eds_cluster_config: { eds_config: { ads: {} } } });
}

export function loadAssignment(cluster: string, ...ports: number[]): Any {
  return pack(XDS_TYPE_URL.endpoint, {
    cluster_name: cluster,
    endpoints: [{ lb_endpoints: ports.map((p) => ({ endpoint: { address: { socket_address: { address: '10.0.0.1', port_value: p } } } })) }],
  });
}

export function routeConfig(name: string, cluster: string): Any {
  return pack(XDS_TYPE_URL.route, {
    name, virtual_hosts: [{ name, domains: ['*'], routes: [{ match: { prefix: '/' }, route: { cluster } }] }],
  });
}

/** A listener, an EDS cluster and its ClusterLoadAssignment; `rev` changes the endpoints. */
export function baseResources(rev = 1): XdsResources {
  return {
    listener: { 'outbound:127.0.0.1:10001': listener('outbound:127.0.0.1:10001', 10001) },
    cluster: { backend: edsCluster('backend') },
    endpoint: { backend: loadAssignment('backend', ...Array.from({ length: rev }, (_, i) => 8080 + i)) },
  };
}

export function baseSnapshot(rev = 1): XdsSnapshot {
  return makeSnapshot(baseResources(rev));
}
