/**
 * A builtin gateway's listeners: one per port of the MeshGateway it serves, on the Dataplane's
 * address, as drafts the plugins then shape (GatewayListenerDraft), and their encoding.
 */
import { ENVOY_EXTENSION_NAME, ENVOY_TYPE, listenerTags, routeSelects } from '@meshfed/shared';
import { type Draft, lazyTyped, socketAddress, statPrefix, TLS_INSPECTOR } from '../envoy-parts.js';
import { inboundRulesKey } from '../matching.js';
import { type BuiltinGatewayInstance, type GatewayEntry, type GatewayRouteEntry, type MeshIndex } from '../zone-index.js';
import type { GatewayChainDraft, GatewayHttpDraft, GatewayListenerDraft } from '../../plugins/index.js';
import type { GatewayBackends } from './backends.js';
import { compareHostnames } from './hostnames.js';
import { httpVirtualHosts, type Listener, tcpProxy } from './routes.js';
import { gatewayCertificates, gatewayCertSecret, gatewayCertSecretName, gatewayDownstreamTls } from './tls.js';

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

/** The MeshGatewayRoutes attached to a listener: their selectors match its tags (instance's, gateway's, listener's). */
export function attachedRoutes(mesh: MeshIndex, instance: BuiltinGatewayInstance, gw: GatewayEntry, l: Listener): GatewayRouteEntry[] {
  const tags = listenerTags(instance.dataplane.spec.networking.gateway?.tags ?? {}, gw.spec, l);
  return mesh.gatewayRoutes.filter((r) => routeSelects(r.spec, tags));
}

/**
 * `resources.connectionLimit` as Envoy's connection_limit network filter, first on every chain of the
 * port. Kuma takes one limit per port (listeners of a port must agree); differing ones here: the
 * lowest is enforced, and said.
 */
function connectionLimit(gw: GatewayEntry, port: number, ls: readonly Listener[], stat: string, problems: string[]): Draft[] {
  const limits = [...new Set(ls.flatMap((l) => (l.resources?.connectionLimit !== undefined ? [l.resources.connectionLimit] : [])))];
  if (limits.length === 0) return [];
  const limit = Math.min(...limits);
  if (limits.length > 1) problems.push(`MeshGateway ${gw.name} port ${port}: its listeners set different resources.connectionLimit (${limits.join(', ')}); the lowest, ${limit}, is enforced`);
  return [{ name: ENVOY_EXTENSION_NAME.connectionLimit, typed_config: lazyTyped(ENVOY_TYPE.connectionLimit, { stat_prefix: stat, max_connections: { value: limit } }) }];
}

const byHostname = (a: Listener, b: Listener) => compareHostnames(a.hostname ?? '*', b.hostname ?? '*');

/**
 * The TLS-terminating chains of a port, one per listener hostname (by SNI; `*` last, without server
 * names), each with the certificates its listener names. A hostname whose certificates cannot be used
 * is left out, and said: `served` are the listeners that got a chain.
 */
function terminatingChains(gw: GatewayEntry, port: number, ls: readonly Listener[], alpn: readonly string[] | undefined, problems: string[]): { served: Listener[]; chains: GatewayChainDraft[] } {
  const served: Listener[] = [];
  const chains: GatewayChainDraft[] = [];
  for (const l of [...ls].sort(byHostname)) {
    const hostname = l.hostname ?? '*';
    const where = `MeshGateway ${gw.name} port ${port} hostname ${hostname}`;
    if (l.tls?.options !== undefined) problems.push(`${where}: tls.options are not applied`);
    const certs = gatewayCertificates(gw, l.tls?.certificates ?? []);
    if ('issues' in certs) {
      problems.push(`${where}: ${certs.issues.join('; ')}; the hostname is not served`);
      continue;
    }
    served.push(l);
    const secrets = certs.certificates.map((c) => gatewayCertSecret(gatewayCertSecretName(gw.name, port, hostname, c.keyType), c));
    chains.push({ ...(hostname !== '*' ? { serverNames: [hostname] } : {}), transportSocket: gatewayDownstreamTls(secrets.map((s) => s['name'] as string), alpn), secrets });
  }
  return { served, chains };
}

/** The listener drafts of a gateway instance: one per port (listeners sharing a port share its Envoy listener). */
export function gatewayListeners(instance: BuiltinGatewayInstance, gw: GatewayEntry, mesh: MeshIndex, backends: GatewayBackends, problems: string[]): GatewayListenerDraft[] {
  const ports = new Map<number, Listener[]>();
  for (const l of gw.spec.conf.listeners) {
    const list = ports.get(l.port);
    if (list) list.push(l);
    else ports.set(l.port, [l]);
  }
  const address = instance.dataplane.spec.networking.address;
  const out: GatewayListenerDraft[] = [];
  for (const [port, ls] of [...ports].sort(([a], [b]) => a - b)) {
    // MeshGateway validation gives every listener of a port the same protocol.
    const protocol = ls[0]!.protocol;
    const name = gatewayListenerName(gw.name, protocol, port);
    const stat = statPrefix(name);
    const base = {
      rulesKey: inboundRulesKey({ port }), name, port, protocol,
      // Edge best practice: a bounded read buffer per connection.
      listener: { name, address: socketAddress(address, port), traffic_direction: 'INBOUND', per_connection_buffer_limit_bytes: { value: 32768 } } as Draft,
      filters: connectionLimit(gw, port, ls, stat, problems),
    };
    const http = (served: readonly Listener[]): GatewayHttpDraft => {
      const virtualHosts = httpVirtualHosts(gw, served, (l) => attachedRoutes(mesh, instance, gw, l).filter((r) => r.spec.conf.http !== undefined), mesh, backends, problems);
      const httpFilters: Draft[] = [{ name: ENVOY_EXTENSION_NAME.router, typed_config: lazyTyped(ENVOY_TYPE.router, {}) }];
      return { hcm: edgeHcm(stat, name, httpFilters), httpFilters, virtualHosts };
    };
    if (protocol === 'HTTP') {
      // Kuma builds a port as crossMesh by its first listener; the mesh-mTLS chain comes with the flag.
      const crossMesh = ls[0]!.crossMesh === true;
      if (ls.some((l) => (l.crossMesh === true) !== crossMesh)) problems.push(`MeshGateway ${gw.name} port ${port}: some of its listeners are crossMesh and some not; the port is built as its first listener says (crossMesh ${crossMesh})`);
      out.push({ ...base, chains: [{}], http: http(ls), ...(crossMesh ? { crossMesh: true as const } : {}) });
    } else if (protocol === 'HTTPS') {
      // Kuma's validation: an HTTPS listener terminates TLS (PASSTHROUGH is for TLS listeners).
      const terminating = ls.filter((l) => {
        if (l.tls?.mode !== 'PASSTHROUGH') return true;
        problems.push(`MeshGateway ${gw.name} port ${port} hostname ${l.hostname ?? '*'}: tls.mode PASSTHROUGH is not supported on an HTTPS listener (use protocol TLS); the hostname is not served`);
        return false;
      });
      const { served, chains } = terminatingChains(gw, port, terminating, ['h2', 'http/1.1'], problems);
      // The route configuration only has the hostnames served: a left-out one's routes are never reached through another's certificate.
      if (chains.length > 0) out.push({ ...base, chains, http: http(served) });
    } else if (protocol === 'TCP') {
      if (ls.length > 1) problems.push(`MeshGateway ${gw.name} TCP port ${port}: ${ls.length} listeners share it; the first one's routes are used`);
      out.push({ ...base, chains: [{}], tcpProxy: tcpProxy(stat, gw, port, attachedRoutes(mesh, instance, gw, ls[0]!), mesh, backends, problems) });
    } else {
      const terminated = terminatingChains(gw, port, ls.filter((l) => l.tls?.mode !== 'PASSTHROUGH'), undefined, problems);
      // Passthrough: the client's TLS goes to the backend untouched; the SNI only picks the chain.
      const passthrough = ls.filter((l) => l.tls?.mode === 'PASSTHROUGH');
      for (const l of passthrough) {
        if ((l.tls?.certificates ?? []).length > 0) problems.push(`MeshGateway ${gw.name} port ${port} hostname ${l.hostname ?? '*'}: tls.certificates are not used in PASSTHROUGH mode (the backend presents its own)`);
      }
      const served = [...terminated.served, ...passthrough].sort(byHostname);
      const chains = served.map((l) => terminated.chains[terminated.served.indexOf(l)] ?? (l.hostname !== undefined && l.hostname !== '*' ? { serverNames: [l.hostname] } : {}));
      if (chains.length === 0) continue;
      // Kuma gives each hostname's chain its own TCP proxy; a GatewayListenerDraft has one terminal
      // for all its chains, so they share it: the routes attached to any of the port's listeners, the
      // first by name used (as for a TCP port), said when the hostnames' routes differ.
      const tcpRoutesOf = (l: Listener) => attachedRoutes(mesh, instance, gw, l).filter((r) => r.spec.conf.tcp !== undefined);
      const routes = [...new Map(served.flatMap(tcpRoutesOf).map((r) => [r.name, r])).values()].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
      if (new Set(served.map((l) => tcpRoutesOf(l).map((r) => r.name).sort().join(','))).size > 1) {
        problems.push(`MeshGateway ${gw.name} TLS port ${port}: its hostnames (${served.map((l) => l.hostname ?? '*').join(', ')}) attach different MeshGatewayRoutes but share one TCP proxy, which uses ${routes[0]?.name ?? 'none'} for all of them (give a hostname its own port to route it elsewhere)`);
      }
      out.push({ ...base, chains, tcpProxy: tcpProxy(stat, gw, port, routes, mesh, backends, problems) });
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
  // HTTPS and TLS ports take TLS only, as Kuma's: every chain, a listener's without hostname too,
  // requires the TLS inspector to have seen a ClientHello (plaintext finds no chain and is closed).
  const tlsPort = l.protocol === 'HTTPS' || l.protocol === 'TLS';
  const tlsChain = (c: GatewayChainDraft) => tlsPort || c.serverNames !== undefined || c.transportSocket !== undefined;
  const sni = l.chains.some(tlsChain);
  return {
    ...l.listener,
    ...(sni ? { listener_filters: [TLS_INSPECTOR] } : {}),
    filter_chains: l.chains.map((c) => ({
      ...(tlsChain(c) ? { filter_chain_match: { ...(c.serverNames ? { server_names: [...c.serverNames] } : {}), transport_protocol: 'tls' } } : {}),
      filters,
      ...(c.transportSocket ? { transport_socket: c.transportSocket } : {}),
    })),
  };
}
