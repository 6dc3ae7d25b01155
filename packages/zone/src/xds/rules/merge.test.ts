import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { mergeConfs } from './merge.js';
import { POLICY_KINDS } from './policy-kinds.js';

describe('mergeConfs', () => {
  it('merges objects field by field and replaces lists, as the documents example', () => {
    // targetref.md "Merging configuration": `conf: 1, sub: {array: [1,2,3], other: 50, other-array:
    // [3,4,5]}` then `sub: {array: [], other-array: [5,6], extra: 2}` gives `conf: 1, sub: {array: [],
    // other-array: [5,6], extra: 2}` (`other` kept here: see the null case below).
    const [m] = mergeConfs<Record<string, unknown>>([
      { conf: 1, sub: { array: [1, 2, 3], other: 50, 'other-array': [3, 4, 5] } },
      { sub: { array: [], 'other-array': [5, 6], extra: 2 } },
    ]);
    assert.deepEqual(m, { conf: 1, sub: { array: [], other: 50, 'other-array': [5, 6], extra: 2 } });
  });

  it('never lets null or undefined override (Kuma merges typed confs, which drop nulls)', () => {
    const [m] = mergeConfs<Record<string, unknown>>([{ a: { b: 1, c: 2 } }, { a: { b: null, c: undefined, d: 3 } }]);
    assert.deepEqual(m, { a: { b: 1, c: 2, d: 3 } });
  });

  it('concatenates lists whose name starts with append (MADR 017: Chosen option: "Name convention")', () => {
    const [m] = mergeConfs<Record<string, unknown>>([{ appendModifications: [1], list: [1] }, { appendModifications: [2], list: [2] }]);
    assert.deepEqual(m, { appendModifications: [1, 2], list: [2] });
  });

  it('does not mutate its inputs and shares no objects with them', () => {
    const a = { x: { y: [1] } };
    const b = { x: { z: 2 } };
    const [m] = mergeConfs<Record<string, { y?: number[] }>>([a, b]);
    m!.x!.y!.push(9);
    assert.deepEqual(a, { x: { y: [1] } });
    assert.deepEqual(b, { x: { z: 2 } });
  });

  it('merges MeshHTTPRoute rules by matches, more specific first (meshhttproute helpers.go: mergeValuesByKey, Transform reverses)', () => {
    const ex = POLICY_KINDS.MeshHTTPRoute.merge;
    const toConf = POLICY_KINDS.MeshHTTPRoute.toConf as (e: unknown) => unknown;
    const r = (path: string, extra: Record<string, unknown>) => ({ matches: [{ path: { type: 'PathPrefix', value: path } }], default: extra });
    const general = toConf({ targetRef: { kind: 'MeshService', name: 'b' }, rules: [r('/a', { filters: [1], backendRefs: [1] }), r('/b', { backendRefs: [2] })] });
    const specific = toConf({ targetRef: { kind: 'MeshService', name: 'b' }, rules: [r('/c', { backendRefs: [3] }), r('/a', { backendRefs: [4] })] });
    const [m] = mergeConfs([general, specific], ex);
    assert.deepEqual(m, { rules: [r('/c', { backendRefs: [3] }), r('/a', { filters: [1], backendRefs: [4] }), r('/b', { backendRefs: [2] })] });
  });

  it('gives one merged MeshHTTPRoute conf per hostname (hostnames is policyMerge:"mergeValues")', () => {
    const ex = POLICY_KINDS.MeshHTTPRoute.merge;
    const out = mergeConfs<Record<string, unknown>>([{ rules: [], hostnames: ['a.com', 'b.com'] }, { rules: [], hostnames: ['b.com'] }, { rules: [] }], ex);
    assert.deepEqual(out.map((o) => o['hostnames']), [['a.com'], ['b.com'], undefined]);
  });

  it('answers nothing for no confs', () => assert.deepEqual(mergeConfs([]), []));
});
