import { type Any, XDS_TYPE_URL, ZONE_TAG, identityCertSecretName, type ZoneEgressSpec, type ZoneIngressSpec, meshCaSecretName, meshClusterName, serviceSni, zoneEgressListenerName, zoneIngressListenerName } from '@meshfed/shared';
import { dep, endpointsKey, fastHash, type GeneratedProxy, type GenerationContext, versionOf } from './context.js';
import {
  addressCluster, type Draft, downstreamMeshTls, edsCluster, encodeEnvoy, type FilterChain, identitySecret, listener, loadAssignment,
  meshCaSecret, statPrefix, tcpProxyFilter, useHttp2Upstream,
} from './envoy-parts.js';
import { inboundRulesKey } from './matching.js';
import { isHttp2 } from './protocol.js';
import { type Backends, type InboundDraft, PLUGINS, type SidecarDraft } from '../plugins/index.js';
import { computeProxyRules, type ProxyView } from '../rules/index.js';
import { originationCluster, originationProblems } from './origination.js';
import { terminal } from './sidecar.js';
import { type Endpoint, endpointInSubset, type ExternalTarget, type LocalZoneProxy, type MeshIndex, NO_SUBSET, remoteEndpointsOf, type SubsetTags, withSubset, ZONE_EGRESS_SERVICE } from './zone-index.js';

/** The identity a ZoneEgress presents in each mesh where it terminates mTLS (for external services). */
export { ZONE_EGRESS_SERVICE } from './zone-index.js';

interface SniTarget {
  readonly subset: SubsetTags;
  readonly sni: string;
  readonly eps: readonly Endpoint[];
}

/** The SNI of a subset, or undefined when its tags cannot be spelled in one (a route's tag with `{},=`). */
function sniOf(service: string, mesh: string, subset: SubsetTags): string | undefined {
  try {
    return serviceSni(service, mesh, subset);
  } catch {
    return undefined;
  }
}

/**
 * What a zone proxy routes by SNI for one service: the whole service (`all`), and each subset the
 * mesh's routes name that has instances (`subsetEndpoints`): callers send the subset's tags in the SNI.
 * An ingress serves its local instances; an egress, other zones' ingresses with instances of it.
 */
function sniTargets(mesh: MeshIndex, service: string, all: readonly Endpoint[], subsetEndpoints: (subset: SubsetTags) => readonly Endpoint[]): SniTarget[] {
  const out: SniTarget[] = [{ subset: NO_SUBSET, sni: serviceSni(service, mesh.name), eps: all }];
  for (const subset of mesh.subsets.get(service) ?? []) {
    const sni = sniOf(service, mesh.name, subset);
    const eps = subsetEndpoints(subset);
    if (sni !== undefined && eps.length > 0) out.push({ subset, sni, eps });
  }
  return out;
}

/** The mesh's external services pinned to `zone` (`kuma.io/zone`): the ones this zone's ingress offers. */
export function pinnedHere(mesh: MeshIndex, zone: string): ExternalTarget[] {
  return [...mesh.external.values()].filter((t) => t.tags[ZONE_TAG] === zone);
}

/**
 * An external service's chain at the egress, and its cluster, shaped by the policies as a sidecar's
 * inbound is (Kuma configures an egress's external services from the `from` rules computed for them):
 * the ExternalService stands as an inbound with its tags, so MeshTrafficPermission (who may reach it:
 * nobody unless allowed, as on a sidecar), MeshTimeout, MeshCircuitBreaker, MeshRateLimit,
 * MeshFaultInjection and MeshAccessLog apply through their plugins, unchanged. An HTTP service gets an
 * HTTP connection manager whose route rewrites the Host header to the external host, as Kuma does (the
 * caller addressed the mesh's name for it, the server expects its own).
 */
function externalServiceChain(ctx: GenerationContext, mesh: MeshIndex, target: ExternalTarget): { chain: FilterChain; cluster: Draft; problems: string[] } {
  const name = meshClusterName(mesh.name, target.service);
  const view: ProxyView = {
    name: `${target.name}.external`, mesh: mesh.name,
    spec: { networking: { address: EXTERNAL_VIEW_ADDRESS, inbound: [{ port: EXTERNAL_VIEW_PORT, tags: { ...target.tags } }] } } as ProxyView['spec'],
  };
  const rules = computeProxyRules(view, mesh.policies);
  const cluster = originationCluster(name, target);
  if (isHttp2(target.protocol)) useHttp2Upstream(cluster);
  const ends = terminal(target.protocol, statPrefix(name), name, `egress:${name}`, target.service);
  const route = ends.http?.routes[0]?.['route'] as Draft | undefined;
  if (route) route['host_rewrite_literal'] = target.host;
  const inbound: InboundDraft = {
    rulesKey: inboundRulesKey({ address: EXTERNAL_VIEW_ADDRESS, port: EXTERNAL_VIEW_PORT }), port: EXTERNAL_VIEW_PORT, service: target.service, tags: target.tags,
    localClusterName: name, localCluster: cluster, protocol: target.protocol, ...ends,
    transportSocket: downstreamMeshTls(mesh.name, { prefix: `spiffe://${mesh.name}/` }),
  };
  const draft: SidecarDraft = { mesh, mtls: true, zone: ctx.index.zone, inbounds: [inbound], outbounds: [], backends: NO_BACKENDS, otherClusters: [] };
  const problems = [...new Set(Object.values(rules).flatMap((r) => r.warnings))];
  for (const plugin of PLUGINS) plugin.applySidecar(draft, rules[plugin.kind] as never, { problems });
  return { chain: { serverNames: [serviceSni(target.service, mesh.name)], filters: inbound.filters, transportSocket: inbound.transportSocket! }, cluster, problems };
}
const EXTERNAL_VIEW_ADDRESS = '127.0.0.1';
const EXTERNAL_VIEW_PORT = 1;
/** An egress's external service is an inbound: no policy plugin asks it for a route backend or its endpoints. */
const NO_BACKENDS: Backends = {
  cluster: (service) => {
    throw new Error(`a zone egress has no outbounds: no route backend (${service}) can be made for it`);
  },
  orderLocalities: () => false,
};

/**
 * A zone ingress: one listener with the TLS inspector and, per local service of every mesh, an SNI
 * filter chain that passes the caller's mTLS through untouched to that service's local instances
 * (the instances terminate it, so the ingress needs no certificate of its own).
 */
export function generateZoneIngress(ctx: GenerationContext, ingress: LocalZoneProxy<ZoneIngressSpec>): GeneratedProxy {
  const { index, versions, memo } = ctx;
  // The listener depends on which services exist (names), each CLA on its own service: an instance
  // moving rebuilds one CLA, not 500 filter chains.
  const deps: string[] = [dep.ingressServices];
  const problems: string[] = [];
  const net = ingress.spec.networking;
  if (net.advertisedAddress === undefined) problems.push('no advertisedAddress/advertisedPort: other zones cannot reach this ingress');
  const clusters = new Map<string, Any>();
  const endpoints = new Map<string, Any>();
  const chains: FilterChain[] = [];
  for (const mesh of index.meshes.values()) {
    for (const [service, all] of mesh.local) {
      deps.push(dep.service(mesh.name, service));
      for (const { subset, sni, eps } of sniTargets(mesh, service, all, (subset) => all.filter((e) => endpointInSubset(e, subset)))) {
        const cluster = withSubset(meshClusterName(mesh.name, service), subset);
        chains.push({ serverNames: [sni], filters: [tcpProxyFilter(statPrefix(cluster), cluster)] });
        clusters.set(cluster, memo.get(`ingress-cluster:${cluster}`, '1', () => encodeEnvoy(XDS_TYPE_URL.cluster, edsCluster(cluster))));
        // Keyed by the endpoints, not the service's version (which moves with its mesh): a mesh-wide change re-encodes none.
        endpoints.set(cluster, memo.get(`ingress-cla:${cluster}`, `${fastHash(endpointsKey(eps))}|${index.zone}`, () => encodeEnvoy(XDS_TYPE_URL.endpoint, loadAssignment(cluster, eps, index.zone, false))));
      }
    }
    // External services pinned to this zone: other zones' callers reach them through this ingress and
    // this zone's egress, which terminates their mTLS and originates (Kuma); passed through like a service.
    if (mesh.mtlsBackend === undefined) continue;
    for (const target of pinnedHere(mesh, index.zone)) {
      const cluster = meshClusterName(mesh.name, target.service);
      if (clusters.has(cluster)) continue;
      if (index.egressEndpoints.length === 0) problems.push(`ExternalService ${target.name} is pinned to this zone, and this zone has no ZoneEgress: other zones' calls to it have nowhere to go`);
      chains.push({ serverNames: [serviceSni(target.service, mesh.name)], filters: [tcpProxyFilter(statPrefix(cluster), cluster)] });
      clusters.set(cluster, memo.get(`ingress-cluster:${cluster}`, '1', () => encodeEnvoy(XDS_TYPE_URL.cluster, edsCluster(cluster))));
      endpoints.set(cluster, memo.get(`ingress-cla:${cluster}`, `${fastHash(endpointsKey(index.egressEndpoints))}|${index.zone}`, () =>
        encodeEnvoy(XDS_TYPE_URL.endpoint, loadAssignment(cluster, index.egressEndpoints, index.zone, false))));
    }
  }
  const address = net.address ?? '0.0.0.0';
  const listeners = new Map<string, Any>();
  // Envoy refuses a listener without filter chains; with nothing to offer the ingress has no listener.
  if (clusters.size > 0) {
    const name = zoneIngressListenerName(address, net.port);
    listeners.set(name, memo.get(`ingress-listener:${name}`, versionOf(versions, dep.ingressServices), () =>
      encodeEnvoy(XDS_TYPE_URL.listener, listener(name, address, net.port, 'INBOUND', chains, true))));
  }
  return { resources: { listener: listeners, cluster: clusters, endpoint: endpoints }, deps, problems };
}

/**
 * A zone egress, serving every mTLS mesh of the zone (zone-egress.*.md): one listener with the TLS
 * inspector; where the mesh routes through egresses, per service of another zone, an SNI chain
 * passing the mTLS through to that zone's ingresses; per external service, a chain that terminates the mesh's mTLS (only a certificate of
 * that mesh's CA is accepted), and a cluster that originates to the external address, with TLS when
 * the ExternalService asks for it.
 */
export function generateZoneEgress(ctx: GenerationContext, egress: LocalZoneProxy<ZoneEgressSpec>): GeneratedProxy {
  const { index, versions, memo } = ctx;
  const deps: string[] = [dep.egressTargets];
  const problems: string[] = [];
  const chains: FilterChain[] = [];
  const clusters = new Map<string, Any>();
  const endpoints = new Map<string, Any>();
  const secrets = new Map<string, Any>();
  for (const mesh of index.meshes.values()) {
    // SNI routing needs the mesh's mTLS: without it there is nothing an egress can route.
    if (mesh.mtlsBackend === undefined) continue;
    deps.push(dep.mesh(mesh.name));
    // Other zones' services pass through only where the mesh routes them via the egress (Kuma): without
    // routing.zoneEgress no sidecar sends them here.
    for (const [service, all] of mesh.zoneEgress ? mesh.remote : []) {
      if (mesh.external.has(service)) continue;
      for (const { subset, sni, eps } of sniTargets(mesh, service, all, (subset) => remoteEndpointsOf(mesh, service, subset))) {
        const cluster = withSubset(meshClusterName(mesh.name, service), subset);
        chains.push({ serverNames: [sni], filters: [tcpProxyFilter(statPrefix(cluster), cluster)] });
        clusters.set(cluster, memo.get(`egress-cluster:${cluster}`, '1', () => encodeEnvoy(XDS_TYPE_URL.cluster, edsCluster(cluster))));
        endpoints.set(cluster, memo.get(`egress-cla:${cluster}`, `${fastHash(endpointsKey(eps))}|${index.zone}`, () => encodeEnvoy(XDS_TYPE_URL.endpoint, loadAssignment(cluster, eps, index.zone, false))));
      }
    }
    if (mesh.external.size === 0) continue;
    deps.push(dep.certificate(mesh.name, ZONE_EGRESS_SERVICE));
    const cert = ctx.certificate(mesh.name, ZONE_EGRESS_SERVICE);
    if (!cert) {
      problems.push(`external services of mesh ${mesh.name} are not served: ${ctx.certificateProblem(mesh.name, ZONE_EGRESS_SERVICE) ?? 'no certificate yet'}`);
      continue;
    }
    secrets.set(identityCertSecretName(mesh.name), memo.get(`identity:${mesh.name}:${ZONE_EGRESS_SERVICE}`, cert.version, () => encodeEnvoy(XDS_TYPE_URL.secret, identitySecret(mesh.name, cert.certPem, cert.keyPem))));
    secrets.set(meshCaSecretName(mesh.name), memo.get(`ca:${mesh.name}`, cert.caPem, () => encodeEnvoy(XDS_TYPE_URL.secret, meshCaSecret(mesh.name, cert.caPem))));
    deps.push(dep.policies(mesh.name));
    for (const target of mesh.external.values()) {
      const shaped = externalServiceChain(ctx, mesh, target);
      chains.push(shaped.chain);
      // Keyed by content: the policies shape it, and an unchanged one is encoded once.
      clusters.set(meshClusterName(mesh.name, target.service), memo.encode(XDS_TYPE_URL.cluster, shaped.cluster));
      problems.push(...shaped.problems, ...originationProblems(target));
    }
  }
  const net = egress.spec.networking;
  const listeners = new Map<string, Any>();
  if (chains.length > 0) {
    const name = zoneEgressListenerName(net.address, net.port);
    listeners.set(name, memo.encode(XDS_TYPE_URL.listener, listener(name, net.address, net.port, 'INBOUND', chains, true)));
  }
  return { resources: { listener: listeners, cluster: clusters, endpoint: endpoints, secret: secrets }, deps, problems };
}
