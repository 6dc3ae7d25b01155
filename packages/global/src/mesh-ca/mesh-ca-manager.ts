import { X509Certificate } from 'node:crypto';
import {
  AlreadyExistsError, durationToMs, enabledMtlsBackend, type EventBus, listAll, type Logger, MeshNotFoundError, MeshSpec,
  type MeshWork, MeshWorkQueue, type ResourceChangedEvent, type ResourceStore, type StoredResource,
} from '@meshfed/shared';
import { MAX_SECRET_NAME, MESH_CA_BACKEND_LABEL, MESH_CA_LABEL, meshCaSecretNames } from './ca-secrets.js';
import { DEFAULT_CA_VALIDITY_MS, generateMeshRootCa, type MeshRootCa, type MeshRootCaOptions } from './root-ca.js';

export interface MeshCaManagerOptions {
  readonly store: ResourceStore;
  readonly bus: EventBus;
  readonly log: Logger;
  /** Epoch ms; default Date.now. */
  readonly now?: () => number;
  /** Makes the CA; default generateMeshRootCa (tests slow it down to widen races). */
  readonly generate?: (o: MeshRootCaOptions) => Promise<MeshRootCa>;
  /** First retry after a failed check (store down); doubles up to retryMaxMs. Default 1000. */
  readonly retryBaseMs?: number;
  /** Default 30000. */
  readonly retryMaxMs?: number;
}

/** What one check of a mesh found or did. */
export type MeshCaOutcome =
  /** This replica made the CA. */
  | { readonly status: 'created'; readonly backend: string; readonly notAfter: Date }
  /** The CA was there already (made earlier, or by another replica that won the race just now). */
  | { readonly status: 'exists'; readonly backend: string }
  /** The mesh has no enabled mTLS backend: nothing to do, and nothing is removed. */
  | { readonly status: 'no-mtls' }
  /** The mesh does not exist (deleted meanwhile; its secrets went with it). */
  | { readonly status: 'no-mesh' }
  /** Something an operator must fix: logged as an error, nothing written. */
  | { readonly status: 'broken'; readonly reason: string };

/** A CA expiring within this is reported at every check of its mesh. */
const EXPIRY_WARNING_MS = 30 * 86_400_000;

/**
 * Gives every Mesh whose enabled mTLS backend is builtin one root CA, made on global and stored as two
 * Secrets in the mesh (certificate and key, written together in one commit that requires both to be
 * new). Secrets travel global → zones over KDS, so every zone trusts the same root.
 *
 * Event-driven: Mesh creates and updates are checked as they commit, and every mesh once at start
 * (meshes made before this replica ran, or while it was down). Replicas race harmlessly: the commit
 * that loses gets AlreadyExistsError and the mesh keeps the winner's CA.
 *
 * Never rotates and never deletes: a mesh that turns mTLS off, or switches backend, keeps the CAs it
 * had; deleting the Mesh deletes its Secrets through the store. If both CA Secrets of the enabled
 * backend are deleted by hand, a new CA is made (said in a warning); if only one is, that is reported
 * and left for the operator, since replacing half a CA would silently rotate it.
 */
export class MeshCaManager {
  readonly #store: ResourceStore;
  readonly #log: Logger;
  readonly #now: () => number;
  readonly #generate: (o: MeshRootCaOptions) => Promise<MeshRootCa>;
  readonly #queue: MeshWorkQueue;
  /** Backends whose RSAbits was already reported as ignored. */
  readonly #rsaNoted = new Set<string>();
  #stopped = false;

  constructor(o: MeshCaManagerOptions) {
    this.#store = o.store;
    this.#log = o.log;
    this.#now = o.now ?? Date.now;
    this.#generate = o.generate ?? generateMeshRootCa;
    this.#queue = new MeshWorkQueue({
      bus: o.bus, log: o.log, what: 'mesh CA',
      route: (e) => this.#route(e),
      check: (mesh) => this.ensure(mesh),
      initial: async () => (await listAll(this.#store, 'Mesh')).map((m) => m.name),
      ...(o.retryBaseMs !== undefined ? { retryBaseMs: o.retryBaseMs } : {}),
      ...(o.retryMaxMs !== undefined ? { retryMaxMs: o.retryMaxMs } : {}),
    });
  }

  /** Subscribes to changes and checks every existing mesh. Returns at once; `idle()` waits for the work. */
  start(): void {
    if (this.#stopped) throw new Error('MeshCaManager was stopped');
    this.#queue.start();
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    await this.#queue.stop();
  }

  /** Resolves once the start-up scan and every queued check have finished (retries not included). */
  idle(): Promise<void> {
    return this.#queue.idle();
  }

  /**
   * Makes sure `mesh` has its CA if its enabled backend is builtin. Safe to call from several
   * replicas at once. Store errors other than the lost race are thrown.
   */
  async ensure(meshName: string): Promise<MeshCaOutcome> {
    const mesh = await this.#store.get({ type: 'Mesh', name: meshName });
    if (!mesh) return { status: 'no-mesh' };
    const parsed = MeshSpec.safeParse(mesh.spec);
    if (!parsed.success) return this.#broken(meshName, `its stored spec is not a valid Mesh: ${parsed.error.message}`);
    const backend = enabledMtlsBackend(parsed.data);
    if (!backend) return { status: 'no-mtls' };
    const names = meshCaSecretNames(meshName, backend.name);
    if (names.key.length > MAX_SECRET_NAME) {
      return this.#broken(meshName, `the CA secret name "${names.key}" would exceed ${MAX_SECRET_NAME} characters: use a shorter backend name`);
    }
    const [cert, key] = await Promise.all([
      this.#store.get({ type: 'Secret', mesh: meshName, name: names.cert }),
      this.#store.get({ type: 'Secret', mesh: meshName, name: names.key }),
    ]);
    if (cert && key) {
      this.#checkExpiry(meshName, backend.name, cert);
      return { status: 'exists', backend: backend.name };
    }
    if (cert || key) {
      const missing = cert ? names.key : names.cert;
      return this.#broken(meshName, `secret "${missing}" of its builtin CA "${backend.name}" is missing while the other is there; `
        + 'meshfed does not replace half a CA (that would rotate it silently): restore it, or delete both to have a new CA made');
    }

    const caCert = backend.conf?.caCert;
    if (caCert?.RSAbits !== undefined && !this.#rsaNoted.has(`${meshName}\u0000${backend.name}`)) {
      this.#rsaNoted.add(`${meshName}\u0000${backend.name}`);
      this.#log.info({ mesh: meshName, backend: backend.name, RSAbits: caCert.RSAbits }, 'mesh CA: RSAbits is ignored, meshfed makes ECDSA P-256 CAs');
    }
    let validityMs = caCert?.expiration !== undefined ? durationToMs(caCert.expiration) : DEFAULT_CA_VALIDITY_MS;
    if (!(validityMs > 0)) {
      this.#log.warn({ mesh: meshName, backend: backend.name, expiration: caCert?.expiration }, 'mesh CA: conf.caCert.expiration is not positive; using 10y');
      validityMs = DEFAULT_CA_VALIDITY_MS;
    }
    const ca = await this.#generate({ mesh: meshName, validityMs, now: this.#now() });
    const labels = { [MESH_CA_LABEL]: 'builtin', [MESH_CA_BACKEND_LABEL]: backend.name };
    const secret = (name: string, pem: string) => ({
      type: 'Secret' as const, mesh: meshName, name, labels, spec: { data: Buffer.from(pem, 'utf8').toString('base64') },
    });
    try {
      // One commit, both new: of racing replicas exactly one writes, and never half a CA.
      await this.#store.commit([
        { op: 'put', resource: secret(names.cert, ca.certPem), expectedVersion: null },
        { op: 'put', resource: secret(names.key, ca.keyPem), expectedVersion: null },
      ]);
    } catch (err) {
      if (err instanceof AlreadyExistsError) {
        this.#log.debug({ mesh: meshName, backend: backend.name }, 'mesh CA: another replica made it first; keeping theirs');
        return { status: 'exists', backend: backend.name };
      }
      if (err instanceof MeshNotFoundError) return { status: 'no-mesh' };
      throw err;
    }
    this.#log.info({ mesh: meshName, backend: backend.name, notAfter: ca.notAfter.toISOString(), secrets: [names.cert, names.key] }, 'mesh CA created');
    return { status: 'created', backend: backend.name, notAfter: ca.notAfter };
  }

  #route(e: ResourceChangedEvent): MeshWork | undefined {
    if (e.type === 'Mesh') return { op: e.op === 'delete' ? 'forget' : 'check', mesh: e.name };
    if (e.type === 'Secret' && e.op === 'delete' && e.mesh !== undefined && e.labels[MESH_CA_LABEL] !== undefined) {
      // A CA secret deleted by hand (a Mesh delete also lands here, and finds no mesh).
      this.#log.warn({ mesh: e.mesh, secret: e.name }, 'mesh CA secret deleted');
      return { op: 'check', mesh: e.mesh };
    }
    return undefined;
  }

  #broken(mesh: string, reason: string): MeshCaOutcome {
    this.#log.error({ mesh }, `mesh CA of mesh "${mesh}": ${reason}`);
    return { status: 'broken', reason };
  }

  #checkExpiry(mesh: string, backend: string, cert: StoredResource): void {
    const data = cert.spec['data'];
    if (typeof data !== 'string') return;
    let notAfter: number;
    try {
      notAfter = Date.parse(new X509Certificate(Buffer.from(data, 'base64')).validTo);
    } catch (err) {
      this.#log.error({ err, mesh, backend }, 'mesh CA: the stored CA certificate does not parse');
      return;
    }
    const left = notAfter - this.#now();
    if (left < EXPIRY_WARNING_MS) {
      this.#log.warn({ mesh, backend, notAfter: new Date(notAfter).toISOString() }, left <= 0 ? 'mesh CA has expired: workload certificates cannot be issued' : 'mesh CA expires soon; meshfed does not rotate it by itself');
    }
  }
}
