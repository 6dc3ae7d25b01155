/** How messages name a resource: `Mesh "default"`, `Dataplane "dp-1" in mesh "default"`. */
export function describeResource(kind: string, name: string, mesh?: string): string {
  return mesh === undefined ? `${kind} "${name}"` : `${kind} "${name}" in mesh "${mesh}"`;
}

/** How messages name a listing: `dataplanes in mesh "default"`, `meshes`. */
export function describeList(plural: string, mesh?: string): string {
  return mesh === undefined ? plural : `${plural} in mesh "${mesh}"`;
}
