/**
 * Cross-mesh gateways (gateway.md "Cross-mesh"): a MeshGateway listener with `crossMesh: true` takes
 * mesh mTLS from the proxies of every mesh with mTLS, and proxies of other meshes reach it by an
 * outbound tagged `kuma.io/mesh: <the gateway's mesh>`. Its instances are endpoints of the gateway's
 * service in its mesh (at the cross-mesh listener's port), so zone ingresses offer and route them like
 * any service: other zones reach a cross-mesh gateway through its zone's ingress (which the document
 * lists as unsupported in Kuma).
 */
import { type Any, ENVOY_EXTENSION_NAME, ENVOY_TYPE, identityCertSecretName, meshCaSecretName, SERVICE_TAG, serviceSni, spiffeId, XDS_TYPE_URL } from '@meshfed/shared';
import { dep, type GenerationContext } from './context.js';
import { ADS_CONFIG_SOURCE, type Draft, edsCluster, encodeEnvoy, lazyTyped, loadAssignment, MESH_ALPN, meshCaSecret } from './envoy-parts.js';
import { fastHash } from './fast-hash.js';
import type { BuiltinGatewayInstance, Endpoint, GatewayEntry, IndexProblem, MeshIndex } from './zone-index.js';

/** The tag an outbound names another mesh with (gateway.md: `kuma.io/mesh: default`). */
export const MESH_TAG = 'kuma.io/mesh';

/** A MeshGateway's cross-mesh listener, as other meshes' proxies reach it. */
export interface CrossMeshGateway {
  readonly gateway: string;
  /** The gateway instances' `kuma.io/service` (from the MeshGateway's one selector). */
  readonly service: string;
  readonly port: number;
  /** The Host other meshes' requests carry: the listener's hostname, or `internal.<gateway>.<mesh>.mesh`. */
  readonly hostname: string;
}

export const internalHostname = (gateway: string, mesh: string): string => `internal.${gateway}.${mesh}.mesh`;

/** The validation context of cross-mesh listeners: every mesh's CA, under a name no mesh's own secret has. */
export const CROSS_MESH_CA_SECRET = 'mesh_ca:cross-mesh';

/**
 * A mesh's cross-mesh gateways by service. The schema allows one selector on such a MeshGateway; it
 * must name the instances' service, which is how other meshes address it. Several cross-mesh listeners
 * on one gateway: the first (by port) is the one other meshes reach, and the others are said.
 */
export function crossMeshGateways(mesh: string, gateways: readonly GatewayEntry[], problems: IndexProblem[]): Map<string, CrossMeshGateway> {
  const out = new Map<string, CrossMeshGateway>();
  for (const gw of gateways) {
    const listeners = gw.spec.conf.listeners.filter((l) => l.crossMesh).sort((a, b) => a.port - b.port);
    if (listeners.length === 0) continue;
    const service = gw.spec.selectors[0]?.match[SERVICE_TAG];
    if (service === undefined) {
      problems.push({ kind: 'MeshGateway', name: gw.name, mesh, message: `selectors[0].match: a MeshGateway with a crossMesh listener must select its instances by ${SERVICE_TAG}, which other meshes address it by; its crossMesh listeners are not offered to other meshes` });
      continue;
    }
    if (out.has(service)) {
      problems.push({ kind: 'MeshGateway', name: gw.name, mesh, message: `service ${service} already has the cross-mesh listener of MeshGateway ${out.get(service)!.gateway}; this one is not offered to other meshes` });
      continue;
    }
    const [first, ...rest] = listeners;
    if (rest.length > 0) problems.push({ kind: 'MeshGateway', name: gw.name, mesh, message: `other meshes reach its crossMesh listener on port ${first!.port}; those on ${rest.map((l) => l.port).join(', ')} are reached only by addressing them directly` });
    out.set(service, { gateway: gw.name, service, port: first!.port, hostname: first!.hostname ?? internalHostname(gw.name, mesh) });
  }
  return out;
}

/** The local instances of cross-mesh gateways as endpoints of their service, by mesh. */
export function crossMeshEndpoints(instances: Iterable<BuiltinGatewayInstance>, byMesh: ReadonlyMap<string, ReadonlyMap<string, CrossMeshGateway>>, zone: string): Map<string, Map<string, Endpoint[]>> {
  const out = new Map<string, Map<string, Endpoint[]>>();
  for (const { dataplane: dp, gateway } of instances) {
    const tags = dp.spec.networking.gateway?.tags ?? {};
    const service = tags[SERVICE_TAG];
    const cm = service === undefined ? undefined : byMesh.get(dp.mesh)?.get(service);
    if (!cm || cm.gateway !== gateway?.name) continue;
    let perMesh = out.get(dp.mesh);
    if (!perMesh) out.set(dp.mesh, (perMesh = new Map()));
    const list = perMesh.get(cm.service) ?? [];
    list.push({ address: dp.spec.networking.address, port: cm.port, weight: 1, zone, tags });
    perMesh.set(cm.service, list);
  }
  return out;
}

/** The CA bundle secret of cross-mesh listeners; undefined while a mesh with mTLS has no CA here yet. */
export function crossMeshCaSecret(ctx: GenerationContext, deps: string[], problems: string[]): Any | undefined {
  const pems: string[] = [];
  const missing: string[] = [];
  for (const m of ctx.index.meshes.values()) {
    if (m.mtlsBackend === undefined) continue;
    deps.push(dep.meshCa(m.name));
    const pem = ctx.meshCaPem(m.name);
    if (pem === undefined) missing.push(m.name);
    else pems.push(pem.trim());
  }
  if (missing.length > 0) problems.push(`crossMesh listeners: no CA of mesh(es) ${missing.join(', ')} here yet; their proxies are refused until it is`);
  if (pems.length === 0) return undefined;
  const bundle = `${pems.join('\n')}\n`;
  return ctx.memo.get('ca:cross-mesh', fastHash(bundle), () => encodeEnvoy(XDS_TYPE_URL.secret, { name: CROSS_MESH_CA_SECRET, validation_context: { trusted_ca: { inline_string: bundle } } }));
}

/**
 * The server side of a cross-mesh listener: the gateway presents its own mesh identity and requires a
 * client certificate from any mesh's CA. Any SPIFFE id of those meshes is let in: as in Kuma,
 * MeshTrafficPermission does not act on builtin gateways; what callers reach is what its routes expose.
 */
export function crossMeshDownstreamTls(mesh: string): Draft {
  return {
    name: ENVOY_EXTENSION_NAME.tlsTransportSocket,
    typed_config: lazyTyped(ENVOY_TYPE.downstreamTlsContext, {
      common_tls_context: {
        tls_certificate_sds_secret_configs: [{ name: identityCertSecretName(mesh), sds_config: ADS_CONFIG_SOURCE }],
        combined_validation_context: {
          default_validation_context: { match_typed_subject_alt_names: [{ san_type: 'URI', matcher: { prefix: 'spiffe://' } }] },
          validation_context_sds_secret_config: { name: CROSS_MESH_CA_SECRET, sds_config: ADS_CONFIG_SOURCE },
        },
        alpn_protocols: MESH_ALPN,
      },
      require_client_certificate: { value: true },
    }),
  };
}

/** What a sidecar's outbound to another mesh's cross-mesh gateway is made of. */
export interface CrossMeshTarget {
  readonly clusterName: string;
  readonly cluster: Draft;
  readonly endpoints: Any | undefined;
  /** The gateway mesh's CA (the validation context of the cluster), to add to the proxy's secrets. */
  readonly caSecret: readonly [string, Any] | undefined;
  readonly hostname: string | undefined;
  readonly deps: readonly string[];
  readonly problems: readonly string[];
}

/**
 * The client side: the caller presents its own mesh identity and checks the gateway's against the
 * gateway mesh's CA; endpoints are the gateway's instances in this zone and the ingresses of the other
 * zones that run some (with the SNI they route by). Only direct: a mesh's zoneEgress does not relay
 * cross-mesh traffic.
 */
export function crossMeshTarget(ctx: GenerationContext, own: MeshIndex, gatewayMesh: string, service: string): CrossMeshTarget {
  const clusterName = `${service}{${MESH_TAG}=${gatewayMesh}}`;
  const deps = [dep.mesh(gatewayMesh), dep.gateways(gatewayMesh), dep.service(gatewayMesh, service), dep.meshCa(gatewayMesh)];
  const none = (problem: string): CrossMeshTarget => ({ clusterName, cluster: edsCluster(clusterName), endpoints: encodeEnvoy(XDS_TYPE_URL.endpoint, loadAssignment(clusterName, [], ctx.index.zone, false)), caSecret: undefined, hostname: undefined, deps, problems: [problem] });
  const m = ctx.index.meshes.get(gatewayMesh);
  if (!m) return none(`outbound ${service} (${MESH_TAG}: ${gatewayMesh}): mesh ${gatewayMesh} does not exist; its traffic has no endpoints`);
  const cm = m.crossMesh.get(service);
  if (!cm) return none(`outbound ${service} (${MESH_TAG}: ${gatewayMesh}): mesh ${gatewayMesh} has no MeshGateway with a crossMesh listener for ${service}; its traffic has no endpoints`);
  if (own.mtlsBackend === undefined || m.mtlsBackend === undefined) return none(`outbound ${service} (${MESH_TAG}: ${gatewayMesh}): cross-mesh traffic needs mTLS in both meshes (${[own, m].filter((x) => x.mtlsBackend === undefined).map((x) => x.name).join(', ')} has none); its traffic has no endpoints`);
  const caPem = ctx.meshCaPem(gatewayMesh);
  if (caPem === undefined) return none(`outbound ${service} (${MESH_TAG}: ${gatewayMesh}): no CA of mesh ${gatewayMesh} here yet; its traffic has no endpoints`);
  const eps = [...(m.local.get(service) ?? []), ...(m.remote.get(service) ?? [])];
  const cluster = edsCluster(clusterName, {
    name: ENVOY_EXTENSION_NAME.tlsTransportSocket,
    typed_config: lazyTyped(ENVOY_TYPE.upstreamTlsContext, {
      sni: serviceSni(service, gatewayMesh),
      common_tls_context: {
        tls_certificate_sds_secret_configs: [{ name: identityCertSecretName(own.name), sds_config: ADS_CONFIG_SOURCE }],
        combined_validation_context: {
          default_validation_context: { match_typed_subject_alt_names: [{ san_type: 'URI', matcher: { exact: spiffeId(gatewayMesh, service) } }] },
          validation_context_sds_secret_config: { name: meshCaSecretName(gatewayMesh), sds_config: ADS_CONFIG_SOURCE },
        },
        alpn_protocols: MESH_ALPN,
      },
    }),
  });
  const endpoints = ctx.memo.encode(XDS_TYPE_URL.endpoint, loadAssignment(clusterName, eps, ctx.index.zone, false));
  const caSecret = [meshCaSecretName(gatewayMesh), ctx.memo.get(`ca:${gatewayMesh}`, caPem, () => encodeEnvoy(XDS_TYPE_URL.secret, meshCaSecret(gatewayMesh, caPem)))] as const;
  return {
    clusterName, cluster, endpoints, caSecret, hostname: cm.hostname, deps,
    problems: eps.length === 0 ? [`outbound ${service} (${MESH_TAG}: ${gatewayMesh}): no instance of MeshGateway ${cm.gateway} runs in any zone; its traffic has no endpoints`] : [],
  };
}
