import type { ResourceKind } from './registry.js';

/** What a writer supplies: meta plus the type's spec fields. */
export interface Resource {
  readonly type: ResourceKind;
  readonly name: string;
  /** Set for mesh-scoped types, absent for global-scoped ones. */
  readonly mesh?: string;
  readonly labels: Readonly<Record<string, string>>;
  readonly spec: Readonly<Record<string, unknown>>;
}

/** What a store holds: a resource with its version and times. */
export interface StoredResource extends Resource {
  /** Increases on every write; compared for optimistic concurrency. */
  readonly version: string;
  readonly creationTime: string;
  readonly modificationTime: string;
}

export interface ResourceKey {
  readonly type: ResourceKind;
  readonly name: string;
  readonly mesh?: string;
}

export function keyOf(r: ResourceKey): ResourceKey {
  return r.mesh === undefined ? { type: r.type, name: r.name } : { type: r.type, name: r.name, mesh: r.mesh };
}

export function keyString(k: ResourceKey): string {
  return k.mesh === undefined ? `${k.type}/${k.name}` : `${k.type}/${k.mesh}/${k.name}`;
}

/** The resource as users write it in YAML and read it from the API: meta and spec side by side. */
export function toWire(r: Resource | StoredResource): Record<string, unknown> {
  const out: Record<string, unknown> = { type: r.type };
  if (r.mesh !== undefined) out.mesh = r.mesh;
  out.name = r.name;
  if ('creationTime' in r) {
    out.creationTime = r.creationTime;
    out.modificationTime = r.modificationTime;
  }
  out.labels = r.labels;
  return { ...out, ...r.spec };
}
