import { createHash } from 'node:crypto';
import { fastHash } from './fast-hash.js';
import { commonProtocol, type Protocol, protocolOf } from './protocol.js';
import { proxyIdOf } from '../proxy-id.js';
import { type AnyPolicy, parsePolicies } from '../rules/index.js';
import { referencedSecrets, secretsByMesh } from './origination.js';
import { namedSecrets } from './data-source.js';
import { type CrossMeshGateway, crossMeshEndpoints, crossMeshGateways } from './cross-mesh.js';
import { claimingGateways, RESERVED_SERVICE, SERVICE_TAG, ZONE_TAG, canonicalJson, DataplaneSpec, MeshGatewayRouteSpec, MeshGatewaySpec, enabledMtlsBackend, ExternalServiceSpec, LABEL_ORIGIN, LABEL_ZONE, MeshSpec, type MtlsMode, mtlsModeOf, ZoneEgressSpec, ZoneIngressSpec } from '@meshfed/shared';

/** What the generators read of a stored resource. */
export interface ResourceView {
  readonly name: string;
  readonly mesh?: string | undefined;
  readonly labels: Readonly<Record<string, string>>;
  readonly spec: Readonly<Record<string, unknown>>;
}

/** Everything the zone's xDS depends on, as the zone's store holds it. */
export interface XdsInput {
  readonly zone: string;
  readonly meshes: readonly ResourceView[];
  readonly dataplanes: readonly ResourceView[];
  readonly zoneIngresses: readonly ResourceView[];
  readonly zoneEgresses: readonly ResourceView[];
  readonly externalServices: readonly ResourceView[];
  /** Policies of every targetRef type (rules/policy-kinds.ts), of every mesh. */
  readonly policies?: readonly (ResourceView & { readonly type: string })[];
  /** Secrets of every mesh: what ExternalServices' TLS names by `secret` (origination.ts). */
  readonly secrets?: readonly ResourceView[];
  /** MeshGateways and MeshGatewayRoutes of every mesh: what builtin gateway instances serve (gateway/). */
  readonly meshGateways?: readonly ResourceView[];
  readonly meshGatewayRoutes?: readonly ResourceView[];
}

/** A valid MeshGateway of a mesh. */
export interface GatewayEntry {
  readonly name: string;
  readonly labels: Readonly<Record<string, string>>;
  readonly spec: MeshGatewaySpec;
  /** The mesh Secrets its listeners' certificates name, by name: base64 data, or null if unusable; absent if none exists (gateway/tls.ts). */
  readonly secrets?: Readonly<Record<string, string | null>>;
}

/** A valid MeshGatewayRoute of a mesh. */
export interface GatewayRouteEntry {
  readonly name: string;
  readonly spec: MeshGatewayRouteSpec;
}

/** A local BUILTIN gateway Dataplane and the MeshGateway it serves (Kuma's SelectGateway). */
export interface BuiltinGatewayInstance {
  readonly dataplane: LocalDataplane;
  /** Undefined when no MeshGateway selects it (problems say so). */
  readonly gateway: GatewayEntry | undefined;
  readonly problems: readonly string[];
}

export { SERVICE_TAG } from '@meshfed/shared';
/**
 * The identity a ZoneEgress presents in each mesh where it terminates mTLS (`spiffe://<mesh>/zone-egress`);
 * Dataplane validation reserves the service name, so no workload can be issued it.
 */
export const ZONE_EGRESS_SERVICE = RESERVED_SERVICE;

/** One address traffic for a service can go to, with its weight and the zone it is in. */
export interface Endpoint {
  readonly address: string;
  readonly port: number;
  readonly weight: number;
  readonly zone: string;
  /** Set on a local ZoneEgress standing in for other zones: its own locality, never "local first". */
  readonly subZone?: string;
  /** A local instance's inbound tags: what a subset (a route's backendRef with tags) selects by. */
  readonly tags?: Readonly<Record<string, string>>;
}

/** A subset of a service's instances: tags (beyond the service) they all have. Empty is the whole service. */
export type SubsetTags = Readonly<Record<string, string>>;
export const NO_SUBSET: SubsetTags = Object.freeze({});
export const isWhole = (subset: SubsetTags): boolean => Object.keys(subset).length === 0;

/** A cluster name for a subset of a service's instances: the name, then the subset's tags as in an SNI. */
export function withSubset(name: string, subset: SubsetTags): string {
  const keys = Object.keys(subset);
  return keys.length === 0 ? name : `${name}{${keys.map((k) => `${k}=${subset[k]}`).join(',')}}`;
}

/** One `availableServices` entry of another zone's ingress: instances of a service sharing these tags. */
export interface RemoteInstances {
  readonly zone: string;
  readonly address: string;
  readonly port: number;
  readonly tags: Readonly<Record<string, string>>;
  readonly instances: number;
}

export interface ExternalTarget {
  readonly name: string;
  readonly service: string;
  readonly host: string;
  readonly port: number;
  readonly tls: ExternalServiceSpec['networking']['tls'];
  readonly protocol: Protocol;
  /** The ExternalService's tags: what a MeshTrafficPermission selects it by at the egress. */
  readonly tags: Readonly<Record<string, string>>;
  /** The mesh Secrets its `tls` names, by name: base64 data, or null if unusable; absent if none exists (origination.ts). */
  readonly secrets?: Readonly<Record<string, string | null>>;
}

export interface MeshIndex {
  readonly name: string;
  readonly spec: MeshSpec;
  /** mTLS on, with the enabled backend's name. */
  readonly mtlsBackend: string | undefined;
  /** The enabled backend's mode (STRICT unless set; undefined when mTLS is off): PERMISSIVE inbounds also take plaintext. */
  readonly mtlsMode: MtlsMode | undefined;
  readonly zoneEgress: boolean;
  readonly localityAware: boolean;
  /** Healthy local inbounds by service. */
  readonly local: ReadonlyMap<string, readonly Endpoint[]>;
  /** Other zones' ingresses offering the service, weighted by their instance counts. */
  readonly remote: ReadonlyMap<string, readonly Endpoint[]>;
  /** The same by tag set, as the ingresses advertise them: what a subset's remote endpoints are weighted from. */
  readonly remoteInstances: ReadonlyMap<string, readonly RemoteInstances[]>;
  /**
   * External services pinned to another zone (`kuma.io/zone`), reached through that zone's ingress and
   * egress: the peer that terminates the caller's mTLS is that zone's egress.
   */
  readonly remoteExternal: ReadonlySet<string>;
  /**
   * The subsets of each service that the mesh's routes send to (backendRefs with tags beyond the
   * service): zone ingresses and egresses serve an SNI chain for each, as callers name them.
   */
  readonly subsets: ReadonlyMap<string, readonly Readonly<Record<string, string>>[]>;
  /** The tag keys the mesh's MeshLoadBalancingStrategies group local instances by (affinity tags). */
  readonly affinityTagKeys: readonly string[];
  readonly external: ReadonlyMap<string, ExternalTarget>;
  /**
   * The protocol of each service, as its callers speak it: the common protocol of every instance's
   * `kuma.io/protocol`, here and in other zones (Kuma's inference), or the external service's.
   */
  readonly protocols: ReadonlyMap<string, Protocol>;
  /** The mesh's valid targetRef policies, in a stable order (type, then name). */
  readonly policies: readonly AnyPolicy[];
  /** Changes iff `policies` does. */
  readonly policiesVersion: string;
  /** The mesh's valid MeshGateways and MeshGatewayRoutes, by name. */
  readonly gateways: readonly GatewayEntry[];
  readonly gatewayRoutes: readonly GatewayRouteEntry[];
  /** Changes iff `gateways` (with the Secrets their certificates name) or `gatewayRoutes` does. */
  readonly gatewaysVersion: string;
  /** The mesh's cross-mesh gateway listeners by the gateway's service (cross-mesh.ts); their local instances are in `local`. */
  readonly crossMesh: ReadonlyMap<string, CrossMeshGateway>;
}

export interface LocalDataplane {
  readonly proxyId: string;
  readonly mesh: string;
  readonly name: string;
  readonly spec: DataplaneSpec;
}

export interface LocalZoneProxy<S> {
  readonly proxyId: string;
  readonly name: string;
  readonly spec: S;
}

/** A resource the index could not use, and why: shown on the proxy's insight and in the log. */
export interface IndexProblem {
  /** Dataplane, ZoneIngress, ZoneEgress, ExternalService, Mesh or a policy type. */
  readonly kind: string;
  readonly name: string;
  readonly mesh?: string;
  readonly message: string;
}

/** The zone's state, read once per change and shared by every proxy's generation. */
export interface ZoneIndex {
  readonly zone: string;
  readonly meshes: ReadonlyMap<string, MeshIndex>;
  /** This zone's ZoneEgress instances, as endpoints (they serve every mesh). */
  readonly egressEndpoints: readonly Endpoint[];
  readonly dataplanes: ReadonlyMap<string, LocalDataplane>;
  /** Local proxies by proxy id (see proxyIdOf). */
  readonly ingresses: ReadonlyMap<string, LocalZoneProxy<ZoneIngressSpec>>;
  readonly egresses: ReadonlyMap<string, LocalZoneProxy<ZoneEgressSpec>>;
  /** The local Dataplanes with `gateway.type: BUILTIN` (also in `dataplanes`), by proxy id. */
  readonly builtinGateways: ReadonlyMap<string, BuiltinGatewayInstance>;
  readonly problems: readonly IndexProblem[];
}

/**
 * Parsed specs by the identity of the stored spec object: the reconciler keeps a resource's object until
 * it changes, so a rebuild of the index after one change parses one spec, not thousands.
 */
const parsed = new WeakMap<object, { success: true; data: unknown } | { success: false; error: { issues: { path: PropertyKey[]; message: string }[] } }>();
function parseSpec<T>(schema: { safeParse(v: unknown): { success: true; data: T } | { success: false; error: { issues: { path: PropertyKey[]; message: string }[] } } }, spec: object) {
  let r = parsed.get(spec);
  if (!r) parsed.set(spec, (r = schema.safeParse(spec)));
  return r as { success: true; data: T } | { success: false; error: { issues: { path: PropertyKey[]; message: string }[] } };
}

/**
 * A stored spec's content hash, once per spec object (kept until the resource changes): a mesh's
 * gateways version reads a thousand routes on every rebuild of the index, not their JSON.
 */
const specVersions = new WeakMap<object, string>();
function specVersion(spec: object): string {
  let v = specVersions.get(spec);
  if (v === undefined) specVersions.set(spec, (v = fastHash(canonicalJson(spec))));
  return v;
}

/** A refused spec's issues, each with its field path, as one line. */
const issuesText = (error: { issues: { path: PropertyKey[]; message: string }[] }): string =>
  error.issues.map((i) => `${i.path.map(String).join('.')}: ${i.message}`).join('; ');

/** What the index takes from one parsed Dataplane: the same objects on every rebuild until its spec changes. */
interface DerivedDataplane {
  readonly mesh: string;
  readonly name: string;
  readonly zone: string;
  readonly local: LocalDataplane;
  /** Healthy inbounds: (service, endpoint, the inbound's protocol). */
  readonly inbound: readonly (readonly [string, Endpoint, Protocol])[];
}
const derivedDataplanes = new WeakMap<DataplaneSpec, DerivedDataplane>();
function derivedDataplane(mesh: string, name: string, spec: DataplaneSpec, zone: string): DerivedDataplane {
  const cached = derivedDataplanes.get(spec);
  if (cached && cached.mesh === mesh && cached.name === name && cached.zone === zone) return cached;
  const n = spec.networking;
  const inbound: [string, Endpoint, Protocol][] = [];
  for (const ib of n.inbound ?? []) {
    if (ib.health?.ready === false) continue;
    inbound.push([ib.tags[SERVICE_TAG]!, { address: ib.address ?? n.address, port: ib.port, weight: 1, zone, tags: ib.tags }, protocolOf(ib.tags)]);
  }
  const d: DerivedDataplane = { mesh, name, zone, local: { proxyId: `${mesh}.${name}`, mesh, name, spec }, inbound };
  derivedDataplanes.set(spec, d);
  return d;
}

/** A policy parsed once per stored spec object (the reconciler keeps it until the resource changes), with its version. */
const parsedPolicies = new WeakMap<object, { policy?: AnyPolicy; problem?: string; version: string; type: string; name: string; mesh: string }>();
function parsePolicy(view: ResourceView & { readonly type: string }) {
  const cached = parsedPolicies.get(view.spec);
  if (cached && cached.type === view.type && cached.name === view.name && cached.mesh === view.mesh) return cached;
  const { policies, problems } = parsePolicies([{ type: view.type, name: view.name, mesh: view.mesh, labels: view.labels, spec: view.spec }]);
  const out = {
    type: view.type, name: view.name, mesh: view.mesh ?? '',
    ...(policies[0] ? { policy: policies[0] } : {}), ...(problems[0] ? { problem: problems[0] } : {}),
    version: fastHash(`${view.type}\u0001${view.name}\u0001${canonicalJson(view.labels)}\u0001${canonicalJson(view.spec)}`),
  };
  parsedPolicies.set(view.spec, out);
  return out;
}

const fromGlobal = (r: ResourceView) => r.labels[LABEL_ORIGIN] === 'global';

function isLocalZoneResource(r: ResourceView, zone: string): boolean {
  if (fromGlobal(r)) return false;
  const z = r.spec['zone'];
  return z === undefined || z === zone;
}

function splitHostPort(address: string): { host: string; port: number } {
  const i = address.lastIndexOf(':');
  return { host: address.slice(0, i).replace(/^\[|\]$/g, ''), port: Number(address.slice(i + 1)) };
}

function push<K, V>(m: Map<K, V[]>, k: K, v: V): void {
  const list = m.get(k);
  if (list) list.push(v);
  else m.set(k, [v]);
}

const byAddress = (a: Endpoint, b: Endpoint) =>
  a.zone !== b.zone ? (a.zone < b.zone ? -1 : 1) : a.address !== b.address ? (a.address < b.address ? -1 : 1) : a.port - b.port;

/**
 * Reads the zone's resources into the shape the generators need. Invalid resources (they can only be
 * stored by bypassing validation, or arrive from a newer peer) are skipped and reported, never thrown:
 * one bad resource must not take the zone's xDS down.
 */
export function buildZoneIndex(input: XdsInput): ZoneIndex {
  const problems: IndexProblem[] = [];
  const meshSpecs = new Map<string, MeshSpec>();
  for (const m of input.meshes) {
    const spec = parseSpec<MeshSpec>(MeshSpec, m.spec);
    if (spec.success) meshSpecs.set(m.name, spec.data);
    else problems.push({ kind: 'Mesh', name: m.name, message: `invalid Mesh: ${spec.error.issues[0]?.message ?? 'invalid'}` });
  }

  const dataplanes = new Map<string, LocalDataplane>();
  const local = new Map<string, Map<string, Endpoint[]>>();
  const protocols = new Map<string, Map<string, Protocol>>();
  const agree = (mesh: string, service: string, p: Protocol) => {
    let perMesh = protocols.get(mesh);
    if (!perMesh) protocols.set(mesh, (perMesh = new Map()));
    const known = perMesh.get(service);
    perMesh.set(service, known === undefined ? p : commonProtocol(known, p));
  };
  for (const dp of input.dataplanes) {
    if (dp.mesh === undefined || fromGlobal(dp)) continue;
    const spec = parseSpec<DataplaneSpec>(DataplaneSpec, dp.spec);
    if (!spec.success) {
      problems.push({ kind: 'Dataplane', name: dp.name, mesh: dp.mesh, message: `invalid Dataplane: ${issuesText(spec.error)}` });
      continue;
    }
    const d = derivedDataplane(dp.mesh, dp.name, spec.data, input.zone);
    dataplanes.set(d.local.proxyId, d.local);
    if (d.inbound.length === 0) continue;
    let perMesh = local.get(dp.mesh);
    if (!perMesh) local.set(dp.mesh, (perMesh = new Map()));
    for (const [service, endpoint, protocol] of d.inbound) {
      push(perMesh, service, endpoint);
      agree(dp.mesh, service, protocol);
    }
  }

  // Other zones' ingresses: one endpoint per (ingress, mesh, service), weighted by its instances.
  const remote = new Map<string, Map<string, Endpoint[]>>();
  const remoteInstances = new Map<string, Map<string, RemoteInstances[]>>();
  /** Per mesh, the external services other zones' ingresses offer as pinned to their zone. */
  const pinnedElsewhere = new Map<string, string[]>();
  const offeredElsewhere = new Map<string, string[]>();
  const ingresses = new Map<string, LocalZoneProxy<ZoneIngressSpec>>();
  for (const zi of input.zoneIngresses) {
    const spec = parseSpec<ZoneIngressSpec>(ZoneIngressSpec, zi.spec);
    if (!spec.success) {
      problems.push({ kind: 'ZoneIngress', name: zi.name, message: `invalid ZoneIngress: ${spec.error.issues[0]?.message ?? 'invalid'}` });
      continue;
    }
    if (isLocalZoneResource(zi, input.zone)) {
      ingresses.set(proxyIdOf('ingress', zi.name), { proxyId: proxyIdOf('ingress', zi.name), name: zi.name, spec: spec.data });
      continue;
    }
    const zone = zi.labels[LABEL_ZONE] ?? spec.data.zone;
    if (zone === undefined || zone === input.zone) continue;
    const { advertisedAddress, advertisedPort } = spec.data.networking;
    if (advertisedAddress === undefined || advertisedPort === undefined) {
      problems.push({ kind: 'ZoneIngress', name: zi.name, message: `zone ${zone}'s ingress has no advertisedAddress/advertisedPort: this zone cannot reach the services it offers` });
      continue;
    }
    const instances = new Map<string, number>();
    for (const s of spec.data.availableServices ?? []) {
      if (s.instances <= 0) continue;
      // An external service counts here only where it is pinned to that zone (`kuma.io/zone`): that
      // zone alone reaches it, through its ingress and egress. Others are every zone's own to dial.
      if (s.externalService) {
        if (s.tags[ZONE_TAG] !== zone) continue;
        push(pinnedElsewhere, s.mesh, s.tags[SERVICE_TAG]!);
      } else {
        push(offeredElsewhere, s.mesh, s.tags[SERVICE_TAG]!);
      }
      const key = `${s.mesh}\u0000${s.tags[SERVICE_TAG]!}`;
      agree(s.mesh, s.tags[SERVICE_TAG]!, protocolOf(s.tags));
      instances.set(key, (instances.get(key) ?? 0) + s.instances);
      let perMesh = remoteInstances.get(s.mesh);
      if (!perMesh) remoteInstances.set(s.mesh, (perMesh = new Map()));
      push(perMesh, s.tags[SERVICE_TAG]!, { zone, address: advertisedAddress, port: advertisedPort, tags: s.tags, instances: s.instances });
    }
    for (const [key, count] of instances) {
      const [mesh, service] = key.split('\u0000') as [string, string];
      let perMesh = remote.get(mesh);
      if (!perMesh) remote.set(mesh, (perMesh = new Map()));
      push(perMesh, service, { address: advertisedAddress, port: advertisedPort, weight: count, zone });
    }
  }
  for (const perMesh of remote.values()) for (const [service, eps] of perMesh) perMesh.set(service, sharedAmongIngresses(eps));

  const external = new Map<string, Map<string, ExternalTarget>>();
  const secrets = secretsByMesh(input.secrets ?? []);
  for (const es of input.externalServices) {
    if (es.mesh === undefined) continue;
    const spec = parseSpec<ExternalServiceSpec>(ExternalServiceSpec, es.spec);
    if (!spec.success) {
      problems.push({ kind: 'ExternalService', name: es.name, mesh: es.mesh, message: `invalid ExternalService: ${spec.error.issues[0]?.message ?? 'invalid'}` });
      continue;
    }
    const service = spec.data.tags[SERVICE_TAG]!;
    // Pinned to another zone: only that zone reaches it (its ingress lists it; see above), never this one directly.
    const pinned = spec.data.tags[ZONE_TAG];
    if (pinned !== undefined && pinned !== input.zone) continue;
    let perMesh = external.get(es.mesh);
    if (!perMesh) external.set(es.mesh, (perMesh = new Map()));
    const previous = perMesh.get(service);
    // Two ExternalServices for one service: the first by name wins, deterministically, and it is said.
    if (previous && previous.name < es.name) {
      problems.push({ kind: 'ExternalService', name: es.name, mesh: es.mesh, message: `service ${service} is already defined by ExternalService ${previous.name}; this one is ignored` });
      continue;
    }
    const { host, port } = splitHostPort(spec.data.networking.address);
    perMesh.set(service, { name: es.name, service, host, port, tls: spec.data.networking.tls, protocol: protocolOf(spec.data.tags), tags: spec.data.tags, ...referencedSecrets(spec.data.networking.tls, secrets.get(es.mesh)) });
  }

  const egresses = new Map<string, LocalZoneProxy<ZoneEgressSpec>>();
  const egressEndpoints: Endpoint[] = [];
  for (const ze of input.zoneEgresses) {
    if (!isLocalZoneResource(ze, input.zone)) continue;
    const spec = parseSpec<ZoneEgressSpec>(ZoneEgressSpec, ze.spec);
    if (!spec.success) {
      problems.push({ kind: 'ZoneEgress', name: ze.name, message: `invalid ZoneEgress: ${spec.error.issues[0]?.message ?? 'invalid'}` });
      continue;
    }
    egresses.set(proxyIdOf('egress', ze.name), { proxyId: proxyIdOf('egress', ze.name), name: ze.name, spec: spec.data });
    egressEndpoints.push({ address: spec.data.networking.address, port: spec.data.networking.port, weight: 1, zone: input.zone });
  }
  egressEndpoints.sort(byAddress);

  const policies = new Map<string, { list: AnyPolicy[]; version: string }>();
  const sortedPolicies = [...(input.policies ?? [])].sort((a, b) => (a.type !== b.type ? (a.type < b.type ? -1 : 1) : a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  for (const view of sortedPolicies) {
    if (view.mesh === undefined) continue;
    const p = parsePolicy(view);
    if (p.problem !== undefined) problems.push({ kind: view.type, name: view.name, mesh: view.mesh, message: p.problem });
    if (!p.policy) continue;
    let perMesh = policies.get(view.mesh);
    if (!perMesh) policies.set(view.mesh, (perMesh = { list: [], version: '' }));
    perMesh.list.push(p.policy);
    perMesh.version += `${p.version};`;
  }

  // A pinned external service whose name instances also serve (here or elsewhere) would make callers
  // expect an egress where an instance answers: refused, and said.
  const pinnedRemote = (mesh: string): Set<string> => {
    const out = new Set<string>();
    for (const s of new Set(pinnedElsewhere.get(mesh) ?? [])) {
      if (external.get(mesh)?.has(s)) continue;
      if (local.get(mesh)?.has(s) || offeredElsewhere.get(mesh)?.includes(s)) {
        problems.push({ kind: 'ExternalService', name: s, mesh, message: `service ${s} is an ExternalService pinned to another zone and also served by instances: it is treated as a service, not through that zone's egress; rename one` });
        continue;
      }
      out.add(s);
    }
    return out;
  };
  const gateways = new Map<string, { list: GatewayEntry[]; routes: GatewayRouteEntry[]; version: string }>();
  const gatewaysOf = (mesh: string) => {
    let g = gateways.get(mesh);
    if (!g) gateways.set(mesh, (g = { list: [], routes: [], version: '' }));
    return g;
  };
  const byName = (a: ResourceView, b: ResourceView) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0);
  for (const gw of [...(input.meshGateways ?? [])].sort(byName)) {
    if (gw.mesh === undefined) continue;
    const spec = parseSpec<MeshGatewaySpec>(MeshGatewaySpec, gw.spec);
    if (!spec.success) {
      problems.push({ kind: 'MeshGateway', name: gw.name, mesh: gw.mesh, message: `invalid MeshGateway: ${issuesText(spec.error)}` });
      continue;
    }
    const g = gatewaysOf(gw.mesh);
    const certSecrets = namedSecrets(spec.data.conf.listeners.flatMap((l) => (l.tls?.certificates ?? []).flatMap((c) => ('secret' in c ? [c.secret] : []))), secrets.get(gw.mesh));
    g.list.push({ name: gw.name, labels: gw.labels, spec: spec.data, ...(certSecrets ? { secrets: certSecrets } : {}) });
    // The Secrets are part of the version: a certificate's renewal regenerates the mesh's gateways.
    g.version += `g\u0001${gw.name}\u0001${canonicalJson(gw.labels)}\u0001${specVersion(gw.spec)}\u0001${canonicalJson(certSecrets ?? {})}\u0002`;
  }
  for (const rt of [...(input.meshGatewayRoutes ?? [])].sort(byName)) {
    if (rt.mesh === undefined) continue;
    const spec = parseSpec<MeshGatewayRouteSpec>(MeshGatewayRouteSpec, rt.spec);
    if (!spec.success) {
      problems.push({ kind: 'MeshGatewayRoute', name: rt.name, mesh: rt.mesh, message: `invalid MeshGatewayRoute: ${issuesText(spec.error)}` });
      continue;
    }
    const g = gatewaysOf(rt.mesh);
    g.routes.push({ name: rt.name, spec: spec.data });
    g.version += `r\u0001${rt.name}\u0001${specVersion(rt.spec)}\u0002`;
  }
  // Each BUILTIN gateway instance serves the MeshGateway whose selectors match its gateway tags; two
  // claiming one instance: the first by name wins, and the instance says so.
  const builtinGateways = new Map<string, BuiltinGatewayInstance>();
  // What an operator must change when two MeshGateways claim one instance: the ports the others use with another protocol.
  const portConflicts = ([served, ...others]: readonly GatewayEntry[]): string => {
    const protocolAt = new Map(served!.spec.conf.listeners.map((l) => [l.port, l.protocol]));
    const conflicts = new Set<string>();
    for (const o of others) {
      for (const l of o.spec.conf.listeners) {
        const p = protocolAt.get(l.port);
        if (p !== undefined && p !== l.protocol) conflicts.add(`port ${l.port} is ${p} in ${served!.name} and ${l.protocol} in ${o.name}`);
      }
    }
    return conflicts.size > 0 ? ` (${[...conflicts].join('; ')})` : '';
  };
  for (const dp of dataplanes.values()) {
    const g = dp.spec.networking.gateway;
    if (g?.type !== 'BUILTIN') continue;
    const claiming = claimingGateways(gateways.get(dp.mesh)?.list ?? [], g.tags);
    const instanceProblems: string[] = [];
    if (claiming.length === 0) instanceProblems.push(`no MeshGateway of mesh ${dp.mesh} selects this builtin gateway (tags ${canonicalJson(g.tags)}): it has no listeners`);
    if (claiming.length > 1) instanceProblems.push(`MeshGateways ${claiming.map((c) => c.name).join(', ')} all select this builtin gateway: it serves ${claiming[0]!.name} (the first by name) and ignores the others${portConflicts(claiming)}`);
    builtinGateways.set(dp.proxyId, { dataplane: dp, gateway: claiming[0], problems: instanceProblems });
  }

  // Cross-mesh gateway instances are endpoints of their service, so ingresses offer and route them.
  const crossMesh = new Map([...meshSpecs.keys()].map((m) => [m, crossMeshGateways(m, gateways.get(m)?.list ?? [], problems)] as const));
  for (const [mesh, perService] of crossMeshEndpoints(builtinGateways.values(), crossMesh, input.zone)) {
    let perMesh = local.get(mesh);
    if (!perMesh) local.set(mesh, (perMesh = new Map()));
    for (const [service, eps] of perService) {
      for (const e of eps) push(perMesh, service, e);
      agree(mesh, service, 'http');
    }
  }

  const meshes = new Map<string, MeshIndex>();
  for (const [name, spec] of [...meshSpecs].sort(([a], [b]) => (a < b ? -1 : 1))) {
    const sortAll = (m: Map<string, Endpoint[]> | undefined) => new Map([...(m ?? [])].map(([k, v]) => [k, v.sort(byAddress)] as const));
    meshes.set(name, {
      name, spec,
      mtlsBackend: enabledMtlsBackend(spec)?.name,
      mtlsMode: mtlsModeOf(spec),
      zoneEgress: spec.routing?.zoneEgress === true,
      localityAware: spec.routing?.localityAwareLoadBalancing === true,
      local: sortAll(local.get(name)),
      remote: sortAll(remote.get(name)),
      remoteInstances: remoteInstances.get(name) ?? new Map(),
      remoteExternal: pinnedRemote(name),
      subsets: routeSubsets(policies.get(name)?.list ?? []),
      affinityTagKeys: affinityTagKeys(policies.get(name)?.list ?? []),
      external: external.get(name) ?? new Map(),
      protocols: new Map([...(protocols.get(name) ?? [])].concat([...(external.get(name) ?? [])].map(([s, t]) => [s, t.protocol] as const))),
      policies: policies.get(name)?.list ?? [],
      policiesVersion: policies.has(name) ? fastHash(policies.get(name)!.version) : '',
      gateways: gateways.get(name)?.list ?? [],
      gatewayRoutes: gateways.get(name)?.routes ?? [],
      gatewaysVersion: gateways.has(name) ? fastHash(gateways.get(name)!.version) : '',
      crossMesh: crossMesh.get(name) ?? new Map(),
    });
  }
  return { zone: input.zone, meshes, egressEndpoints, dataplanes, ingresses, egresses, builtinGateways, problems };
}

/**
 * The subsets the mesh's MeshHTTPRoutes and MeshTCPRoutes send to (backendRefs, mirrors), by service:
 * tags beyond the service, each set once, in a stable order.
 */
function routeSubsets(policies: readonly AnyPolicy[]): Map<string, Readonly<Record<string, string>>[]> {
  const out = new Map<string, Map<string, Record<string, string>>>();
  const add = (ref: { kind: string; name?: string | undefined; tags?: Record<string, string> | undefined }) => {
    if (ref.kind !== 'MeshServiceSubset' || ref.name === undefined) return;
    const tags = subsetTags(ref.tags ?? {});
    if (Object.keys(tags).length === 0) return;
    let perService = out.get(ref.name);
    if (!perService) out.set(ref.name, (perService = new Map()));
    perService.set(canonicalJson(tags), tags);
  };
  for (const p of policies) {
    if (p.type === 'MeshHTTPRoute') {
      for (const to of p.spec.to ?? []) {
        for (const rule of to.rules) {
          for (const ref of rule.default.backendRefs ?? []) add(ref);
          for (const f of rule.default.filters ?? []) if (f.requestMirror) add(f.requestMirror.backendRef);
        }
      }
    } else if (p.type === 'MeshTCPRoute') {
      for (const to of p.spec.to ?? []) for (const rule of to.rules) for (const ref of rule.default.backendRefs) add(ref);
    }
  }
  return new Map([...out].sort(([a], [b]) => (a < b ? -1 : 1)).map(([service, m]) => [service, [...m].sort(([a], [b]) => (a < b ? -1 : 1)).map(([, t]) => t)]));
}

/**
 * Every ingress of a zone advertises all of the zone's instances: with several ingresses, the zone's
 * weight is its instance count once, shared among them, not once per ingress.
 */
function sharedAmongIngresses(eps: Endpoint[]): Endpoint[] {
  const byZone = new Map<string, Endpoint[]>();
  for (const e of eps) push(byZone, e.zone, e);
  if ([...byZone.values()].every((g) => g.length === 1)) return eps;
  return [...byZone.values()].flatMap((g) => {
    const weight = Math.max(1, Math.round(Math.max(...g.map((e) => e.weight)) / g.length));
    return g.map((e) => ({ ...e, weight }));
  });
}

/** Other zones' ingresses offering instances of `service` in `subset`, weighted by how many (see MeshIndex.remote). */
export function remoteEndpointsOf(mesh: MeshIndex, service: string, subset: Readonly<Record<string, string>>): Endpoint[] {
  const byIngress = new Map<string, Endpoint>();
  for (const r of mesh.remoteInstances.get(service) ?? []) {
    if (!inSubset(r.tags, subset)) continue;
    const key = `${r.zone}\u0000${r.address}\u0000${r.port}`;
    const e = byIngress.get(key);
    byIngress.set(key, { address: r.address, port: r.port, zone: r.zone, weight: (e?.weight ?? 0) + r.instances });
  }
  return sharedAmongIngresses([...byIngress.values()].sort(byAddress));
}

/** The tag keys of every MeshLoadBalancingStrategy's `localZone.affinityTags`, sorted, each once. */
function affinityTagKeys(policies: readonly AnyPolicy[]): string[] {
  const keys = new Set<string>();
  for (const p of policies) {
    if (p.type !== 'MeshLoadBalancingStrategy') continue;
    for (const to of p.spec.to ?? []) for (const t of to.default.localityAwareness?.localZone?.affinityTags ?? []) keys.add(t.key);
  }
  return [...keys].sort();
}

/** A backendRef's tags as a subset: sorted by key, without the service tag (the service names it). */
export function subsetTags(tags: Readonly<Record<string, string>>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const k of Object.keys(tags).sort()) if (k !== SERVICE_TAG) out[k] = tags[k]!;
  return out;
}

/**
 * Whether a local instance belongs to `subset`: by its inbound's tags, and by the zone it runs in for
 * `kuma.io/zone` (which Kuma puts on every inbound, and this zone's ingresses advertise with it).
 */
export function endpointInSubset(e: Endpoint, subset: SubsetTags): boolean {
  for (const k in subset) {
    const own = e.tags?.[k] ?? (k === ZONE_TAG ? e.zone : undefined);
    if (own !== subset[k]) return false;
  }
  return true;
}

/** Whether an instance with `tags` belongs to `subset`. */
export function inSubset(tags: Readonly<Record<string, string>> | undefined, subset: Readonly<Record<string, string>>): boolean {
  for (const k in subset) if (tags?.[k] !== subset[k]) return false;
  return true;
}


/** A short content hash of JSON-able values: the version of a dependency. */
export function fingerprint(...values: unknown[]): string {
  const h = createHash('sha256');
  for (const v of values) h.update(canonicalJson(v)).update('\0');
  return h.digest('base64url').slice(0, 16);
}

/** The services a proxyless app may dial, and a hash of them (its matching key and dependency version). */
export interface DialledServices {
  readonly services: readonly string[];
  readonly version: string;
}

const dialledByMesh = new WeakMap<MeshIndex, DialledServices>();

/**
 * The services a proxyless app may dial: every service with instances in the mesh, here or in other
 * zones. Once per mesh index, whatever the number of proxyless apps in it.
 */
export function proxylessServices(mesh: MeshIndex): DialledServices {
  let d = dialledByMesh.get(mesh);
  if (!d) {
    const services = [...new Set([...mesh.local.keys(), ...mesh.remote.keys()])].sort();
    dialledByMesh.set(mesh, (d = { services, version: fastHash(services.join('\u0001')) }));
  }
  return d;
}
