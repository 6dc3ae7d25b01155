import type { z } from 'zod';

/** Where a resource lives: alone (Mesh, Zone) or inside a mesh (Dataplane, policies). */
export type Scope = 'global' | 'mesh';

/**
 * Who may write a type. `global`: applied on the global CP (or a standalone zone) and pushed down.
 * `zone`: created in a zone and sent up. `system`: maintained by the control planes themselves.
 */
export type Owner = 'global' | 'zone' | 'system';

/** KDS flows a type takes part in. A ZoneIngress has both: it goes up and then down to the other zones. */
export type KdsFlow = 'global-to-zone' | 'zone-to-global';

/** A resource body without its meta: everything besides `type`, `name`, `mesh` and `labels`. */
export type SpecSchema = z.ZodType<Record<string, unknown>>;

export interface ResourceDescriptor<K extends string = string, S extends SpecSchema = SpecSchema> {
  readonly kind: K;
  /** REST path segment, Kuma's (`meshes`, `external-services`, `meshgatewayroutes`). */
  readonly plural: string;
  /** Lower-case singular used by the CLI (`dataplane`, `external-service`). */
  readonly singular: string;
  readonly scope: Scope;
  readonly owner: Owner;
  readonly kds: readonly KdsFlow[];
  readonly spec: S;
  /** Extra names the CLI accepts for the type. */
  readonly aliases?: readonly string[];
  /**
   * Former REST path segments still served (and accepted by the CLI), so URLs and scripts written
   * for them keep working; nothing prints them, answers name `plural`.
   */
  readonly pluralAliases?: readonly string[];
  /** Internal to the control planes (a signing key): the REST API does not serve it at all. */
  readonly internal?: boolean;
}

export function defineResource<const K extends string, S extends SpecSchema>(
  d: ResourceDescriptor<K, S>,
): ResourceDescriptor<K, S> {
  return Object.freeze(d);
}
