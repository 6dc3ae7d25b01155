/**
 * A builtin gateway's listeners: one per port of the MeshGateway it serves, on the Dataplane's
 * address, as drafts the plugins then shape (GatewayListenerDraft), and their encoding.
 */
import { ENVOY_EXTENSION_NAME, ENVOY_TYPE } from '@meshfed/shared';
import { type Draft, lazyTyped, socketAddress, statPrefix, TLS_INSPECTOR } from '../envoy-parts.js';
import { inboundRulesKey } from '../matching.js';
import { type BuiltinGatewayInstance, type GatewayEntry, type GatewayRouteEntry, type MeshIndex, selectorMatches } from '../zone-index.js';
import type { GatewayListenerDraft } from '../../plugins/index.js';
import type { GatewayBackends } from './backends.js';
import { httpVirtualHosts, type Listener, tcpProxy } from './routes.js';

/** The Envoy listener (and route configuration) name of a gateway port, as Kuma names it. */
export const gatewayListenerName = (gateway: string, protocol: string, port: number): string => `${gateway}:${protocol}:${port}`;

/**
 * Envoy's edge-proxy best practices, the minimal part applied here: the client's address is the
 * downstream peer (use_remote_address), paths normalized with slashes merged and escaped slashes
 * redirected, headers with underscores refused, idle / stream-idle / request-headers timeouts.
 */
function edgeHcm(stat: string, routeConfigName: string, httpFilters: Draft[]): Draft {
  return lazyTyped(ENVOY_TYPE.httpConnectionManager, {
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
    route_config: { name: routeConfigName, validate_clusters: { value: false } },
    http_filters: httpFilters,
  }) as Draft;
}

/** Kuma's listener tags of a gateway listener: the Dataplane's gateway tags, the MeshGateway's, the listener's. */
export function listenerTags(instance: BuiltinGatewayInstance, gw: GatewayEntry, l: Listener): Record<string, string> {
  return { ...(instance.dataplane.spec.networking.gateway?.tags ?? {}), ...(gw.spec.tags ?? {}), ...(l.tags ?? {}) };
}

/** The MeshGatewayRoutes attached to a listener: their selectors match its tags. */
export function attachedRoutes(mesh: MeshIndex, instance: BuiltinGatewayInstance, gw: GatewayEntry, l: Listener): GatewayRouteEntry[] {
  const tags = listenerTags(instance, gw, l);
  return mesh.gatewayRoutes.filter((r) => r.spec.selectors.some((s) => selectorMatches(s.match, tags)));
}

/** The listener drafts of a gateway instance: one per port (listeners sharing a port share its Envoy listener). */
export function gatewayListeners(instance: BuiltinGatewayInstance, gw: GatewayEntry, mesh: MeshIndex, backends: GatewayBackends, problems: string[]): GatewayListenerDraft[] {
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
  const address = instance.dataplane.spec.networking.address;
  const out: GatewayListenerDraft[] = [];
  for (const [port, ls] of [...ports].sort(([a], [b]) => a - b)) {
    const protocol = ls[0]!.protocol;
    const name = gatewayListenerName(gw.name, protocol, port);
    const base = {
      rulesKey: inboundRulesKey({ port }), name, port, protocol,
      // Edge best practice: a bounded read buffer per connection.
      listener: { name, address: socketAddress(address, port), traffic_direction: 'INBOUND', per_connection_buffer_limit_bytes: { value: 32768 } } as Draft,
      filters: [] as Draft[],
    };
    if (protocol === 'HTTP') {
      const virtualHosts = httpVirtualHosts(gw, ls, (l) => attachedRoutes(mesh, instance, gw, l).filter((r) => r.spec.conf.http !== undefined), mesh, backends, problems);
      const httpFilters: Draft[] = [{ name: ENVOY_EXTENSION_NAME.router, typed_config: lazyTyped(ENVOY_TYPE.router, {}) }];
      out.push({ ...base, chains: [{}], http: { hcm: edgeHcm(statPrefix(name), name, httpFilters), httpFilters, virtualHosts } });
    } else {
      if (ls.length > 1) problems.push(`MeshGateway ${gw.name} TCP port ${port}: ${ls.length} listeners share it; the first one's routes are used`);
      const proxy = tcpProxy(statPrefix(name), gw, port, attachedRoutes(mesh, instance, gw, ls[0]!), mesh, backends, problems);
      if (proxy) out.push({ ...base, chains: [{}], tcpProxy: proxy });
    }
  }
  return out;
}

/** The Envoy listener of a draft, once the plugins ran: one filter chain per chain draft, each with every filter. */
export function encodeGatewayListener(l: GatewayListenerDraft): Draft {
  let terminal: Draft | undefined;
  if (l.http) {
    const routeConfig = l.http.hcm['route_config'] as Draft;
    routeConfig['virtual_hosts'] = l.http.virtualHosts.map((vh) => ({ ...vh.virtualHost, routes: vh.routes.map((r) => r.route) }));
    terminal = { name: ENVOY_EXTENSION_NAME.httpConnectionManager, typed_config: l.http.hcm };
  } else if (l.tcpProxy) {
    terminal = { name: ENVOY_EXTENSION_NAME.tcpProxy, typed_config: l.tcpProxy };
  }
  const filters = [...l.filters, ...(terminal ? [terminal] : [])];
  const sni = l.chains.some((c) => c.serverNames !== undefined || c.transportSocket !== undefined);
  return {
    ...l.listener,
    ...(sni ? { listener_filters: [TLS_INSPECTOR] } : {}),
    filter_chains: l.chains.map((c) => ({
      ...(c.serverNames ? { filter_chain_match: { server_names: [...c.serverNames], transport_protocol: 'tls' } } : {}),
      filters,
      ...(c.transportSocket ? { transport_socket: c.transportSocket } : {}),
    })),
  };
}
