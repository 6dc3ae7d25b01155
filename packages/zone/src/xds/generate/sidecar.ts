import {
  type Any, canonicalJson, identityCertSecretName, inboundListenerName, meshCaSecretName, localClusterName, outboundClusterName, outboundListenerName, serviceSni, spiffeId,
  XDS_TYPE_URL,
} from '@meshfed/shared';
import { crossMeshTarget, MESH_TAG } from './cross-mesh.js';
import { dep, endpointsKey, fastHash, type GeneratedProxy, type GenerationContext } from './context.js';
import { LayeredResources, sharedResources } from '../snapshot.js';
import {
  addressCluster, type Draft, type LocalityOrder, downstreamMeshTls, edsCluster, encodeEnvoy, type HttpDraft, httpConnectionManager, identitySecret, inboundChains, listener, listenerOnTail,
  listenerTail, loadAssignment, meshCaSecret, statPrefix, tcpProxyFilter, upstreamMeshTls, upstreamOriginationTls, useHttp2Upstream,
} from './envoy-parts.js';
import { originationCluster, originationProblems } from './origination.js';
import { isHttp, isHttp2, type Protocol, protocolOf } from './protocol.js';
import { inboundRulesKey, type MatchedRules } from './matching.js';
import { type InboundDraft, type OutboundDraft, PLUGINS, type SidecarDraft } from '../plugins/index.js';
import {
  type Endpoint, endpointInSubset, type ExternalTarget, isWhole, type LocalDataplane, type MeshIndex, NO_SUBSET, remoteEndpointsOf, SERVICE_TAG, type SubsetTags, withSubset, ZONE_EGRESS_SERVICE,
  type ZoneIndex,
} from './zone-index.js';

/** Where a sidecar's traffic for one service goes: the endpoints, or a fixed external address. */
export type Destination =
  | { readonly kind: 'endpoints'; readonly endpoints: readonly Endpoint[]; readonly problem?: string }
  | { readonly kind: 'external-direct'; readonly target: ExternalTarget };

/**
 * The endpoints of `service` for a sidecar in `mesh` (zone-egress.*.md, multi-zone.md): local healthy
 * instances; other zones' ingresses weighted by their instances; with `routing.zoneEgress`, everything
 * that leaves the zone (other zones, external services) goes to the local ZoneEgress instances instead,
 * and with no egress in the zone that traffic has no endpoints at all. Zone ingresses and egresses
 * route by the TLS SNI of mesh mTLS, so without mTLS nothing leaves the zone through them: other
 * zones' instances are left out (as Kuma does) and the problem says why.
 */
export function destinationOf(index: ZoneIndex, mesh: MeshIndex, service: string, subset: SubsetTags = NO_SUBSET): Destination {
  const mtls = mesh.mtlsBackend !== undefined;
  const external = mesh.external.get(service);
  // routing.zoneEgress cannot be set without mTLS (Mesh validation): the egress always can route.
  if (external) {
    if (!mesh.zoneEgress) return { kind: 'external-direct', target: external };
    return { kind: 'endpoints', endpoints: index.egressEndpoints.map((e) => ({ ...e, weight: 1, subZone: EGRESS_SUB_ZONE })) };
  }
  const whole = isWhole(subset);
  const local = whole ? (mesh.local.get(service) ?? []) : (mesh.local.get(service) ?? []).filter((e) => endpointInSubset(e, subset));
  const remote = whole ? (mesh.remote.get(service) ?? []) : remoteEndpointsOf(mesh, service, subset);
  if (remote.length === 0) return { kind: 'endpoints', endpoints: local };
  if (!mtls) {
    const instances = remote.reduce((s, e) => s + e.weight, 0);
    const zones = [...new Set(remote.map((e) => e.zone))].sort().join(', ');
    return {
      kind: 'endpoints', endpoints: local,
      problem: `${service} has ${instances} instance${instances === 1 ? '' : 's'} in ${zones} that this zone cannot reach: zone ingresses route by the TLS SNI of mesh mTLS, and mesh ${mesh.name} has no mTLS; only this zone's instances are used`,
    };
  }
  if (!mesh.zoneEgress) return { kind: 'endpoints', endpoints: [...local, ...remote] };
  // Through the egress, each zone keeps its own locality: every local egress stands for it with weight
  // 1 (as Kuma), so locality-aware balancing still prefers the local zone and fails over by zone.
  const zones = [...new Set(remote.map((e) => e.zone))].sort();
  return { kind: 'endpoints', endpoints: [...local, ...zones.flatMap((zone) => index.egressEndpoints.map((e) => ({ ...e, zone, weight: 1 })))] };
}

/** The locality of a local ZoneEgress standing in for an external service. */
export const EGRESS_SUB_ZONE = 'zone-egress';

/**
 * Whom a dataplane's certificate names, as one string: the services of all its inbounds, sorted and
 * separated by a space (which no tag value contains), or its gateway's service. One certificate carries
 * a SAN for each, so that callers of any of them accept it, as Kuma issues it.
 */
export function identityOf(dp: LocalDataplane): string | undefined {
  const n = dp.spec.networking;
  const inbound = n.inbound ?? [];
  if (inbound.length === 0) return n.gateway?.tags[SERVICE_TAG];
  if (inbound.length === 1) return inbound[0]!.tags[SERVICE_TAG];
  return [...new Set(inbound.map((ib) => ib.tags[SERVICE_TAG]!))].sort().join(' ');
}

/** The services of an identity (see identityOf). */
export const servicesOfIdentity = (identity: string): string[] => identity.split(' ');

/**
 * What every sidecar of a mesh calling one service starts from: a fresh cluster (the plugins then shape
 * it per caller), its endpoints (EDS, shared), and what is wrong with them.
 */
export interface OutboundTarget {
  readonly name: string;
  /** The instances its endpoints (EDS) are made of; undefined when dialled directly. */
  readonly endpointList?: readonly Endpoint[];
  /** Dialled directly (an ExternalService without zoneEgress): the external host, which HTTP requests must name. */
  readonly externalHost?: string;
  readonly cluster: () => Draft;
  readonly protocol: Protocol;
  readonly endpoints: Any | undefined;
  readonly problems: readonly string[];
}

/**
 * Outbound targets by context, then by mesh and service: within one context (one reconcile run) the
 * destination of a service is the same for every caller, so it is worked out once, not per sidecar.
 */
const targetsByContext = new WeakMap<GenerationContext, Map<string, OutboundTarget>>();

export function outboundTarget(ctx: GenerationContext, mesh: MeshIndex, service: string, subset: SubsetTags = NO_SUBSET): OutboundTarget {
  let targets = targetsByContext.get(ctx);
  if (!targets) targetsByContext.set(ctx, (targets = new Map()));
  const key = `${mesh.name}\u0000${service}${isWhole(subset) ? '' : `\u0000${canonicalJson(subset)}`}`;
  let t = targets.get(key);
  if (!t) targets.set(key, (t = buildOutboundTarget(ctx, mesh, service, subset)));
  return t;
}

/** The cluster of a subset of a service's instances (a route's backendRef with tags): `backend{version=v2}`. */
export const subsetClusterName = (service: string, subset: SubsetTags): string => withSubset(outboundClusterName(service), subset);

function buildOutboundTarget(ctx: GenerationContext, mesh: MeshIndex, service: string, subset: SubsetTags): OutboundTarget {
  const { index, memo } = ctx;
  const clusterName = subsetClusterName(service, subset);
  const destination = destinationOf(index, mesh, service, subset);
  const protocol = mesh.protocols.get(service) ?? 'tcp';
  const speaking = (c: Draft) => {
    if (isHttp2(protocol)) useHttp2Upstream(c);
    return c;
  };
  const external = mesh.external.has(service);
  if (destination.kind === 'external-direct') {
    const { target } = destination;
    return {
      name: clusterName, externalHost: target.host, cluster: () => speaking(originationCluster(clusterName, target)),
      protocol, endpoints: undefined, problems: originationProblems(target),
    };
  }
  let sni: string | undefined;
  const sniProblems: string[] = [];
  try {
    sni = mesh.mtlsBackend === undefined ? undefined : serviceSni(service, mesh.name, subset);
  } catch (e) {
    // A subset whose tags an SNI cannot carry (a tag named `mesh`): its cluster gets no endpoints.
    sniProblems.push(`${clusterName}: ${(e as Error).message}; its traffic has no endpoints`);
  }
  const cluster = () => speaking(edsCluster(clusterName, sni !== undefined
    // Through an egress to an external service (this zone's, or the one of the zone it is pinned to),
    // the peer is that egress, which terminates mesh mTLS.
    ? upstreamMeshTls(mesh.name, sni, { exact: spiffeId(mesh.name, external || mesh.remoteExternal.has(service) ? ZONE_EGRESS_SERVICE : service) })
    : undefined));
  // Keyed by what it is made of, not by the mesh's version: a mesh-wide change that leaves endpoints
  // alone (mTLS on or off) keeps the same resource, so its entry and hash are reused too.
  const reachable = sniProblems.length === 0 ? destination.endpoints : [];
  const claVersion = `${fastHash(endpointsKey(reachable))}|${index.zone}|${mesh.localityAware ? 1 : 0}`;
  const endpoints = memo.get(`sidecar-cla:${mesh.name}:${clusterName}`, claVersion, () =>
    encodeEnvoy(XDS_TYPE_URL.endpoint, loadAssignment(clusterName, reachable, index.zone, mesh.localityAware)));
  const problems = sniProblems.length > 0 ? sniProblems : destination.problem !== undefined ? [destination.problem]
    : !isWhole(subset) && destination.endpoints.length === 0 && !external ? [`no instance of ${service} has the tags ${canonicalJson(subset)}: ${clusterName} has no endpoints`]
    : destination.endpoints.length === 0 && mesh.zoneEgress && (external || (mesh.remote.get(service)?.length ?? 0) > 0)
      ? [`${service} is reached through a ZoneEgress (routing.zoneEgress), and this zone has none: its traffic has no endpoints`]
      : [];
  return { name: clusterName, cluster, protocol, endpoints, endpointList: reachable, problems };
}

/**
 * What every instance of one sidecar shape with the same rules gets (same mesh, identity, inbound
 * ports and tags, outbounds, policies): everything but the inbound listeners, whose names and addresses
 * are the instance's own. Built once per (shape, rules) per context (one reconcile run): a mesh-wide
 * change regenerates N proxies of ~N/instances shapes, and per-proxy work is then the inbound listeners
 * alone. The maps are shared by every instance (marked with sharedResources, never mutated after), so
 * makeSnapshot builds each of those types' entries and version once per template too.
 */
interface SidecarTemplate {
  readonly deps: readonly string[];
  readonly problems: readonly string[];
  /** Undefined when no instance can be configured now (see problems). */
  readonly shared?: {
    readonly clusters: ReadonlyMap<string, Any>;
    readonly endpoints: ReadonlyMap<string, Any>;
    readonly secrets: ReadonlyMap<string, Any>;
    readonly outboundListeners: ReadonlyMap<string, Any>;
    /** Per inbound, in order: the listener tail every instance shares. */
    readonly inboundTails: readonly Any[];
  };
}

const templatesByContext = new WeakMap<GenerationContext, Map<string, SidecarTemplate>>();

/** Shapes by parsed spec (the zone index keeps one per resource version): computed once per dataplane, not per run. */
const shapes = new WeakMap<LocalDataplane['spec'], { readonly mesh: string; readonly shape: string }>();

/** Everything of a dataplane that generateSidecar reads, but its addresses (a separator no name or address contains). */
function shapeOf(dp: LocalDataplane, identity: string | undefined): string {
  const cached = shapes.get(dp.spec);
  if (cached?.mesh === dp.mesh) return cached.shape;
  const shape = computeShape(dp, identity);
  shapes.set(dp.spec, { mesh: dp.mesh, shape });
  return shape;
}

function computeShape(dp: LocalDataplane, identity: string | undefined): string {
  const n = dp.spec.networking;
  let s = `${dp.mesh}\u0001${identity ?? '\u0002'}\u0001`;
  // A gateway's type and tags select policies (matching reads them): part of what its template shares.
  if (n.gateway) s += `${n.gateway.type ?? ''}\u0003${Object.keys(n.gateway.tags).sort().map((k) => `${k}=${n.gateway!.tags[k]}`).join(',')}\u0001`;
  for (const ib of n.inbound ?? []) {
    s += `${ib.address === undefined ? '' : ib.address}\u0003${ib.port}\u0003${ib.servicePort ?? ''}\u0003${ib.serviceAddress ?? ''}\u0003`;
    for (const k of Object.keys(ib.tags).sort()) s += `${k}=${ib.tags[k]},`;
    s += '\u0004';
  }
  s += '\u0001';
  for (const ob of n.outbound ?? []) s += `${ob.tags[SERVICE_TAG]}\u0003${ob.tags[MESH_TAG] ?? ''}\u0003${ob.address ?? ''}\u0003${ob.port}\u0004`;
  return s;
}

/**
 * A dataplane's Envoy configuration: an inbound listener per inbound (mesh mTLS server side when the
 * mesh has mTLS, with plaintext beside it when PERMISSIVE) in front of a local cluster, an outbound
 * listener per outbound, one cluster per destination service with its endpoints by EDS, and the SDS
 * secrets mTLS needs; then each policy
 * plugin applies the proxy's rules. Pure: everything but the inbound listeners comes from a template
 * shared by the dataplanes of the same shape and rules (see SidecarTemplate).
 */
export function generateSidecar(ctx: GenerationContext, dp: LocalDataplane): GeneratedProxy {
  const mesh = ctx.index.meshes.get(dp.mesh);
  if (!mesh) return { resources: undefined, deps: [dep.mesh(dp.mesh)], problems: [`mesh "${dp.mesh}" does not exist in this zone (yet)`] };
  const identity = identityOf(dp);
  const matched = ctx.rules.get(ctx.index, dp);
  let templates = templatesByContext.get(ctx);
  if (!templates) templatesByContext.set(ctx, (templates = new Map()));
  const key = `${shapeOf(dp, identity)}\u0005${matched?.fingerprint ?? ''}`;
  let t = templates.get(key);
  if (!t) templates.set(key, (t = buildTemplate(ctx, mesh, dp, identity, matched)));
  if (!t.shared) return { resources: undefined, deps: t.deps, problems: t.problems };
  const n = dp.spec.networking;
  const inbound = new Map<string, Any>();
  (n.inbound ?? []).forEach((ib, i) => {
    const address = ib.address ?? n.address;
    const name = inboundListenerName(address, ib.port);
    inbound.set(name, listenerOnTail(name, address, ib.port, t.shared!.inboundTails[i]!));
  });
  return {
    resources: { listener: new LayeredResources(t.shared.outboundListeners, inbound), cluster: t.shared.clusters, endpoint: t.shared.endpoints, secret: t.shared.secrets },
    deps: t.deps, problems: t.problems,
  };
}

/**
 * The last filter of a chain to `cluster`: a TCP proxy, or for HTTP protocols an HTTP connection
 * manager with one route to it (where the HTTP policies apply), as Kuma configures both sides.
 */
export function terminal(protocol: Protocol, stat: string, cluster: string, routeConfigName: string, virtualHost: string): { filters: Draft[]; tcpProxy?: Draft; http?: HttpDraft } {
  if (!isHttp(protocol)) {
    const tcp = tcpProxyFilter(stat, cluster);
    return { filters: [tcp], tcpProxy: tcp['typed_config'] as Draft };
  }
  const { filter, http } = httpConnectionManager({ statPrefix: stat, routeConfigName, virtualHost, cluster, http2: isHttp2(protocol) });
  return { filters: [filter], http };
}

/**
 * What a generator asks of the draft besides the dataplane: outbounds other than its own (a proxyless
 * app dials every service of the mesh by name) and one protocol for every inbound and outbound (gRPC).
 */
export interface DraftShape {
  readonly outbounds?: readonly { readonly port: number; readonly address?: string; readonly tags: Readonly<Record<string, string>> }[];
  readonly protocol?: Protocol;
}

interface DraftParts {
  readonly draft: SidecarDraft;
  readonly endpoints: Map<string, Any>;
  readonly secrets: Map<string, Any>;
  readonly deps: string[];
  readonly problems: string[];
  readonly externalHosts: ReadonlyMap<string, string>;
  /** The instances behind each EDS cluster (and locality variant) of the draft. */
  readonly endpointLists: ReadonlyMap<string, readonly Endpoint[]>;
}

/** The proxy's configuration from the proxy alone, before any policy: what the plugins start from. */
function draftOf(
  ctx: GenerationContext, mesh: MeshIndex, dp: LocalDataplane, shape: DraftShape,
): DraftParts {
  const mtls = mesh.mtlsBackend !== undefined;
  const deps: string[] = [];
  const problems: string[] = [];
  const endpoints = new Map<string, Any>();
  // One per destination service, shared by its outbounds (their clusters and protocol are the service's).
  const destinations = new Map<string, { readonly clusters: Draft[]; readonly protocol: Protocol }>();
  const otherClusters: Draft[] = [];
  const made = new Set<string>();
  const externalHosts = new Map<string, string>();
  const endpointLists = new Map<string, readonly Endpoint[]>();
  const backends = {
    cluster(service: string, subset: SubsetTags = NO_SUBSET): string {
      if (!isWhole(subset) && (mesh.external.has(service) || mesh.remoteExternal.has(service))) {
        problems.push(`${service} is an ExternalService, which has no subsets: the route's tags ${canonicalJson(subset)} are ignored`);
        subset = NO_SUBSET;
      }
      const target = outboundTarget(ctx, mesh, service, subset);
      if (made.has(target.name)) return target.name;
      made.add(target.name);
      const svcDep = dep.service(dp.mesh, service);
      if (!deps.includes(svcDep)) deps.push(svcDep);
      const cluster = target.cluster();
      const d = destinations.get(service);
      if (d) d.clusters.push(cluster);
      else if (isWhole(subset) && !draftDone) destinations.set(service, { clusters: [cluster], protocol: target.protocol });
      else otherClusters.push(cluster);
      if (target.endpoints) endpoints.set(target.name, target.endpoints);
      if (target.endpointList) endpointLists.set(target.name, target.endpointList);
      if (target.externalHost !== undefined) externalHosts.set(target.name, target.externalHost);
      problems.push(...target.problems);
      return target.name;
    },
    orderLocalities(cluster: Draft, variant: string, order: LocalityOrder): boolean {
      const name = cluster['name'] as string;
      const list = endpointLists.get(name);
      const eds = cluster['eds_cluster_config'] as Draft | undefined;
      if (!list || !eds) return false;
      // '#' is in no tag value, so no service or subset cluster can be named like a variant.
      const resource = `${name}#${variant}`;
      eds['service_name'] = resource;
      endpoints.delete(name);
      endpoints.set(resource, ctx.memo.encode(XDS_TYPE_URL.endpoint, loadAssignment(resource, list, ctx.index.zone, false, order)));
      return true;
    },
  };
  let draftDone = false;
  const draft: SidecarDraft = { mesh, mtls, zone: ctx.index.zone, inbounds: [], outbounds: [], backends, otherClusters };
  const n = dp.spec.networking;
  for (const ib of n.inbound ?? []) {
    const servicePort = ib.servicePort ?? ib.port;
    const localCluster = localClusterName(servicePort);
    const service = ib.tags[SERVICE_TAG]!;
    const protocol = shape.protocol ?? protocolOf(ib.tags);
    const cluster = addressCluster(localCluster, ib.serviceAddress ?? '127.0.0.1', servicePort);
    if (isHttp2(protocol)) useHttp2Upstream(cluster);
    const inbound: InboundDraft = {
      rulesKey: inboundRulesKey(ib), port: ib.port, service, tags: ib.tags, localClusterName: localCluster, localCluster: cluster, protocol,
      ...terminal(protocol, statPrefix(localCluster), localCluster, `inbound:${service}`, service),
      ...(mtls ? { transportSocket: downstreamMeshTls(dp.mesh, { prefix: `spiffe://${dp.mesh}/` }) } : {}),
      // PERMISSIVE: plaintext chains next to the mesh mTLS one (Kuma's zero-downtime step to STRICT).
      ...(mtls && mesh.mtlsMode === 'PERMISSIVE' ? { acceptPlaintext: true } : {}),
    };
    draft.inbounds.push(inbound);
  }
  const secrets = new Map<string, Any>();
  for (const ob of shape.outbounds ?? n.outbound ?? []) {
    const service = ob.tags[SERVICE_TAG]!;
    const address = ob.address ?? '127.0.0.1';
    const otherMesh = ob.tags[MESH_TAG];
    if (otherMesh !== undefined && otherMesh !== dp.mesh) {
      draft.outbounds.push(crossMeshOutbound(ctx, mesh, otherMesh, service, address, ob.port, { deps, problems, endpoints, secrets }));
      continue;
    }
    const clusterName = backends.cluster(service);
    const d = destinations.get(service)!;
    const protocol = shape.protocol ?? d.protocol;
    const outbound: OutboundDraft = {
      service, listenerName: outboundListenerName(address, ob.port), address, port: ob.port, clusterName, cluster: d.clusters[0]!, clusters: d.clusters, protocol,
      ...terminal(protocol, statPrefix(clusterName), clusterName, `outbound:${service}`, service),
    };
    draft.outbounds.push(outbound);
  }
  // From here on, a service with no outbound gets no destination: its clusters are the plugins' extras.
  draftDone = true;
  return { draft, endpoints, secrets, deps, problems, externalHosts, endpointLists };
}

/**
 * An outbound to another mesh's cross-mesh gateway (tags `kuma.io/mesh: <its mesh>`, gateway.md
 * "without transparent proxy"): HTTP, its requests carrying the gateway listener's hostname as Host,
 * since that is what the gateway routes by and what the caller, dialling a local port, cannot name.
 */
function crossMeshOutbound(
  ctx: GenerationContext, own: MeshIndex, otherMesh: string, service: string, address: string, port: number,
  out: { deps: string[]; problems: string[]; endpoints: Map<string, Any>; secrets: Map<string, Any> },
): OutboundDraft {
  const t = crossMeshTarget(ctx, own, otherMesh, service);
  for (const d of t.deps) if (!out.deps.includes(d)) out.deps.push(d);
  out.problems.push(...t.problems);
  if (t.endpoints) out.endpoints.set(t.clusterName, t.endpoints);
  if (t.caSecret) out.secrets.set(t.caSecret[0], t.caSecret[1]);
  const term = terminal('http', statPrefix(t.clusterName), t.clusterName, `outbound:${t.clusterName}`, t.clusterName);
  if (t.hostname !== undefined) for (const route of term.http?.routes ?? []) (route['route'] as Draft)['host_rewrite_literal'] = t.hostname;
  // Named by its cluster, not the bare service: the caller's own mesh's policies and routes for a
  // service of that name are not this one's.
  return {
    service: t.clusterName, listenerName: outboundListenerName(address, port), address, port, clusterName: t.clusterName, cluster: t.cluster, clusters: [t.cluster], protocol: 'http', ...term,
  };
}

/**
 * HTTP requests to an external service dialled directly carry its own host, as Kuma rewrites them
 * (the caller named the mesh's service): on every route (or weighted cluster) to one, unless a route
 * policy rewrote the host already. Runs after the plugins, so that routes they add get it too.
 */
function rewriteExternalHosts(draft: SidecarDraft, hosts: ReadonlyMap<string, string>): void {
  if (hosts.size === 0) return;
  for (const ob of draft.outbounds) {
    for (const route of ob.http?.routes ?? []) {
      const action = route['route'] as Draft | undefined;
      if (!action || action['host_rewrite_literal'] !== undefined) continue;
      const single = hosts.get(action['cluster'] as string);
      if (single !== undefined) action['host_rewrite_literal'] = single;
      for (const w of ((action['weighted_clusters'] as Draft | undefined)?.['clusters'] as Draft[] | undefined) ?? []) {
        const host = hosts.get(w['name'] as string);
        if (host !== undefined && w['host_rewrite_literal'] === undefined) w['host_rewrite_literal'] = host;
      }
    }
  }
}

/** A dataplane's draft after every policy plugin, with its secrets; undefined `planned` when it cannot be configured now. */
export interface PlannedDataplane {
  readonly deps: string[];
  readonly problems: string[];
  readonly planned?: DraftParts;
}

/**
 * The steps every dataplane generator shares (sidecar and proxyless): its identity's certificate and
 * the mesh CA as SDS secrets, the draft, then each policy plugin applying the proxy's rules.
 */
export function planDataplane(ctx: GenerationContext, mesh: MeshIndex, dp: LocalDataplane, identity: string | undefined, matched: MatchedRules | undefined, shape: DraftShape = {}): PlannedDataplane {
  const { memo } = ctx;
  const deps: string[] = [dep.mesh(dp.mesh), ...(matched ? [matched.dep] : [])];
  const secrets = new Map<string, Any>();

  if (mesh.mtlsBackend !== undefined) {
    const service = identity;
    if (service === undefined) return { deps, problems: ['the dataplane has neither an inbound nor a gateway service to name its identity'] };
    // `service` is the identity: one or several services (a certificate per set).
    deps.push(dep.certificate(dp.mesh, service));
    const cert = ctx.certificate(dp.mesh, service);
    if (!cert) {
      // Never serve plaintext in a mesh that requires mTLS: the proxy keeps what it had, or waits.
      return { deps, problems: [ctx.certificateProblem(dp.mesh, service) ?? `no certificate for ${servicesOfIdentity(service).map((s) => spiffeId(dp.mesh, s)).join(', ')} yet`] };
    }
    secrets.set(identityCertSecretName(dp.mesh), memo.get(`identity:${dp.mesh}:${service}`, cert.version, () => encodeEnvoy(XDS_TYPE_URL.secret, identitySecret(dp.mesh, cert.certPem, cert.keyPem))));
    secrets.set(meshCaSecretName(dp.mesh), memo.get(`ca:${dp.mesh}`, cert.caPem, () => encodeEnvoy(XDS_TYPE_URL.secret, meshCaSecret(dp.mesh, cert.caPem))));
  }

  const built = draftOf(ctx, mesh, dp, shape);
  const { draft } = built;
  for (const [name, secret] of built.secrets) secrets.set(name, secret);
  const rules = matched?.rules ?? {};
  const pluginProblems: string[] = [];
  for (const plugin of PLUGINS) plugin.applySidecar(draft, rules[plugin.kind] as never, { problems: pluginProblems });
  rewriteExternalHosts(draft, built.externalHosts);
  // After the plugins: route plugins add the clusters (and so the dependencies and problems) of their backends.
  deps.push(...built.deps);
  const problems = [...(matched?.warnings ?? []), ...built.problems, ...pluginProblems];
  return { deps, problems, planned: { ...built, secrets } };
}

function buildTemplate(ctx: GenerationContext, mesh: MeshIndex, dp: LocalDataplane, identity: string | undefined, matched: MatchedRules | undefined): SidecarTemplate {
  const { memo } = ctx;
  const { deps, problems, planned } = planDataplane(ctx, mesh, dp, identity, matched);
  if (!planned) return { deps, problems };
  const { draft, secrets } = planned;

  // Encoded once, at the end, by content: templates whose policies give them equal resources share them.
  const clusters = new Map<string, Any>();
  const inboundTails: Any[] = [];
  for (const ib of draft.inbounds) {
    clusters.set(ib.localClusterName, memo.encode(XDS_TYPE_URL.cluster, ib.localCluster));
    // After the plugins: the plaintext chains of a PERMISSIVE inbound are made of their filters.
    const { chains, inspectTls } = inboundChains(ib.filters, ib.transportSocket, ib.acceptPlaintext === true);
    inboundTails.push(memo.encode(XDS_TYPE_URL.listener, listenerTail('INBOUND', chains, inspectTls)));
  }
  const outboundListeners = new Map<string, Any>();
  for (const ob of draft.outbounds) {
    outboundListeners.set(ob.listenerName, memo.encode(XDS_TYPE_URL.listener, listener(ob.listenerName, ob.address, ob.port, 'OUTBOUND', [{ filters: ob.filters }])));
    for (const c of ob.clusters) {
      const name = c['name'] as string;
      if (!clusters.has(name)) clusters.set(name, memo.encode(XDS_TYPE_URL.cluster, c));
    }
  }
  for (const c of draft.otherClusters) {
    const name = c['name'] as string;
    if (!clusters.has(name)) clusters.set(name, memo.encode(XDS_TYPE_URL.cluster, c));
  }
  return {
    deps, problems: [...new Set(problems)],
    shared: {
      clusters: sharedResources(clusters), endpoints: sharedResources(planned.endpoints), secrets: sharedResources(secrets),
      outboundListeners: sharedResources(outboundListeners), inboundTails,
    },
  };
}
