import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { intersects, isSubset, subsetOf } from './subset.js';

describe('subsets', () => {
  it('turns targetRefs into tags as Kuma asSubset does', () => {
    // targetref.md: "MeshService: all proxies with a tag kuma.io/service equal to targetRef.name";
    // "MeshServiceSubset: same as MeshService but further refine to proxies that have matching targetRef.tags".
    assert.deepEqual(subsetOf({ kind: 'Mesh' }), []);
    assert.deepEqual(subsetOf({ kind: 'MeshService', name: 'web' }), [{ key: 'kuma.io/service', value: 'web' }]);
    assert.deepEqual(subsetOf({ kind: 'MeshServiceSubset', name: 'web', tags: { version: 'v2' } }), [
      { key: 'kuma.io/service', value: 'web' },
      { key: 'version', value: 'v2' },
    ]);
    assert.deepEqual(subsetOf({ kind: 'MeshSubset', tags: { b: '2', a: '1' } }), [{ key: 'a', value: '1' }, { key: 'b', value: '2' }]);
    assert.equal(subsetOf({ kind: 'MeshGateway', name: 'edge' }), undefined);
  });

  it('isSubset: "Empty set is a superset for all subsets", negations as in rules.go isSubset', () => {
    const web = [{ key: 'kuma.io/service', value: 'web' }];
    const notWeb = [{ key: 'kuma.io/service', value: 'web', not: true as const }];
    const notDb = [{ key: 'kuma.io/service', value: 'db', not: true as const }];
    assert.ok(isSubset([], web));
    assert.ok(isSubset(web, [...web, { key: 'version', value: 'v1' }]));
    assert.ok(!isSubset(web, []));
    assert.ok(isSubset(notDb, web)); // {y: a} ⊆ {y: !b} iff a != b
    assert.ok(!isSubset(notWeb, web));
    assert.ok(!isSubset(web, notWeb)); // {y: !a} is never inside {y: b}
  });

  it('intersects unless two positive tags of one key differ', () => {
    assert.ok(intersects([], [{ key: 'a', value: '1' }]));
    assert.ok(intersects([{ key: 'a', value: '1' }], [{ key: 'b', value: '2' }]));
    assert.ok(!intersects([{ key: 'a', value: '1' }], [{ key: 'a', value: '2' }]));
    // Order-free, unlike Kuma 2.7's early return (README, "Choices").
    assert.ok(!intersects([{ key: 'x', value: '1' }, { key: 'a', value: '1' }], [{ key: 'a', value: '2' }]));
  });
});
