import { type AccessAction, type AccessRoleBindingSpec, type AccessRoleSpec, ADMIN_GROUP, AUTHENTICATED_GROUP } from '../resources/access-role.js';

/** One right: an action, on a resource type (its kind, `Secret`), in a mesh and on a name where that applies. */
export interface Need {
  readonly action: AccessAction;
  /** The resource kind (`Secret`, `MeshTimeout`); absent for actions on the control plane itself. */
  readonly type?: string;
  readonly mesh?: string;
  readonly name?: string;
}

/** Who is calling: a user (by token, or the loopback admin) or nobody in particular. */
export type Principal =
  | { readonly kind: 'anonymous' }
  | {
      readonly kind: 'user';
      readonly name: string;
      readonly groups: readonly string[];
      /** `token`: a bearer user token; `loopback`: a request from this host with --api-localhost-is-admin. */
      readonly via: 'token' | 'loopback';
      /** The token's id, for audit lines. */
      readonly tokenId?: string;
    };

/** Who a request from loopback is when --api-localhost-is-admin is on: Kuma's admin user. */
export const LOOPBACK_ADMIN: Principal = { kind: 'user', name: 'mesh-system:admin', groups: [ADMIN_GROUP], via: 'loopback' };

/** Kinds whose content is key material: an authenticated user does not read them without a grant. */
export const SECRET_KINDS: ReadonlySet<string> = new Set(['Secret', 'GlobalSecret']);

export interface AccessGrants {
  readonly roles: ReadonlyMap<string, AccessRoleSpec>;
  readonly bindings: readonly AccessRoleBindingSpec[];
}

export const NO_GRANTS: AccessGrants = { roles: new Map(), bindings: [] };

export type Decision = { readonly allowed: true } | { readonly allowed: false; readonly status: 401 | 403; readonly reason: string };

const ALLOW: Decision = { allowed: true };

/** `CREATE MeshTimeout "t1" in mesh "default"`, as a refusal names the right that is missing. */
export function describeNeed(n: Need): string {
  return [n.action, n.type, n.name !== undefined ? `"${n.name}"` : undefined, n.mesh !== undefined ? `in mesh "${n.mesh}"` : undefined].filter(Boolean).join(' ');
}

function groupsOf(p: Extract<Principal, { kind: 'user' }>): readonly string[] {
  return [...p.groups, AUTHENTICATED_GROUP];
}

/**
 * The built-in rules, then the AccessRoles bound to the caller: the admin group may do everything; any
 * authenticated user may read every type except secrets; anything else needs a grant. Pure: the caller
 * brings the grants it holds.
 */
export function authorize(principal: Principal, need: Need, grants: AccessGrants = NO_GRANTS): Decision {
  if (principal.kind === 'anonymous') {
    return { allowed: false, status: 401, reason: `authentication required to ${describeNeed(need)}: present a user token ("Authorization: Bearer <token>", meshfed --token-file)` };
  }
  const groups = groupsOf(principal);
  if (groups.includes(ADMIN_GROUP)) return ALLOW;
  if (need.action === 'READ' && need.type !== undefined && !SECRET_KINDS.has(need.type)) return ALLOW;
  if (granted(principal.name, groups, need, grants)) return ALLOW;
  return {
    allowed: false, status: 403,
    reason: `user "${principal.name}" (groups: ${principal.groups.join(', ') || 'none'}) lacks the right to ${describeNeed(need)}: ask an admin for an AccessRole that grants it`,
  };
}

function granted(user: string, groups: readonly string[], need: Need, grants: AccessGrants): boolean {
  for (const b of grants.bindings) {
    const bound = b.subjects.some((s) => (s.type === 'User' ? s.name === user : groups.includes(s.name)));
    if (!bound) continue;
    for (const roleName of b.roles) {
      const role = grants.roles.get(roleName);
      if (role?.rules.some((r) => ruleGrants(r, need))) return true;
    }
  }
  return false;
}

function ruleGrants(r: AccessRoleSpec['rules'][number], need: Need): boolean {
  if (!r.access.includes(need.action)) return false;
  // A rule limited to types grants nothing on the control plane itself, and the reverse.
  if (need.type === undefined ? r.types !== undefined : r.types !== undefined && !r.types.includes(need.type)) return false;
  if (r.meshes !== undefined && (need.mesh === undefined || !r.meshes.includes(need.mesh))) return false;
  if (r.names !== undefined && (need.name === undefined || !r.names.includes(need.name))) return false;
  return true;
}
