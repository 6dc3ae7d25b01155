import { type AnyDescriptor, DESCRIPTORS, findByCliName, findByKind } from '@meshfed/shared/resources';
import { UsageError } from './errors.js';

/** The type names `get` and `delete` list when they do not know one: Kuma's plurals. */
export function validTypeNames(): string[] {
  return DESCRIPTORS.map((d) => d.plural);
}

/** Resolves what a user types (`dp`, `meshes`, `MeshTimeout`) through the registry, or a UsageError. */
export function resolveType(name: string): AnyDescriptor {
  const d = findByCliName(name);
  if (!d) throw new UsageError(`unknown resource type "${name}"; valid types: ${validTypeNames().join(', ')}`);
  return d;
}

/** Resolves a document's `type`, which must be the exact kind (`Dataplane`), with a hint if it is a CLI name. */
export function resolveKind(kind: string): { descriptor: AnyDescriptor } | { error: string } {
  const d = findByKind(kind);
  if (d) return { descriptor: d };
  const near = findByCliName(kind);
  if (near) return { error: `unknown type "${kind}": did you mean "${near.kind}"?` };
  return { error: `unknown type "${kind}"; known types: ${DESCRIPTORS.map((x) => x.kind).join(', ')}` };
}
