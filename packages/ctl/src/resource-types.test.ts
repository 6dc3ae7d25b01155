import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { UsageError } from './errors.js';
import { resolveKind, resolveType, validTypeNames } from './resource-types.js';

describe('resolveType', () => {
  const cases: [string, string][] = [
    ['meshes', 'Mesh'],
    ['mesh', 'Mesh'],
    ['Mesh', 'Mesh'],
    ['dataplanes', 'Dataplane'],
    ['dataplane', 'Dataplane'],
    ['dp', 'Dataplane'],
    ['meshgateways', 'MeshGateway'],
    ['external-services', 'ExternalService'],
    ['external-service', 'ExternalService'],
    ['zoneegresses', 'ZoneEgress'],
    ['zone-egress', 'ZoneEgress'],
    ['MeshTrafficPermission', 'MeshTrafficPermission'],
    ['meshtrafficpermissions', 'MeshTrafficPermission'],
    ['meshloadbalancingstrategies', 'MeshLoadBalancingStrategy'],
    ['meshloadbalancingstrategys', 'MeshLoadBalancingStrategy'],
  ];
  for (const [input, kind] of cases) {
    it(`resolves ${input} to ${kind}`, () => assert.equal(resolveType(input).kind, kind));
  }

  it('resolves policies by kind and plural', () => {
    assert.ok(validTypeNames().includes('meshtimeouts'));
    assert.equal(resolveType('MeshTimeout').kind, 'MeshTimeout');
    assert.equal(resolveType('meshtimeouts').kind, 'MeshTimeout');
  });

  it('lists the canonical plural of MeshLoadBalancingStrategy, not the former one it still takes', () => {
    assert.ok(validTypeNames().includes('meshloadbalancingstrategies'));
    assert.ok(!validTypeNames().includes('meshloadbalancingstrategys'));
  });

  it('lists the valid plurals for an unknown type', () => {
    assert.throws(
      () => resolveType('pods'),
      (e: unknown) =>
        e instanceof UsageError &&
        e.message.startsWith('unknown resource type "pods"; valid types: meshes, ') &&
        e.message.includes('dataplanes') &&
        e.message.includes('external-services'),
    );
  });
});

describe('resolveKind', () => {
  it('takes exact kinds only and hints at the kind for a CLI name', () => {
    const ok = resolveKind('Dataplane');
    assert.ok('descriptor' in ok && ok.descriptor.kind === 'Dataplane');
    assert.deepEqual(resolveKind('dataplane'), { error: 'unknown type "dataplane": did you mean "Dataplane"?' });
    const bad = resolveKind('Pod');
    assert.ok('error' in bad && bad.error.startsWith('unknown type "Pod"; known types: Mesh, '));
  });
});
