import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { buildRules, computeRule, MAX_CANDIDATES, type RuleItem } from './build-rules.js';
import { mergeConfs } from './merge.js';
import { subsetFromTags, subsetKey, subsetOf } from './subset.js';

const item = (ref: Parameters<typeof subsetOf>[0], conf: Record<string, unknown>, origin = 'p'): RuleItem<Record<string, unknown>> => ({ subset: subsetOf(ref)!, conf, origin });
const merge = (confs: Record<string, unknown>[]) => mergeConfs(confs);

describe('buildRules', () => {
  it('gives Kuma\'s inbound rules: a list of (subset of clients -> merged conf), negations included', () => {
    // MeshTrafficPermission docs: Mesh deny plus MeshService allow gives "web -> allow" and
    // "everyone but web -> deny" (rules.go BuildRules, MADR 007).
    const { rules } = buildRules([item({ kind: 'Mesh' }, { action: 'Deny' }, 'deny'), item({ kind: 'MeshService', name: 'web' }, { action: 'Allow' }, 'allow')], merge);
    assert.deepEqual(
      rules.map((r) => [subsetKey(r.subset), r.conf, r.origins]),
      [
        ['kuma.io/service=web', { action: 'Allow' }, ['allow', 'deny']],
        ['kuma.io/service!=web', { action: 'Deny' }, ['deny']],
      ],
    );
  });

  it('computes a point\'s conf from the first rule containing it (rules.go Compute)', () => {
    const { rules } = buildRules(
      [item({ kind: 'Mesh' }, { t: 1, x: 1 }), item({ kind: 'MeshService', name: 'b' }, { t: 2 }), item({ kind: 'MeshServiceSubset', name: 'b', tags: { v: '2' } }, { t: 3 })],
      merge,
    );
    assert.deepEqual(computeRule(rules, subsetFromTags({ 'kuma.io/service': 'b', v: '2' }))?.conf, { t: 3, x: 1 });
    assert.deepEqual(computeRule(rules, subsetFromTags({ 'kuma.io/service': 'b', v: '1' }))?.conf, { t: 2, x: 1 });
    assert.deepEqual(computeRule(rules, subsetFromTags({ 'kuma.io/service': 'c', v: '1' }))?.conf, { t: 1, x: 1 });
  });

  it('keeps disjoint subsets apart and leaves uncovered subsets without a rule', () => {
    const { rules } = buildRules([item({ kind: 'MeshService', name: 'a' }, { a: 1 }), item({ kind: 'MeshService', name: 'b' }, { b: 1 })], merge);
    assert.deepEqual(rules.map((r) => subsetKey(r.subset)).sort(), ['kuma.io/service=a', 'kuma.io/service=b']);
    assert.equal(computeRule(rules, subsetFromTags({ 'kuma.io/service': 'c' })), undefined);
  });

  it('is bounded: 60 services under one Mesh rule give 61 rules, not 2^60 iterations', () => {
    const items = [item({ kind: 'Mesh' }, { d: 0 }), ...Array.from({ length: 60 }, (_, i) => item({ kind: 'MeshService', name: `s${i}` }, { d: i }))];
    const { rules, warnings } = buildRules(items, merge);
    assert.equal(rules.length, 61);
    assert.deepEqual(warnings, []);
  });

  it('skips, with a warning, a group whose candidate subsets exceed MAX_CANDIDATES', () => {
    const keys = Math.ceil(Math.log2(MAX_CANDIDATES)) + 1;
    const items = Array.from({ length: keys }, (_, i) => item({ kind: 'MeshSubset', tags: { [`k${i}`]: 'v' } }, { i }, `p${i}`));
    const { rules, warnings } = buildRules(items, merge);
    assert.equal(rules.length, 0);
    assert.match(warnings[0] ?? '', /more than 4096/);
  });
});
