import type { ResourceChangedEvent } from '../events/event-bus.js';
import type { ResourceKind } from '../resources/registry.js';
import type { Resource, ResourceKey, StoredResource } from '../resources/resource.js';

/**
 * One write inside a commit.
 * - `put`: `expectedVersion` undefined writes unconditionally (create or update), `null` requires that
 *   the resource does not exist yet, a string requires that it exists at exactly that version.
 * - `delete`: a missing resource is a NotFoundError; a Mesh takes everything inside it along.
 */
export type WriteOp =
  | { readonly op: 'put'; readonly resource: Resource; readonly expectedVersion?: string | null }
  | { readonly op: 'delete'; readonly key: ResourceKey; readonly expectedVersion?: string };

export interface ListOptions {
  /** Only resources of this mesh (mesh-scoped types); all meshes when absent. */
  readonly mesh?: string;
  /** Page size; the store caps it at MAX_PAGE_SIZE. */
  readonly limit?: number;
  readonly offset?: number;
}

export interface ListResult {
  readonly items: readonly StoredResource[];
  readonly total: number;
  /** Offset of the next page, absent on the last one. */
  readonly next?: number;
}

export const DEFAULT_PAGE_SIZE = 100;
export const MAX_PAGE_SIZE = 1000;

/**
 * The one storage seam. Every write goes through `commit`, which is atomic: all ops apply or none do,
 * and the change events of a commit are published together after it is durable. Errors are ApiErrors:
 * NotFoundError, AlreadyExistsError, VersionConflictError, MeshNotFoundError, StoreUnavailableError.
 */
export interface ResourceStore {
  readonly backend: 'memory' | 'postgres';
  get(key: ResourceKey): Promise<StoredResource | undefined>;
  /** Ordered by mesh then name, so pages are stable. */
  list(type: ResourceKind, options?: ListOptions): Promise<ListResult>;
  commit(ops: readonly WriteOp[]): Promise<CommitResult>;
  /** True when the store can serve requests right now (for /ready). */
  healthy(): Promise<boolean>;
  close(): Promise<void>;
}

export interface CommitResult {
  /** The stored form of every `put`, in op order. */
  readonly written: readonly StoredResource[];
  readonly events: readonly ResourceChangedEvent[];
}

export function clampLimit(limit: number | undefined): number {
  if (limit === undefined || !Number.isFinite(limit) || limit <= 0) return DEFAULT_PAGE_SIZE;
  return Math.min(Math.floor(limit), MAX_PAGE_SIZE);
}
