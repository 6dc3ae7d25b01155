import { AlreadyExistsError, MeshNotFoundError } from '../errors/api-error.js';
import type { EventBus } from '../events/event-bus.js';
import { MeshWorkQueue } from '../events/mesh-work-queue.js';
import { MeshSpec } from '../resources/mesh.js';
import type { ResourceStore } from '../store/resource-store.js';
import type { Logger } from '../telemetry/logger.js';
import { defaultPoliciesFor } from './default-policies.js';

export interface MeshDefaultsManagerOptions {
  readonly store: ResourceStore;
  readonly bus: EventBus;
  readonly log: Logger;
  /** First retry after a failed attempt (store down); doubles up to retryMaxMs. Default 1000. */
  readonly retryBaseMs?: number;
  /** Default 30000. */
  readonly retryMaxMs?: number;
}

/** What one attempt for a new mesh did. */
export type MeshDefaultsOutcome =
  | {
      readonly status: 'done';
      /** Written by this replica. */
      readonly created: readonly string[];
      /** There already (another replica won the race, or an operator wrote one first): left as it is. */
      readonly existing: readonly string[];
      /** Left out by the mesh's skipCreatingInitialPolicies. */
      readonly skipped: readonly string[];
    }
  /** The mesh is gone (deleted meanwhile; whatever was made went with it). */
  | { readonly status: 'no-mesh' }
  /** The stored mesh does not parse: logged as an error, nothing written. */
  | { readonly status: 'broken'; readonly reason: string };

/**
 * Gives every new Mesh Kuma's default policies (MeshTimeout `mesh-timeout-all-<mesh>` and
 * `mesh-gateways-timeout-all-<mesh>`, MeshCircuitBreaker `mesh-circuit-breaker-all-<mesh>`, MeshRetry
 * `mesh-retry-all-<mesh>`), less what its `skipCreatingInitialPolicies` names. Runs where meshes are
 * authored (global, a standalone zone); the policies reach zones over KDS like any other.
 *
 * Once per mesh, when it is created: only a Mesh `create` event causes work (no scan at start, no
 * reaction to updates), so a default an operator deleted or changed later stays deleted or changed.
 * Each policy is written only if absent (`expectedVersion: null`): replicas on one store that all see
 * the event race harmlessly, and one that exists is never overwritten. Deleting the mesh deletes them
 * with everything else in it (the store does). A mesh whose defaults cannot be written (store down) is
 * retried with backoff while this process runs.
 */
export class MeshDefaultsManager {
  readonly #store: ResourceStore;
  readonly #log: Logger;
  readonly #queue: MeshWorkQueue;

  constructor(o: MeshDefaultsManagerOptions) {
    this.#store = o.store;
    this.#log = o.log;
    this.#queue = new MeshWorkQueue({
      bus: o.bus, log: o.log, what: 'mesh default policies',
      route: (e) => {
        if (e.type !== 'Mesh') return undefined;
        if (e.op === 'create') return { op: 'check', mesh: e.name };
        return e.op === 'delete' ? { op: 'forget', mesh: e.name } : undefined;
      },
      check: (mesh) => this.ensure(mesh),
      ...(o.retryBaseMs !== undefined ? { retryBaseMs: o.retryBaseMs } : {}),
      ...(o.retryMaxMs !== undefined ? { retryMaxMs: o.retryMaxMs } : {}),
    });
  }

  /** Subscribes to Mesh creations. Subscribe before creating the `default` mesh, so that it gets its defaults too. */
  start(): void {
    this.#queue.start();
  }

  stop(): Promise<void> {
    return this.#queue.stop();
  }

  /** Resolves once every queued mesh has been handled (retries not included). */
  idle(): Promise<void> {
    return this.#queue.idle();
  }

  /**
   * Creates the default policies `mesh` lacks, according to its skip list. Called for new meshes only;
   * safe from several replicas at once. Store errors other than a lost race are thrown.
   */
  async ensure(meshName: string): Promise<MeshDefaultsOutcome> {
    const mesh = await this.#store.get({ type: 'Mesh', name: meshName });
    if (!mesh) return { status: 'no-mesh' };
    const parsed = MeshSpec.safeParse(mesh.spec);
    if (!parsed.success) {
      const reason = `its stored spec is not a valid Mesh: ${parsed.error.message}`;
      this.#log.error({ mesh: meshName }, `default policies of mesh "${meshName}": ${reason}`);
      return { status: 'broken', reason };
    }
    const { create, skipped } = defaultPoliciesFor(meshName, parsed.data.skipCreatingInitialPolicies);
    const created: string[] = [];
    const existing: string[] = [];
    // One commit each: one that exists (kept as it is) must not stop the others.
    for (const policy of create) {
      try {
        await this.#store.commit([{ op: 'put', resource: policy, expectedVersion: null }]);
        created.push(policy.name);
      } catch (err) {
        if (err instanceof AlreadyExistsError) existing.push(policy.name);
        else if (err instanceof MeshNotFoundError) return { status: 'no-mesh' };
        else throw err;
      }
    }
    // Info when this replica wrote something; a replica that lost every race says so at debug.
    const level = created.length > 0 || skipped.length > 0 ? 'info' : 'debug';
    this.#log[level]({ mesh: meshName, created, ...(existing.length ? { existing } : {}), ...(skipped.length ? { skipped } : {}) }, 'mesh default policies');
    return { status: 'done', created, existing, skipped };
  }
}
