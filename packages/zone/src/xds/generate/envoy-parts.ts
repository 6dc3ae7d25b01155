import {
  type Any, ENVOY_EXTENSION_NAME, ENVOY_TYPE, type EnvoyObject, type EnvoyTypeName, identityCertSecretName, meshCaSecretName, pack, typed, XDS_TYPE_URL,
} from '@meshfed/shared';
import type { Endpoint } from './zone-index.js';
import { fieldSize, ProtoWriter, stringFieldSize, varintSize } from '../proto-writer.js';

/**
 * The pieces every generator assembles resources from: one spelling of each Envoy shape. They return
 * plain objects (Envoy's field names), with nested typed configs left unencoded (`lazyTyped`): the
 * plugins change them in place, and encoding happens once, at the end (see `encodeEnvoy` and
 * ResourceMemo.encode).
 */

/** A typed config not yet packed into an Any: `{ '@type': name, ...fields }`, as Envoy's JSON spells it. */
export type LazyTyped = { readonly '@type': EnvoyTypeName; readonly [field: string]: unknown };
/** A mutable Envoy object under construction. */
export type Draft = Record<string, unknown>;

export function lazyTyped(type: EnvoyTypeName, fields: EnvoyObject): LazyTyped {
  return { '@type': type, ...fields };
}

/** Packs every LazyTyped inside `value` into its Any, deepest first. */
function resolveLazy(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(resolveLazy);
  if (value === null || typeof value !== 'object' || value instanceof Uint8Array) return value;
  const out: Record<string, unknown> = {};
  let type: EnvoyTypeName | undefined;
  for (const [k, v] of Object.entries(value)) {
    if (k === '@type') type = v as EnvoyTypeName;
    else out[k] = resolveLazy(v);
  }
  return type === undefined ? out : typed(type, out);
}

/** The encoding of a resource built from these parts (its nested typed configs packed). */
export function encodeEnvoy(typeUrl: string, resource: EnvoyObject): Any {
  return pack(typeUrl, resolveLazy(resource) as EnvoyObject);
}

export const ADS_CONFIG_SOURCE = { ads: {}, resource_api_version: 'V3' } as const;
const CONNECT_TIMEOUT = { seconds: 5 };
/** Kuma's ALPN for mesh mTLS: both ends agree they speak mesh traffic. */
/** What mesh mTLS peers negotiate (Kuma's ALPN), so a mesh chain is told from other TLS. */
export const MESH_ALPN = ['kuma'];

export function socketAddress(address: string, port: number): EnvoyObject {
  return { socket_address: { address, port_value: port } };
}

export function tcpProxyFilter(statPrefix: string, cluster: string): EnvoyObject {
  return { name: ENVOY_EXTENSION_NAME.tcpProxy, typed_config: lazyTyped(ENVOY_TYPE.tcpProxy, { stat_prefix: statPrefix, cluster }) };
}

/**
 * An HTTP connection manager's parts as the plugins change them: the connection manager's typed
 * config, its HTTP filters (the router last: plugins insert before it) and the routes of its one
 * virtual host (first match wins; the catch-all to the service's cluster until a route policy says
 * otherwise). They are the objects inside `hcm`, so changing them changes it.
 */
export interface HttpDraft {
  readonly hcm: Draft;
  readonly httpFilters: Draft[];
  readonly routes: Draft[];
}

export interface HttpManagerOptions {
  readonly statPrefix: string;
  /** The route configuration's name (inline: never fetched by RDS, so one LDS push carries a route change). */
  readonly routeConfigName: string;
  readonly virtualHost: string;
  readonly cluster: string;
  readonly http2: boolean;
}

/** A route sending every request to one cluster. */
export function clusterRoute(cluster: string): Draft {
  return { match: { prefix: '/' }, route: { cluster } };
}

/** An HTTP connection manager network filter whose routes all go to `cluster` until a plugin says otherwise. */
export function httpConnectionManager(o: HttpManagerOptions): { filter: Draft; http: HttpDraft } {
  const httpFilters: Draft[] = [{ name: ENVOY_EXTENSION_NAME.router, typed_config: lazyTyped(ENVOY_TYPE.router, {}) }];
  const routes: Draft[] = [clusterRoute(o.cluster)];
  const hcm = lazyTyped(ENVOY_TYPE.httpConnectionManager, {
    stat_prefix: o.statPrefix,
    codec_type: 'AUTO',
    ...(o.http2 ? { http2_protocol_options: {} } : {}),
    route_config: { name: o.routeConfigName, validate_clusters: { value: false }, virtual_hosts: [{ name: o.virtualHost, domains: ['*'], routes }] },
    http_filters: httpFilters,
  }) as Draft;
  return { filter: { name: ENVOY_EXTENSION_NAME.httpConnectionManager, typed_config: hcm }, http: { hcm, httpFilters, routes } };
}

/**
 * A cluster's upstream HTTP protocol options (keyed by the options' type name, the current way),
 * created on first use: HTTP/1.1 unless the cluster was made to speak HTTP/2. Envoy requires the
 * explicit protocol once the options exist.
 */
export function upstreamHttpOptions(cluster: Draft): Draft {
  const byType = (cluster['typed_extension_protocol_options'] ??= {}) as Record<string, Draft>;
  return (byType[ENVOY_TYPE.httpProtocolOptions] ??= lazyTyped(ENVOY_TYPE.httpProtocolOptions, { explicit_http_config: { http_protocol_options: {} } }) as Draft);
}

/** Makes a cluster speak HTTP/2 to its upstream (gRPC and http2 services). */
export function useHttp2Upstream(cluster: Draft): void {
  upstreamHttpOptions(cluster)['explicit_http_config'] = { http2_protocol_options: {} };
}

export const TLS_INSPECTOR: EnvoyObject = { name: ENVOY_EXTENSION_NAME.tlsInspector, typed_config: lazyTyped(ENVOY_TYPE.tlsInspector, {}) };

/** Stats prefixes may not contain ':' meaningfully for Prometheus; Envoy tolerates it, readers do not. */
export function statPrefix(name: string): string {
  return name.replace(/[^A-Za-z0-9_.-]/g, '_');
}

export type SanMatch = { readonly exact: string } | { readonly prefix: string };

function meshTlsContext(mesh: string, san: SanMatch): EnvoyObject {
  return {
    tls_certificate_sds_secret_configs: [{ name: identityCertSecretName(mesh), sds_config: ADS_CONFIG_SOURCE }],
    combined_validation_context: {
      default_validation_context: { match_typed_subject_alt_names: [{ san_type: 'URI', matcher: san }] },
      validation_context_sds_secret_config: { name: meshCaSecretName(mesh), sds_config: ADS_CONFIG_SOURCE },
    },
    alpn_protocols: MESH_ALPN,
  };
}

/** Client side of mesh mTLS: present our identity, check the peer's SPIFFE id, name the service in SNI. */
export function upstreamMeshTls(mesh: string, sni: string, san: SanMatch): EnvoyObject {
  return {
    name: ENVOY_EXTENSION_NAME.tlsTransportSocket,
    typed_config: lazyTyped(ENVOY_TYPE.upstreamTlsContext, { sni, common_tls_context: meshTlsContext(mesh, san) }),
  };
}

/** Server side of mesh mTLS: a client certificate from the mesh CA is required. */
export function downstreamMeshTls(mesh: string, san: SanMatch): EnvoyObject {
  return {
    name: ENVOY_EXTENSION_NAME.tlsTransportSocket,
    typed_config: lazyTyped(ENVOY_TYPE.downstreamTlsContext, { common_tls_context: meshTlsContext(mesh, san), require_client_certificate: { value: true } }),
  };
}

export interface OriginationTls {
  /** Absent: no SNI (the server is dialled by IP and no serverName was given). */
  readonly sni?: string;
  /** The CA the server's chain must lead to; absent, the server's certificate is not verified. */
  readonly caPem?: string;
  /** A SAN the server's certificate must have, as a DNS or an IP entry (with caPem only). */
  readonly verifyName?: string;
  readonly clientCertPem?: string;
  readonly clientKeyPem?: string;
  readonly allowRenegotiation?: boolean;
}

/**
 * TLS to a server outside the mesh (an ExternalService with `tls.enabled`), as Kuma configures it:
 * the name is matched against the certificate's DNS and IP SANs alike (Envoy accepts the certificate
 * when any one matches: a DNS SAN may be a wildcard, an IP SAN must be equal).
 */
export function upstreamOriginationTls(o: OriginationTls): EnvoyObject {
  const common: Record<string, unknown> = {};
  if (o.clientCertPem !== undefined && o.clientKeyPem !== undefined) {
    common['tls_certificates'] = [{ certificate_chain: { inline_string: o.clientCertPem }, private_key: { inline_string: o.clientKeyPem } }];
  }
  if (o.caPem !== undefined) {
    common['validation_context'] = {
      trusted_ca: { inline_string: o.caPem },
      ...(o.verifyName !== undefined
        ? { match_typed_subject_alt_names: (['DNS', 'IP_ADDRESS'] as const).map((san_type) => ({ san_type, matcher: { exact: o.verifyName } })) }
        : {}),
    };
  }
  return {
    name: ENVOY_EXTENSION_NAME.tlsTransportSocket,
    typed_config: lazyTyped(ENVOY_TYPE.upstreamTlsContext, {
      ...(o.sni !== undefined ? { sni: o.sni } : {}),
      ...(Object.keys(common).length > 0 ? { common_tls_context: common } : {}),
      ...(o.allowRenegotiation ? { allow_renegotiation: true } : {}),
    }),
  };
}

/** A cluster whose endpoints come by EDS under the same name. */
export function edsCluster(name: string, transportSocket?: EnvoyObject): Draft {
  return {
    name, type: 'EDS', connect_timeout: CONNECT_TIMEOUT, lb_policy: 'ROUND_ROBIN',
    eds_cluster_config: { eds_config: ADS_CONFIG_SOURCE },
    common_lb_config: { locality_weighted_lb_config: {} },
    ...(transportSocket ? { transport_socket: transportSocket } : {}),
  };
}

/** A cluster to a fixed address: an IP (STATIC) or a DNS name (STRICT_DNS, re-resolved by Envoy). */
export function addressCluster(name: string, host: string, port: number, transportSocket?: EnvoyObject): Draft {
  const isIp = /^[\d.]+$/.test(host) || host.includes(':');
  return {
    name, type: isIp ? 'STATIC' : 'STRICT_DNS', connect_timeout: CONNECT_TIMEOUT, lb_policy: 'ROUND_ROBIN',
    ...(isIp ? {} : { dns_lookup_family: 'V4_PREFERRED' }),
    load_assignment: { cluster_name: name, endpoints: [{ lb_endpoints: [{ endpoint: { address: socketAddress(host, port) } }] }] },
    ...(transportSocket ? { transport_socket: transportSocket } : {}),
  };
}

/** How one caller orders a service's localities instead of the shared default (see loadAssignment). */
export interface LocalityOrder {
  /** Each locality's priority, from one of its endpoints; undefined leaves the locality out. */
  readonly priorityOf: (e: Endpoint) => number | undefined;
  /** Envoy's overprovisioning factor (percent, default 140): how unhealthy a priority gets before traffic spills over. */
  readonly overprovisioningFactor?: number;
  /**
   * Splits the local zone's instances into localities (sub-zones) that share its traffic by weight
   * (MeshLoadBalancingStrategy affinity tags): each instance's group and the group's locality weight.
   */
  readonly localGroup?: (e: Endpoint) => { readonly name: string; readonly weight: number };
}

/**
 * A ClusterLoadAssignment: one locality per zone with the weights of its endpoints summed as the
 * locality's weight (locality-weighted balancing then splits traffic by instances across zones). With
 * `localFirst`, the local zone is priority 0 and every other zone priority 1: Envoy only spills over
 * when the local zone is unhealthy. An `order` replaces that with the caller's own priorities
 * (MeshLoadBalancingStrategy), renumbered from 0 without gaps as Envoy requires.
 */
export function loadAssignment(clusterName: string, endpoints: readonly Endpoint[], localZone: string, localFirst: boolean, order?: LocalityOrder): Draft {
  const groups = new Map<string, Endpoint[]>();
  const groupOf = new Map<string, { readonly name: string; readonly weight: number }>();
  for (const e of endpoints) {
    const group = order?.localGroup && e.zone === localZone && e.subZone === undefined ? order.localGroup(e) : undefined;
    const key = `${e.zone}\u0000${e.subZone ?? ''}${group ? `\u0001${group.name}` : ''}`;
    if (group) groupOf.set(key, group);
    const list = groups.get(key);
    if (list) list.push(e);
    else groups.set(key, [e]);
  }
  const local = `${localZone}\u0000`;
  // The local zone (all its groups) first, then by key.
  const isLocal = (k: string) => k === local || k.startsWith(`${local}\u0001`);
  const keys = [...groups.keys()].sort((a, b) => (isLocal(a) !== isLocal(b) ? (isLocal(a) ? -1 : 1) : a < b ? -1 : a > b ? 1 : 0));
  const ordered = order ? keys.map((k) => [k, order.priorityOf(groups.get(k)![0]!)] as const).filter((x): x is readonly [string, number] => x[1] !== undefined) : undefined;
  const ranks = ordered ? [...new Set(ordered.map(([, p]) => p))].sort((a, b) => a - b) : [];
  const priority = (key: string): number => {
    if (ordered) return ranks.indexOf(ordered.find(([k]) => k === key)![1]);
    // Priorities must start at 0 without gaps: with no local endpoints, the others are priority 0.
    return localFirst && key !== local && groups.has(local) ? 1 : 0;
  };
  return {
    cluster_name: clusterName,
    endpoints: (ordered ? ordered.map(([k]) => k) : keys).map((key) => {
      const list = groups.get(key)!;
      const { zone } = list[0]!;
      const group = groupOf.get(key);
      const subZone = group?.name ?? list[0]!.subZone;
      const p = priority(key);
      return {
        locality: { zone, ...(subZone !== undefined ? { sub_zone: subZone } : {}) },
        lb_endpoints: list.map((e) => ({ endpoint: { address: socketAddress(e.address, e.port) }, load_balancing_weight: { value: e.weight } })),
        // An affinity group's share is its weight, not its size (Kuma: "groups share traffic by weight").
        load_balancing_weight: { value: group?.weight ?? list.reduce((s, e) => s + e.weight, 0) },
        ...(p > 0 ? { priority: p } : {}),
      };
    }),
    ...(order?.overprovisioningFactor !== undefined ? { policy: { overprovisioning_factor: { value: order.overprovisioningFactor } } } : {}),
  };
}

/** The SDS secret with a proxy's certificate and key in one mesh. */
export function identitySecret(mesh: string, certPem: string, keyPem: string): Draft {
  return {
    name: identityCertSecretName(mesh),
    tls_certificate: { certificate_chain: { inline_string: certPem }, private_key: { inline_string: keyPem } },
  };
}

/** The SDS secret with the mesh CA, which every peer's certificate must chain to. */
export function meshCaSecret(mesh: string, caPem: string): Draft {
  return { name: meshCaSecretName(mesh), validation_context: { trusted_ca: { inline_string: caPem } } };
}

export interface FilterChain {
  /** SNI the chain serves (TLS only: implies transport protocol `tls`). */
  readonly serverNames?: readonly string[];
  /** The transport the TLS inspector saw: `tls`, or `raw_buffer` for anything else (plaintext). */
  readonly transportProtocol?: 'tls' | 'raw_buffer';
  /** ALPN protocols the client offered, one of which it must have (the TLS inspector reads them). */
  readonly applicationProtocols?: readonly string[];
  readonly filters: readonly EnvoyObject[];
  readonly transportSocket?: EnvoyObject;
}

export function listener(name: string, address: string, port: number, direction: 'INBOUND' | 'OUTBOUND', chains: readonly FilterChain[], sniRouted = false): Draft {
  return {
    name, address: socketAddress(address, port), traffic_direction: direction,
    ...(sniRouted ? { listener_filters: [TLS_INSPECTOR] } : {}),
    filter_chains: chains.map(filterChain),
  };
}

function filterChain(c: FilterChain): EnvoyObject {
  const transport = c.transportProtocol ?? (c.serverNames ? 'tls' : undefined);
  const match = {
    ...(c.serverNames ? { server_names: [...c.serverNames] } : {}),
    ...(transport !== undefined ? { transport_protocol: transport } : {}),
    ...(c.applicationProtocols ? { application_protocols: [...c.applicationProtocols] } : {}),
  };
  return {
    ...(Object.keys(match).length > 0 ? { filter_chain_match: match } : {}),
    filters: [...c.filters],
    ...(c.transportSocket ? { transport_socket: c.transportSocket } : {}),
  };
}

/**
 * Filters of an inbound's mesh mTLS chain that act on the caller's mesh identity (MeshTrafficPermission's
 * RBAC), marked as they are made: the plaintext chains of a PERMISSIVE inbound carry every other filter
 * of the mTLS chain but these (there is no identity to check). A mark on the object, not a position or
 * a name: it stays with the filter wherever plugins move it, and never reaches the encoding.
 */
const MESH_IDENTITY_FILTERS = new WeakSet<object>();

/** Marks `filter` as one that checks the caller's mesh identity (see MESH_IDENTITY_FILTERS). */
export function meshIdentityFilter<T extends object>(filter: T): T {
  MESH_IDENTITY_FILTERS.add(filter);
  return filter;
}

export const isMeshIdentityFilter = (filter: object): boolean => MESH_IDENTITY_FILTERS.has(filter);

/**
 * The filter chains of a sidecar's inbound listener (Kuma's inbound_proxy_generator). Without mTLS, or
 * STRICT: one chain, mesh mTLS when `transportSocket` is set. PERMISSIVE (`acceptPlaintext`), behind the
 * TLS inspector: the mesh mTLS chain matches TLS offering the mesh's ALPN (`kuma`); plaintext
 * (`raw_buffer`) and TLS that is not the mesh's (passed through to the service untouched) get chains
 * with the same filters minus those checking the mesh identity, and no TLS termination.
 */
export function inboundChains(filters: readonly EnvoyObject[], transportSocket: EnvoyObject | undefined, acceptPlaintext: boolean): { chains: FilterChain[]; inspectTls: boolean } {
  if (!transportSocket || !acceptPlaintext) return { chains: [{ filters, ...(transportSocket ? { transportSocket } : {}) }], inspectTls: false };
  const plaintext = filters.filter((f) => !isMeshIdentityFilter(f));
  return {
    chains: [
      { transportProtocol: 'raw_buffer', filters: plaintext },
      { transportProtocol: 'tls', filters: plaintext },
      { transportProtocol: 'tls', applicationProtocols: MESH_ALPN, filters, transportSocket },
    ],
    inspectTls: true,
  };
}

/**
 * A listener as two encoded parts: its name and address (fields 1 and 2, per proxy), then everything
 * else (fields 3 and up, equal for every proxy of one shape, so `tail` is built and checked once and
 * shared). Protobuf messages concatenate: head + tail is exactly the encoding of the whole listener
 * with fields in number order, the same bytes `listener` would give (the generator tests check that
 * every generated resource round-trips).
 */
export function listenerOnTail(name: string, address: string, port: number, tail: Any): Any {
  // The head by hand (this runs per proxy of a mesh-wide change; protobufjs's checked encoding of
  // these two fields cost more than the rest of the proxy's generation): the bytes pack writes for
  // `{ name, address: { socket_address: { address, port_value } } }` (envoy-parts.test.ts compares).
  if (!Number.isInteger(port) || port < 0 || port > 0xffffffff) return listenerOnTailChecked(name, address, port, tail);
  const socket = stringFieldSize(address) + 1 + varintSize(port);
  const addressMsg = fieldSize(socket);
  const w = new ProtoWriter(Buffer.allocUnsafe(stringFieldSize(name) + fieldSize(addressMsg) + tail.value.length));
  w.string(0x0a, name); // Listener.name
  w.header(0x12, addressMsg); // Listener.address
  w.header(0x0a, socket); // Address.socket_address
  w.string(0x12, address); // SocketAddress.address
  w.uint(0x18, port); // SocketAddress.port_value
  w.raw(tail.value);
  const out = w.end('Listener');
  return { type_url: XDS_TYPE_URL.listener, value: out };
}

/** listenerOnTail through protobufjs's checked encoding (what the hand encoder must equal; and its errors). */
export function listenerOnTailChecked(name: string, address: string, port: number, tail: Any): Any {
  const head = pack(XDS_TYPE_URL.listener, { name, address: socketAddress(address, port) });
  return { type_url: XDS_TYPE_URL.listener, value: Buffer.concat([head.value, tail.value]) };
}


/**
 * The shared part of a listener for listenerOnTail: everything but its name and address; with
 * `inspectTls`, the TLS inspector, which chains matching a transport protocol or ALPN need.
 */
export function listenerTail(direction: 'INBOUND' | 'OUTBOUND', chains: readonly FilterChain[], inspectTls = false): Draft {
  return {
    traffic_direction: direction,
    ...(inspectTls ? { listener_filters: [TLS_INSPECTOR] } : {}),
    filter_chains: chains.map(filterChain),
  };
}
