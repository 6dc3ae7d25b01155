import type { Resource, ResourceKey, StoredResource } from '../resources/resource.js';
import type { ResourceStore } from './resource-store.js';

/** Conveniences over `commit` for the single-resource case. */
export async function createResource(store: ResourceStore, resource: Resource): Promise<StoredResource> {
  const { written } = await store.commit([{ op: 'put', resource, expectedVersion: null }]);
  return written[0]!;
}

export async function putResource(store: ResourceStore, resource: Resource, expectedVersion?: string): Promise<StoredResource> {
  const { written } = await store.commit([{ op: 'put', resource, ...(expectedVersion !== undefined ? { expectedVersion } : {}) }]);
  return written[0]!;
}

export async function deleteResource(store: ResourceStore, key: ResourceKey, expectedVersion?: string): Promise<void> {
  await store.commit([{ op: 'delete', key, ...(expectedVersion !== undefined ? { expectedVersion } : {}) }]);
}
