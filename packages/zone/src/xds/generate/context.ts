import type { Any } from '@meshfed/shared';
import type { XdsResources } from '../snapshot.js';
import { fingerprint, type ZoneIndex } from './zone-index.js';

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
  certificate(mesh: string, service: string): ProxyCertificate | undefined;
  certificateProblem(mesh: string, service: string): string | undefined;
}

/** What a generator answers for one proxy. */
export interface GeneratedProxy {
  /** Undefined when the proxy cannot be configured now (see problems); the previous snapshot stays. */
  readonly resources: XdsResources | undefined;
  /** Dependency keys (see dependencyVersions) whose change must regenerate this proxy. */
  readonly deps: readonly string[];
  readonly problems: readonly string[];
}

/** Dependency keys. A proxy names the ones it read; the reconciler regenerates it when one's version changes. */
export const dep = {
  mesh: (mesh: string) => `mesh:${mesh}`,
  service: (mesh: string, service: string) => `svc:${mesh}:${service}`,
  certificate: (mesh: string, service: string) => `cert:${mesh}:${service}`,
  /** Every local service of every mesh: what zone ingresses pass through. */
  ingressServices: 'ingress-services',
  /** Every other zone's services and every external service: what zone egresses route. */
  egressTargets: 'egress-targets',
} as const;

/**
 * The version of every dependency derived from the index (certificates are versioned by the caller).
 * Sidecars depend on one key per destination service, so a change in one service's endpoints
 * regenerates only the sidecars that call it.
 */
export function dependencyVersions(index: ZoneIndex): Map<string, string> {
  const versions = new Map<string, string>();
  const ingress: unknown[] = [];
  const egress: unknown[] = [];
  for (const m of index.meshes.values()) {
    versions.set(dep.mesh(m.name), fingerprint(m.spec));
    const egressEps = m.zoneEgress ? index.egressEndpoints : [];
    const services = new Set([...m.local.keys(), ...m.remote.keys(), ...m.external.keys()]);
    for (const s of services) {
      versions.set(dep.service(m.name, s), fingerprint(m.local.get(s) ?? [], m.remote.get(s) ?? [], m.external.get(s) ?? null, egressEps, m.zoneEgress, m.localityAware, m.mtlsBackend ?? null));
    }
    ingress.push(m.name, [...m.local]);
    egress.push(m.name, m.mtlsBackend ?? null, [...m.remote], [...m.external]);
  }
  versions.set(dep.ingressServices, fingerprint(ingress));
  versions.set(dep.egressTargets, fingerprint(egress));
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

  stats(): { hits: number; builds: number; size: number } {
    return { hits: this.#hits, builds: this.#builds, size: this.#entries.size };
  }
}

/** `a|b|c` of the versions of the given keys: the memo version of a resource built from them. */
export function versionOf(versions: ReadonlyMap<string, string>, ...keys: string[]): string {
  return keys.map((k) => versions.get(k) ?? '-').join('|');
}
