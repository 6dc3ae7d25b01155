import { type MeshIndex, subsetTags } from '../generate/zone-index.js';
import type { Backends } from './types.js';

/** A route's backendRef as both route schemas give it. */
export interface BackendRef {
  readonly kind: string;
  readonly name?: string | undefined;
  readonly tags?: Readonly<Record<string, string>> | undefined;
  readonly weight?: number | undefined;
}

/** Where a route sends its traffic: clusters and their relative weights. */
export type WeightedClusters = readonly { readonly name: string; readonly weight: number }[];

/**
 * The clusters of a route's backendRefs (weight 1 when unset, as in Kuma); a backend of weight 0 gets
 * nothing and is left out, two refs to one cluster add up; a backend the mesh does not know is kept
 * (it may appear any moment) and reported. Undefined, with a problem, when no backend
 * has a weight: the route is then left as it was.
 */
export function backendClusters(refs: readonly BackendRef[], mesh: MeshIndex, backends: Backends, where: string, problems: string[]): WeightedClusters | undefined {
  const weighted: { name: string; weight: number }[] = [];
  for (const ref of refs) {
    const weight = ref.weight ?? 1;
    if (weight === 0 || ref.name === undefined) continue;
    if (!mesh.local.has(ref.name) && !mesh.remote.has(ref.name) && !mesh.external.has(ref.name)) {
      problems.push(`${where}: backend ${ref.name} has no instance in any zone and is no ExternalService of mesh ${mesh.name}; its share of the traffic fails (503)`);
    }
    const name = backends.cluster(ref.name, ref.kind === 'MeshServiceSubset' ? subsetTags(ref.tags ?? {}) : {});
    const same = weighted.find((w) => w.name === name);
    if (same) same.weight += weight;
    else weighted.push({ name, weight });
  }
  if (weighted.length > 0) return weighted;
  problems.push(`${where}: no backendRef has a weight above 0; the route is not applied`);
  return undefined;
}
