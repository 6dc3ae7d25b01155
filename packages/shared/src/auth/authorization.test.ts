import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { AccessRoleBindingSpec, AccessRoleSpec } from '../resources/access-role.js';
import { type AccessGrants, authorize, type Need, type Principal } from './authorization.js';

const user = (name: string, groups: string[] = []): Principal => ({ kind: 'user', name, groups, via: 'token' });
const admin = user('root', ['mesh-system:admin']);
const reader = user('alice', ['readers']);
const anonymous: Principal = { kind: 'anonymous' };

function grants(roles: Record<string, unknown>, bindings: unknown[]): AccessGrants {
  return {
    roles: new Map(Object.entries(roles).map(([k, v]) => [k, AccessRoleSpec.parse(v)])),
    bindings: bindings.map((b) => AccessRoleBindingSpec.parse(b)),
  };
}

const allowed = (p: Principal, n: Need, g?: AccessGrants) => authorize(p, n, g).allowed;

describe('authorization', () => {
  test('the admin group may do everything', () => {
    for (const n of [{ action: 'DELETE', type: 'Mesh', name: 'default' }, { action: 'READ', type: 'Secret', mesh: 'default' }, { action: 'GENERATE_ZONE_TOKEN' }] as Need[]) {
      assert.equal(allowed(admin, n), true, JSON.stringify(n));
    }
  });

  test('an authenticated user reads every type but secrets, and nothing else', () => {
    assert.equal(allowed(reader, { action: 'READ', type: 'MeshTimeout', mesh: 'default' }), true);
    assert.equal(allowed(reader, { action: 'READ', type: 'Zone' }), true);
    for (const n of [
      { action: 'READ', type: 'Secret', mesh: 'default' }, { action: 'READ', type: 'GlobalSecret' }, { action: 'CREATE', type: 'MeshTimeout', mesh: 'default' },
      { action: 'GENERATE_DATAPLANE_TOKEN', mesh: 'default' }, { action: 'GENERATE_ZONE_TOKEN' }, { action: 'GENERATE_USER_TOKEN' }, { action: 'REVOKE_TOKEN' },
    ] as Need[]) {
      const d = authorize(reader, n);
      assert.equal(d.allowed, false, JSON.stringify(n));
      if (!d.allowed) assert.equal(d.status, 403);
    }
  });

  test('a refusal names the missing right, the user and their groups', () => {
    const d = authorize(reader, { action: 'CREATE', type: 'MeshTimeout', mesh: 'default', name: 't1' });
    assert.deepEqual(d, {
      allowed: false, status: 403,
      reason: 'user "alice" (groups: readers) lacks the right to CREATE MeshTimeout "t1" in mesh "default": ask an admin for an AccessRole that grants it',
    });
  });

  test('anonymous callers are asked to authenticate (401), whatever they ask', () => {
    const d = authorize(anonymous, { action: 'READ', type: 'Mesh' });
    assert.equal(d.allowed, false);
    if (!d.allowed) assert.equal(d.status, 401);
  });

  test('AccessRoles grant what their rules say, to the users and groups bound to them', () => {
    const g = grants(
      {
        'timeouts-in-default': { rules: [{ types: ['MeshTimeout', 'MeshRetry'], meshes: ['default'], access: ['CREATE', 'UPDATE', 'DELETE'] }] },
        'dp-tokens': { rules: [{ meshes: ['default'], access: ['GENERATE_DATAPLANE_TOKEN'] }] },
        'one-secret': { rules: [{ types: ['Secret'], names: ['db-password'], access: ['READ'] }] },
      },
      [
        { subjects: [{ type: 'Group', name: 'team-a' }], roles: ['timeouts-in-default', 'dp-tokens'] },
        { subjects: [{ type: 'User', name: 'bob' }], roles: ['one-secret', 'missing-role'] },
      ],
    );
    const carol = user('carol', ['team-a']);
    assert.equal(allowed(carol, { action: 'CREATE', type: 'MeshTimeout', mesh: 'default', name: 't' }, g), true);
    assert.equal(allowed(carol, { action: 'CREATE', type: 'MeshTimeout', mesh: 'other', name: 't' }, g), false, 'another mesh');
    assert.equal(allowed(carol, { action: 'CREATE', type: 'MeshHTTPRoute', mesh: 'default', name: 't' }, g), false, 'another type');
    assert.equal(allowed(carol, { action: 'GENERATE_DATAPLANE_TOKEN', mesh: 'default' }, g), true);
    assert.equal(allowed(carol, { action: 'GENERATE_DATAPLANE_TOKEN', mesh: 'other' }, g), false);
    assert.equal(allowed(carol, { action: 'GENERATE_ZONE_TOKEN' }, g), false);
    const bob = user('bob');
    assert.equal(allowed(bob, { action: 'READ', type: 'Secret', mesh: 'default', name: 'db-password' }, g), true);
    assert.equal(allowed(bob, { action: 'READ', type: 'Secret', mesh: 'default', name: 'other' }, g), false);
    assert.equal(allowed(bob, { action: 'READ', type: 'Secret', mesh: 'default' }, g), false, 'a rule limited to names does not grant the listing');
    assert.equal(allowed(user('dave', ['team-b']), { action: 'CREATE', type: 'MeshTimeout', mesh: 'default' }, g), false);
  });

  test('a rule limited to types grants nothing on the control plane itself', () => {
    const g = grants({ r: { rules: [{ types: ['Mesh'], access: ['GENERATE_ZONE_TOKEN'] }] } }, [{ subjects: [{ type: 'Group', name: 'mesh-system:authenticated' }], roles: ['r'] }]);
    assert.equal(allowed(reader, { action: 'GENERATE_ZONE_TOKEN' }, g), false);
  });

  test('the implicit authenticated group can be bound', () => {
    const g = grants({ r: { rules: [{ access: ['GENERATE_ZONE_TOKEN'] }] } }, [{ subjects: [{ type: 'Group', name: 'mesh-system:authenticated' }], roles: ['r'] }]);
    assert.equal(allowed(reader, { action: 'GENERATE_ZONE_TOKEN' }, g), true);
    assert.equal(allowed(anonymous, { action: 'GENERATE_ZONE_TOKEN' }, g), false);
  });

  test('roles and bindings are refused field by field when malformed', () => {
    const r = AccessRoleSpec.safeParse({ rules: [{ types: [], access: ['FLY'] }] });
    assert.equal(r.success, false);
    assert.deepEqual(r.error!.issues.map((i) => i.path.join('.')), ['rules.0.types', 'rules.0.access.0']);
    const b = AccessRoleBindingSpec.safeParse({ subjects: [{ type: 'Team', name: 'x' }], roles: [] });
    assert.deepEqual(b.error!.issues.map((i) => i.path.join('.')), ['subjects.0.type', 'roles']);
  });
});
