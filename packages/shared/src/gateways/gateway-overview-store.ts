import { NotFoundError } from '../errors/index.js';
import type { ResourceKind, StoredResource } from '../resources/index.js';
import { MAX_PAGE_SIZE, type ResourceStore } from '../store/index.js';

/** What the gateway overview of a mesh is computed from, read page by page from a CP's store. */
export interface GatewayResources {
  readonly gateways: StoredResource[];
  readonly routes: StoredResource[];
  readonly dataplanes: StoredResource[];
}

async function listAll(store: ResourceStore, type: ResourceKind, mesh: string): Promise<StoredResource[]> {
  const out: StoredResource[] = [];
  for (let offset: number | undefined = 0; offset !== undefined;) {
    const page = await store.list(type, { limit: MAX_PAGE_SIZE, offset, mesh });
    out.push(...page.items);
    offset = page.next;
  }
  return out;
}

/** A mesh's MeshGateways, MeshGatewayRoutes and Dataplanes; 404 when the mesh does not exist. */
export async function readGatewayResources(store: ResourceStore, mesh: string): Promise<GatewayResources> {
  if (!(await store.get({ type: 'Mesh', name: mesh }))) throw new NotFoundError(`Mesh "${mesh}" does not exist`);
  const [gateways, routes, dataplanes] = await Promise.all([
    listAll(store, 'MeshGateway', mesh), listAll(store, 'MeshGatewayRoute', mesh), listAll(store, 'Dataplane', mesh),
  ]);
  return { gateways, routes, dataplanes };
}
