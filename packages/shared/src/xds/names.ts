import { SERVICE_TAG } from '../resources/meta.js';
import { EnvoyNameError } from './errors.js';

/**
 * Every name meshfed gives an Envoy resource, in Kuma's formats (pkg/xds/envoy/names, pkg/tls/sni.go),
 * so that config dumps read like Kuma's. Generators never format a name themselves.
 *
 * Guarantees, for parts that pass the resource schemas (mesh names: [0-9a-z_-]; service names and
 * tags: Kuma's tag characters, never `{ } , =`):
 * - uniqueness: within one family, distinct inputs give distinct names; families that share an xDS
 *   type on one proxy do not collide (listeners are prefixed `inbound:` / `outbound:`; on a sidecar
 *   `localhost:<port>` is reserved for local clusters — a service literally named so would collide);
 * - round-trip: every name something else hands back to us (SNI from a TLS handshake, a SPIFFE id from
 *   a certificate, a listener or mesh-cluster name, a node id) has a parse function with
 *   `parse(build(x))` equal to `x`; parse functions never throw and answer undefined for a malformed name.
 * Builders whose names are parsed back check the characters that would break the round-trip and throw
 * an EnvoyNameError: reaching one means a resource bypassed validation.
 */

// ---- listeners ----------------------------------------------------------------------------------

export type ListenerDirection = 'inbound' | 'outbound';

/** A sidecar's inbound listener: `inbound:10.0.0.1:8080`. */
export function inboundListenerName(address: string, port: number): string {
  return `inbound:${address}:${port}`;
}

/** A sidecar's outbound listener: `outbound:127.0.0.1:10001`. */
export function outboundListenerName(address: string, port: number): string {
  return `outbound:${address}:${port}`;
}

/** A zone ingress's one listener; Kuma names it as an inbound (`inbound:<address>:<port>`). */
export const zoneIngressListenerName = inboundListenerName;

/** A zone egress's one listener; Kuma names it as an inbound (`inbound:<address>:<port>`). */
export const zoneEgressListenerName = inboundListenerName;

/** The parts of an inbound/outbound listener name; IPv6 addresses keep their colons. */
export function parseListenerName(name: string): { direction: ListenerDirection; address: string; port: number } | undefined {
  const m = /^(inbound|outbound):(.+):(\d{1,5})$/.exec(name);
  if (!m) return undefined;
  const port = Number(m[3]);
  if (port > 65535 || String(port) !== m[3]) return undefined;
  return { direction: m[1] as ListenerDirection, address: m[2] ?? '', port };
}

// ---- clusters -----------------------------------------------------------------------------------

/** A sidecar's cluster for one destination service: the service name itself (`backend`). */
export function outboundClusterName(service: string): string {
  return service;
}

/** A sidecar's cluster for its own application on one inbound port: `localhost:8080`. */
export function localClusterName(port: number): string {
  return `localhost:${port}`;
}

/**
 * A cluster on a zone ingress or egress, which serve several meshes at once: `default:backend`.
 * The mesh comes first and cannot contain ':', so the first ':' splits it back.
 */
export function meshClusterName(mesh: string, service: string): string {
  checkMesh(mesh);
  return `${mesh}:${service}`;
}

export function parseMeshClusterName(name: string): { mesh: string; service: string } | undefined {
  const i = name.indexOf(':');
  if (i <= 0 || i === name.length - 1) return undefined;
  return { mesh: name.slice(0, i), service: name.slice(i + 1) };
}

// ---- routes -------------------------------------------------------------------------------------

/** The RouteConfiguration of an HTTP outbound: `outbound:backend`. */
export function outboundRouteName(service: string): string {
  return `outbound:${service}`;
}

/** The RouteConfiguration of an HTTP inbound: `inbound:backend`. */
export function inboundRouteName(service: string): string {
  return `inbound:${service}`;
}

// ---- secrets ------------------------------------------------------------------------------------

/** The SDS secret with a proxy's own certificate and key in a mesh: `identity_cert:secret:default`. */
export function identityCertSecretName(mesh: string): string {
  return `identity_cert:secret:${mesh}`;
}

/** The SDS secret with a mesh's CA bundle (validation context): `mesh_ca:secret:default`. */
export function meshCaSecretName(mesh: string): string {
  return `mesh_ca:secret:${mesh}`;
}

// ---- SNI and SPIFFE -----------------------------------------------------------------------------

const SNI_FORBIDDEN = /[{},=]/;

/**
 * The SNI a client sends for mTLS traffic to a service, in Kuma's format: the service, then every
 * other tag plus `mesh` sorted by key in braces — `backend{mesh=default}`,
 * `backend{mesh=default,version=v1}`. `tags` may include `kuma.io/service` (it is the service part
 * and not repeated) but not `mesh`.
 */
export function serviceSni(service: string, mesh: string, tags: Readonly<Record<string, string>> = {}): string {
  checkSniPart('service', service);
  checkMesh(mesh);
  const all: Record<string, string> = { mesh };
  for (const [k, v] of Object.entries(tags)) {
    if (k === SERVICE_TAG) {
      if (v !== service) throw new EnvoyNameError(`tag ${SERVICE_TAG}=${v} contradicts service ${service}`);
      continue;
    }
    if (k === 'mesh') throw new EnvoyNameError(`tag "mesh" is reserved in an SNI: the mesh is given on its own`);
    checkSniPart('tag key', k);
    checkSniPart(`tag ${k}`, v);
    all[k] = v;
  }
  const inner = Object.keys(all).sort().map((k) => `${k}=${all[k]}`).join(',');
  return `${service}{${inner}}`;
}

/** The parts of an SNI built by serviceSni (`tags` without `mesh` and `kuma.io/service`). */
export function parseServiceSni(sni: string): { service: string; mesh: string; tags: Record<string, string> } | undefined {
  const m = /^([^{},=]+)\{([^{}]*)\}$/.exec(sni);
  if (!m) return undefined;
  const service = m[1] ?? '';
  const tags: Record<string, string> = {};
  let mesh: string | undefined;
  let previous = '';
  for (const pair of (m[2] ?? '').split(',')) {
    const eq = pair.indexOf('=');
    if (eq <= 0) return undefined;
    const key = pair.slice(0, eq);
    const value = pair.slice(eq + 1);
    // sorted and unique keys only: the one spelling serviceSni produces
    if (value === '' || value.includes('=') || key <= previous || key === SERVICE_TAG) return undefined;
    previous = key;
    if (key === 'mesh') mesh = value;
    else tags[key] = value;
  }
  if (mesh === undefined) return undefined;
  return { service, mesh, tags };
}

/** The SPIFFE id in a dataplane's certificate: `spiffe://default/backend`. */
export function spiffeId(mesh: string, service: string): string {
  checkMesh(mesh);
  if (service === '') throw new EnvoyNameError('a SPIFFE id needs a service');
  return `spiffe://${mesh}/${service}`;
}

export function parseSpiffeId(uri: string): { mesh: string; service: string } | undefined {
  const m = /^spiffe:\/\/([^/]+)\/(.+)$/.exec(uri);
  if (!m) return undefined;
  return { mesh: m[1] ?? '', service: m[2] ?? '' };
}

// ---- proxy identity -----------------------------------------------------------------------------

/** A dataplane's xDS `node.id`: `<mesh>.<name>` (zone ingresses and egresses use their bare name). */
export function dataplaneNodeId(mesh: string, name: string): string {
  checkMesh(mesh);
  if (name === '') throw new EnvoyNameError('a node id needs a dataplane name');
  return `${mesh}.${name}`;
}

/** The mesh and name of a dataplane node id; the mesh has no dots, so the first dot splits. */
export function parseDataplaneNodeId(id: string): { mesh: string; name: string } | undefined {
  const i = id.indexOf('.');
  if (i <= 0 || i === id.length - 1) return undefined;
  return { mesh: id.slice(0, i), name: id.slice(i + 1) };
}

// ---- extension names ----------------------------------------------------------------------------

/** The canonical names Envoy gives the extensions meshfed configures (the `name` beside a typed_config). */
export const ENVOY_EXTENSION_NAME = {
  tlsInspector: 'envoy.filters.listener.tls_inspector',
  tcpProxy: 'envoy.filters.network.tcp_proxy',
  httpConnectionManager: 'envoy.filters.network.http_connection_manager',
  sniCluster: 'envoy.filters.network.sni_cluster',
  networkRbac: 'envoy.filters.network.rbac',
  networkLocalRateLimit: 'envoy.filters.network.local_ratelimit',
  connectionLimit: 'envoy.filters.network.connection_limit',
  httpRbac: 'envoy.filters.http.rbac',
  httpLocalRateLimit: 'envoy.filters.http.local_ratelimit',
  httpFault: 'envoy.filters.http.fault',
  uriSanInput: 'envoy.matching.inputs.uri_san',
  skipFilter: 'skip',
  fileAccessLog: 'envoy.access_loggers.file',
  healthCheckFileSink: 'envoy.health_check.event_sinks.file',
  previousHostsPredicate: 'envoy.retry_host_predicates.previous_hosts',
  omitHostMetadata: 'envoy.retry_host_predicates.omit_host_metadata',
  previousPriorities: 'envoy.retry_priorities.previous_priorities',
  router: 'envoy.filters.http.router',
  tlsTransportSocket: 'envoy.transport_sockets.tls',
} as const;

// ---- checks -------------------------------------------------------------------------------------

function checkMesh(mesh: string): void {
  if (mesh === '' || /[{},=:/.]/.test(mesh)) {
    throw new EnvoyNameError(`mesh name ${JSON.stringify(mesh)} cannot be used in a name: it must be non-empty without ':', '/', '.', '{', '}', ',' or '='`);
  }
}

function checkSniPart(what: string, value: string): void {
  if (value === '' || SNI_FORBIDDEN.test(value)) {
    throw new EnvoyNameError(`${what} ${JSON.stringify(value)} cannot be used in an SNI: it must be non-empty without '{', '}', ',' or '='`);
  }
}
