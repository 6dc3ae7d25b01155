import { createHash } from 'node:crypto';
import { durationToMs, enabledMtlsBackend, type EventBus, MeshSpec, type ResourceChangedEvent, type ResourceStore } from '@meshfed/shared';
import { meshCaSecretNames } from './ca-secrets.js';
import { DEFAULT_WORKLOAD_VALIDITY_MS, MeshCaSigner, rotationDueAt, type WorkloadCertificate } from './workload-certificate.js';

export interface WorkloadCertificateCacheOptions {
  /** The zone's store, where the mesh CA Secrets arrive from global over KDS. */
  readonly store: ResourceStore;
  /**
   * The zone's bus. With it, each mesh's CA is read and parsed once and read again when the Mesh or a
   * Secret of the mesh changes; without it, the Mesh and CA Secrets are read from the store on every get.
   */
  readonly bus?: EventBus;
  /** Entries kept, least recently used dropped first. Default 10,000. */
  readonly maxEntries?: number;
  /** Epoch ms; default Date.now. */
  readonly now?: () => number;
}

/** A workload certificate as the cache serves it, with what a proxy's TLS context needs besides. */
export interface CachedWorkloadCertificate extends WorkloadCertificate {
  readonly mesh: string;
  /** The services its SANs name, sorted (the first is its common name). */
  readonly services: readonly string[];
  /** PEM of the mesh CA that signed it: the trust anchor for the peer's certificate. */
  readonly caCertPem: string;
  /** From here on `get` answers a new certificate (80% of the lifetime). */
  readonly rotateAt: Date;
}

/** The mesh cannot have workload certificates now: mTLS off, no such mesh, or its CA not (yet) here or unusable. */
export class MeshCaUnavailableError extends Error {
  constructor(readonly mesh: string, readonly reason: string) {
    super(`no workload certificates in mesh "${mesh}": ${reason}`);
    this.name = 'MeshCaUnavailableError';
  }
}

interface MeshCa {
  readonly signer: MeshCaSigner;
  /** Identity of the CA Secrets' content: entries issued under another are re-issued. */
  readonly id: string;
  readonly validityMs: number;
}

interface Entry {
  readonly cert: CachedWorkloadCertificate;
  readonly caId: string;
  readonly validityMs: number;
}

export const DEFAULT_MAX_WORKLOAD_CERTIFICATES = 10_000;

/**
 * Workload certificates of one zone, by (mesh, set of services): issued on first request, served again until
 * 80% of their lifetime has passed, issued anew when the mesh's CA or its `dpCert.rotation.expiration`
 * changes. Requests for one identity while it is being issued share the one issuance. Bounded: the
 * least recently used entries go beyond `maxEntries` (they are issued again if asked for).
 */
export class WorkloadCertificateCache {
  readonly #store: ResourceStore;
  readonly #now: () => number;
  readonly #max: number;
  /** Insertion order is recency order: a hit moves its entry to the end. */
  readonly #entries = new Map<string, Entry>();
  readonly #issuing = new Map<string, { caId: string; validityMs: number; promise: Promise<CachedWorkloadCertificate> }>();
  /** Loaded CAs by mesh, only while subscribed to the bus (which invalidates them). */
  readonly #cas = new Map<string, Promise<MeshCa>>();
  readonly #unsubscribe: (() => void) | undefined;
  #issued = 0;

  constructor(o: WorkloadCertificateCacheOptions) {
    this.#store = o.store;
    this.#now = o.now ?? Date.now;
    this.#max = o.maxEntries ?? DEFAULT_MAX_WORKLOAD_CERTIFICATES;
    if (!Number.isInteger(this.#max) || this.#max < 1) throw new RangeError(`maxEntries must be a positive integer, got ${this.#max}`);
    this.#unsubscribe = o.bus?.subscribe((events) => this.#onEvents(events));
  }

  /** Entries held now. */
  get size(): number {
    return this.#entries.size;
  }

  /** Certificates issued since construction (for tests and metrics). */
  get issued(): number {
    return this.#issued;
  }

  /**
   * The certificate for a dataplane of `services` in `mesh` (one certificate per set of services, in
   * any order), issued or re-issued if needed. Throws MeshCaUnavailableError.
   */
  async get(mesh: string, services: string | readonly string[]): Promise<CachedWorkloadCertificate> {
    const names = [...new Set(typeof services === 'string' ? [services] : services)].sort();
    if (names.length === 0) throw new TypeError('a workload certificate names at least one service');
    const ca = await this.#meshCa(mesh);
    const key = `${mesh}\u0000${names.join('\u0000')}`;
    const entry = this.#entries.get(key);
    if (entry && entry.caId === ca.id && entry.validityMs === ca.validityMs && this.#now() < entry.cert.rotateAt.getTime()) {
      this.#entries.delete(key);
      this.#entries.set(key, entry);
      return entry.cert;
    }
    const inFlight = this.#issuing.get(key);
    if (inFlight && inFlight.caId === ca.id && inFlight.validityMs === ca.validityMs) return inFlight.promise;
    const promise = this.#issue(key, mesh, names, ca);
    this.#issuing.set(key, { caId: ca.id, validityMs: ca.validityMs, promise });
    try {
      return await promise;
    } finally {
      if (this.#issuing.get(key)?.promise === promise) this.#issuing.delete(key);
    }
  }

  /** The mesh CA's certificate (PEM): what proxies of other meshes trust it by. Throws MeshCaUnavailableError. */
  async caPem(mesh: string): Promise<string> {
    return (await this.#meshCa(mesh)).signer.certPem;
  }

  /** Stops listening to the bus; entries stay readable. */
  close(): void {
    this.#unsubscribe?.();
    this.#cas.clear();
  }

  async #issue(key: string, mesh: string, services: readonly string[], ca: MeshCa): Promise<CachedWorkloadCertificate> {
    const now = this.#now();
    if (now >= ca.signer.notAfter.getTime()) throw new MeshCaUnavailableError(mesh, `its CA expired at ${ca.signer.notAfter.toISOString()}`);
    const issued = await ca.signer.issue({ mesh, service: services[0]!, additionalServices: services.slice(1), validityMs: ca.validityMs, now });
    this.#issued++;
    const cert: CachedWorkloadCertificate = {
      ...issued, mesh, services, caCertPem: ca.signer.certPem, rotateAt: rotationDueAt(issued.notAfter, issued.issuedAt),
    };
    this.#entries.delete(key);
    this.#entries.set(key, { cert, caId: ca.id, validityMs: ca.validityMs });
    while (this.#entries.size > this.#max) {
      const oldest = this.#entries.keys().next();
      if (oldest.done) break;
      this.#entries.delete(oldest.value);
    }
    return cert;
  }

  #meshCa(mesh: string): Promise<MeshCa> {
    if (!this.#unsubscribe) return this.#loadMeshCa(mesh);
    let ca = this.#cas.get(mesh);
    if (!ca) {
      ca = this.#loadMeshCa(mesh);
      this.#cas.set(mesh, ca);
      // Failures are not kept: the next request reads the store again.
      const loading = ca;
      loading.catch(() => {
        if (this.#cas.get(mesh) === loading) this.#cas.delete(mesh);
      });
    }
    return ca;
  }

  async #loadMeshCa(mesh: string): Promise<MeshCa> {
    const stored = await this.#store.get({ type: 'Mesh', name: mesh });
    if (!stored) throw new MeshCaUnavailableError(mesh, 'the mesh does not exist in this zone');
    const spec = MeshSpec.safeParse(stored.spec);
    if (!spec.success) throw new MeshCaUnavailableError(mesh, 'its stored spec is not a valid Mesh');
    const backend = enabledMtlsBackend(spec.data);
    if (!backend) throw new MeshCaUnavailableError(mesh, 'mTLS is not enabled');
    const names = meshCaSecretNames(mesh, backend.name);
    const [cert, key] = await Promise.all([
      this.#store.get({ type: 'Secret', mesh, name: names.cert }),
      this.#store.get({ type: 'Secret', mesh, name: names.key }),
    ]);
    const certData = cert?.spec['data'];
    const keyData = key?.spec['data'];
    if (typeof certData !== 'string' || typeof keyData !== 'string') {
      throw new MeshCaUnavailableError(mesh, `the CA of backend "${backend.name}" has not arrived from global (secrets "${names.cert}", "${names.key}")`);
    }
    let signer: MeshCaSigner;
    try {
      signer = await MeshCaSigner.load(Buffer.from(certData, 'base64').toString('utf8'), Buffer.from(keyData, 'base64').toString('utf8'));
    } catch (err) {
      throw new MeshCaUnavailableError(mesh, `its CA "${backend.name}" is unusable: ${(err as Error).message}`);
    }
    const expiration = backend.dpCert?.rotation?.expiration;
    const configured = expiration !== undefined ? durationToMs(expiration) : DEFAULT_WORKLOAD_VALIDITY_MS;
    const validityMs = configured > 0 ? configured : DEFAULT_WORKLOAD_VALIDITY_MS;
    const id = createHash('sha256').update(certData).update('\u0000').update(keyData).digest('hex');
    return { signer, id, validityMs };
  }

  #onEvents(events: readonly ResourceChangedEvent[]): void {
    for (const e of events) {
      if (e.type === 'Mesh') {
        this.#cas.delete(e.name);
        if (e.op === 'delete') this.#dropMesh(e.name);
      } else if (e.type === 'Secret' && e.mesh !== undefined) {
        this.#cas.delete(e.mesh);
      }
    }
  }

  #dropMesh(mesh: string): void {
    for (const [key, entry] of this.#entries) if (entry.cert.mesh === mesh) this.#entries.delete(key);
  }
}
