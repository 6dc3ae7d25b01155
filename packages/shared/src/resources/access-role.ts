import { z } from 'zod';
import { defineResource } from './descriptor.js';
import { meshNameSchema, resourceNameSchema } from './meta.js';

/**
 * What a caller may be allowed to do, Kong Mesh's AccessRole actions plus meshfed's own for the token
 * lifecycle. `READ` … `DELETE` are on resource types; the others are on the control plane itself.
 */
export const ACCESS_ACTIONS = [
  'READ', 'CREATE', 'UPDATE', 'DELETE',
  'GENERATE_DATAPLANE_TOKEN', 'GENERATE_ZONE_TOKEN', 'GENERATE_USER_TOKEN',
  'REVOKE_TOKEN', 'MANAGE_SIGNING_KEYS',
] as const;
export const AccessActionSchema = z.enum(ACCESS_ACTIONS, { error: `must be one of ${ACCESS_ACTIONS.join(', ')}` });
export type AccessAction = z.infer<typeof AccessActionSchema>;

/** Kuma's admin group: its members may do everything. */
export const ADMIN_GROUP = 'mesh-system:admin';
/** Every authenticated caller is in it, as in Kuma; AccessRoleBindings can name it. */
export const AUTHENTICATED_GROUP = 'mesh-system:authenticated';
const MAX_GROUPS = 64;

/** A user's or a group's name, as user tokens carry them: printable, bounded. */
export const SubjectNameSchema = z.string().trim().min(1, 'must not be empty').max(253, 'must be at most 253 characters').regex(/^[^\s,]+$/, 'must not contain spaces or commas');
export const GroupsSchema = z.array(SubjectNameSchema).max(MAX_GROUPS, `must name at most ${MAX_GROUPS} groups`);

const kindName = z.string().regex(/^[A-Z][A-Za-z]*$/, 'must be a resource kind such as MeshTimeout');

/**
 * One grant of an AccessRole (Kong Mesh's shape): `access` actions on resources of `types` (all types
 * when absent), in `meshes` (all when absent), named `names` (all when absent). Actions on the control
 * plane itself (GENERATE_*_TOKEN, REVOKE_TOKEN, MANAGE_SIGNING_KEYS) are granted by a rule without `types`.
 */
export const AccessRuleSchema = z
  .object({
    types: z.array(kindName).min(1, 'leave types out to mean every type').optional(),
    meshes: z.array(meshNameSchema).min(1, 'leave meshes out to mean every mesh').optional(),
    names: z.array(resourceNameSchema).min(1, 'leave names out to mean every name').optional(),
    access: z.array(AccessActionSchema).min(1, 'must grant at least one action'),
  })
  .strict();
export type AccessRule = z.infer<typeof AccessRuleSchema>;

export const AccessRoleSpec = z.object({ rules: z.array(AccessRuleSchema).min(1, 'must have at least one rule').max(100, 'must have at most 100 rules') }).strict();
export type AccessRoleSpec = z.infer<typeof AccessRoleSpec>;

/** Who a binding grants its roles to: a user by the name in their token, or everyone in a group. */
export const AccessSubjectSchema = z.object({ type: z.enum(['User', 'Group'], { error: 'must be User or Group' }), name: SubjectNameSchema }).strict();
export type AccessSubject = z.infer<typeof AccessSubjectSchema>;

export const AccessRoleBindingSpec = z
  .object({
    subjects: z.array(AccessSubjectSchema).min(1, 'must name at least one subject').max(1000, 'must name at most 1000 subjects'),
    roles: z.array(resourceNameSchema).min(1, 'must name at least one role').max(100, 'must name at most 100 roles'),
  })
  .strict();
export type AccessRoleBindingSpec = z.infer<typeof AccessRoleBindingSpec>;

/** Grants actions; given to users and groups by AccessRoleBindings. Applied on global, enforced by every CP it reaches. */
export const AccessRoleDescriptor = defineResource({
  kind: 'AccessRole', plural: 'accessroles', singular: 'accessrole', scope: 'global', owner: 'global',
  kds: ['global-to-zone'], spec: AccessRoleSpec, aliases: ['access-role', 'access-roles'],
});

export const AccessRoleBindingDescriptor = defineResource({
  kind: 'AccessRoleBinding', plural: 'accessrolebindings', singular: 'accessrolebinding', scope: 'global', owner: 'global',
  kds: ['global-to-zone'], spec: AccessRoleBindingSpec, aliases: ['access-role-binding', 'access-role-bindings'],
});
