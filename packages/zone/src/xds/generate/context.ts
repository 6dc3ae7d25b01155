import { hash as cryptoHash } from 'node:crypto';
import { type Any, canonicalJson, type EnvoyObject, ZONE_TAG } from '@meshfed/shared';
import { encodeEnvoy } from './envoy-parts.js';
import type { RulesCache } from './matching.js';
import type { XdsResources } from '../snapshot.js';
import { type Endpoint, fingerprint, type MeshIndex, proxylessServices, type ZoneIndex } from './zone-index.js';
import { dep } from './dependencies.js';
import { fastHash } from './fast-hash.js';

export { fastHash } from './fast-hash.js';

/** A workload certificate as a generator needs it: PEMs only, already issued. */
export interface ProxyCertificate {
  /** Changes whenever the certificate does (rotation, a new CA). */
  readonly version: string;
  readonly certPem: string;
  readonly keyPem: string;
  readonly caPem: string;
}

/**
 * What the generators may ask for besides the index. `certificate` answers synchronously from what the
 * caller fetched beforehand; undefined (with the reason in `certificateProblem`) when the mesh has no
 * usable CA here.
 */
export interface GenerationContext {
  readonly index: ZoneIndex;
  readonly versions: ReadonlyMap<string, string>;
  readonly memo: ResourceMemo;
  /** Each dataplane's rules (the matching step), refreshed with `versions`. */
  readonly rules: RulesCache;
  certificate(mesh: string, service: string): ProxyCertificate | undefined;
  certificateProblem(mesh: string, service: string): string | undefined;
  /** A mesh's CA certificate (PEM), fetched beforehand for the meshes cross-mesh traffic trusts (dependencyVersions `ca:<mesh>`). */
  meshCaPem(mesh: string): string | undefined;
}

/** What a generator answers for one proxy. */
export interface GeneratedProxy {
  /** Undefined when the proxy cannot be configured now (see problems); the previous snapshot stays. */
  readonly resources: XdsResources | undefined;
  /** Dependency keys (see dependencyVersions) whose change must regenerate this proxy. */
  readonly deps: readonly string[];
  readonly problems: readonly string[];
}

export { dep } from './dependencies.js';

/** Endpoints as one string, field by field (a separator no address or zone name contains). */
export function endpointsKey(eps: readonly Endpoint[]): string {
  let out = '';
  for (const e of eps) out += `${e.address}\u0001${e.port}\u0001${e.weight}\u0001${e.zone}\u0001${e.subZone ?? ''}\u0002`;
  return out;
}

/** The subsets routes name for a service, and the tags of its instances here and in other zones. */
function subsetsKey(m: MeshIndex, service: string): string {
  let out = canonicalJson(m.subsets.get(service));
  for (const e of m.local.get(service) ?? []) out += canonicalJson(e.tags ?? {});
  // Sorted: the ingresses' lists arrive in no fixed order, and an equal set must give an equal version.
  return out + (m.remoteInstances.get(service) ?? []).map((r) => canonicalJson(r)).sort().join('');
}

/**
 * The version of every dependency derived from the index (certificates are versioned by the caller).
 * Sidecars depend on one key per destination service, so a change in one service's endpoints
 * regenerates only the sidecars that call it. Built structurally with a fast hash: this runs on every
 * change and covers every service of the zone.
 */
export function dependencyVersions(index: ZoneIndex, rules: RulesCache): Map<string, string> {
  const versions = new Map<string, string>();
  let ingress = '';
  let egress = '';
  const egressEndpoints = endpointsKey(index.egressEndpoints);
  for (const m of index.meshes.values()) {
    versions.set(dep.mesh(m.name), fingerprint(m.spec));
    versions.set(dep.policies(m.name), m.policiesVersion);
    versions.set(dep.gateways(m.name), m.gatewaysVersion);
    // What every service of the mesh shares: said once, prefixed to each service's own part.
    const meshPart = `${m.zoneEgress ? `1${egressEndpoints}` : '0'}\u0003${m.localityAware ? 1 : 0}\u0003${m.mtlsBackend ?? ''}\u0003`;
    const externals = new Map<string, string>();
    for (const [s, t] of m.external) externals.set(s, canonicalJson(t));
    // Which instances are in which subset matters only for services that routes split into subsets.
    const subsetPart = (s: string) => (m.subsets.has(s) ? `\u0003${subsetsKey(m, s)}` : '');
    // Callers group a service's local instances by these tags (affinity): their values are part of it.
    const affinityPart = (s: string) => {
      if (m.affinityTagKeys.length === 0) return '';
      let out = '\u0003';
      for (const e of m.local.get(s) ?? []) for (const k of m.affinityTagKeys) out += `${e.tags?.[k] ?? ''}\u0001`;
      return out;
    };
    const service = (s: string) => {
      const local = m.local.get(s);
      const remote = m.remote.get(s);
      return `${local ? endpointsKey(local) : ''}\u0003${remote ? endpointsKey(remote) : ''}\u0003${externals.get(s) ?? ''}\u0003${m.protocols.get(s) ?? ''}${m.remoteExternal.has(s) ? '\u0003pinned' : ''}${subsetPart(s)}${affinityPart(s)}`;
    };
    versions.set(dep.meshServices(m.name), proxylessServices(m).version);
    for (const s of m.local.keys()) versions.set(dep.service(m.name, s), fastHash(meshPart + service(s)));
    for (const s of m.remote.keys()) if (!versions.has(dep.service(m.name, s))) versions.set(dep.service(m.name, s), fastHash(meshPart + service(s)));
    for (const s of m.external.keys()) if (!versions.has(dep.service(m.name, s))) versions.set(dep.service(m.name, s), fastHash(meshPart + service(s)));
    ingress += `${m.name}\u0003${[...m.local.keys()].map((s) => s + subsetPart(s)).join('\u0001')}\u0003`;
    // External services pinned to this zone, passed through to its egresses (zone-proxies.ts).
    const pinned = [...m.external.values()].filter((t) => t.tags[ZONE_TAG] === index.zone);
    if (pinned.length > 0) ingress += `${m.mtlsBackend ?? ''}\u0003${pinned.map((t) => t.service).join('\u0001')}\u0003${egressEndpoints}`;
    ingress += '\u0004';
    egress += `${m.name}\u0003${m.mtlsBackend ?? ''}\u0003`;
    for (const [s, eps] of m.remote) egress += `${s}\u0001${endpointsKey(eps)}${subsetPart(s)}\u0003`;
    for (const [s, json] of externals) egress += `${s}\u0001${json}\u0003`;
    egress += '\u0004';
  }
  versions.set(dep.ingressServices, fastHash(ingress));
  versions.set(dep.egressTargets, fastHash(egress));
  rules.refresh(index, versions);
  return versions;
}

/**
 * Encoded resources shared by many proxies (the cluster and endpoints of one service are the same bytes
 * for every sidecar that calls it), built once per version of what they depend on. Bounded: past
 * `max` entries the oldest tenth goes (it is rebuilt when asked for again).
 */
export class ResourceMemo {
  readonly #entries = new Map<string, { version: string; value: Any }>();
  #hits = 0;
  #builds = 0;

  constructor(private readonly max = 50_000) {}

  get(key: string, version: string, build: () => Any): Any {
    const e = this.#entries.get(key);
    if (e && e.version === version) {
      this.#hits++;
      return e.value;
    }
    const value = build();
    this.#builds++;
    this.#entries.delete(key);
    this.#entries.set(key, { version, value });
    if (this.#entries.size > this.max) {
      let drop = Math.ceil(this.max / 10);
      for (const k of this.#entries.keys()) {
        if (drop-- <= 0) break;
        this.#entries.delete(k);
      }
    }
    return value;
  }

  get size(): number {
    return this.#entries.size;
  }

  /**
   * The encoding of a resource built by envoy-parts, keyed by its content: proxies whose policies
   * give them equal resources share one encoding (and one snapshot entry), whichever path built them.
   */
  encode(typeUrl: string, resource: EnvoyObject): Any {
    return this.get(`${typeUrl}\u0000${cryptoHash('sha256', JSON.stringify(resource), 'base64url')}`, '', () => encodeEnvoy(typeUrl, resource));
  }

  stats(): { hits: number; builds: number; size: number } {
    return { hits: this.#hits, builds: this.#builds, size: this.#entries.size };
  }
}

/** `a|b|c` of the versions of the given keys: the memo version of a resource built from them. */
export function versionOf(versions: ReadonlyMap<string, string>, ...keys: string[]): string {
  return keys.map((k) => versions.get(k) ?? '-').join('|');
}
