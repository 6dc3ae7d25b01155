// Golden tests of the policy plugins: testdata/<case>/input.yaml (a Mesh, Dataplanes, policies, and
// anything else the zone index reads) → expected.json (every local proxy's generated Envoy
// configuration, as Envoy's JSON, with its problems). `UPDATE_GOLDEN=1 node test/run-tests.mjs
// plugins/golden` rewrites the expected files; review them in the diff.
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { toEnvoyJson } from '@meshfed/shared';
import type { ResourceView } from '../generate/zone-index.js';
import { checkSnapshot, makeSnapshot } from '../snapshot.js';
import { generateCase, load, TESTDATA } from './golden-cases.test-support.js';

/** Every local Dataplane's configuration and problems, resources by type then name, as Envoy's JSON. */
export function generateAll(zone: string, views: readonly (ResourceView & { type: string })[]): Record<string, unknown> {
  const { index, proxies } = generateCase(zone, views);
  const out: Record<string, unknown> = {};
  if (index.problems.length > 0) out['index problems'] = index.problems.map((p) => `${p.kind} ${p.name}: ${p.message}`);
  for (const [id, g] of proxies) {
    const types: Record<string, Record<string, unknown>> = {};
    if (g.resources) {
      const snapshot = makeSnapshot(g.resources);
      // Every resource decodes and names itself, every EDS cluster has its endpoints, every listener its routes.
      assert.deepEqual(checkSnapshot(snapshot), [], `${id}'s snapshot is consistent`);
      for (const [type, t] of Object.entries(snapshot.types)) {
        if (t.entries.size === 0) continue;
        types[type] = Object.fromEntries([...t.entries.values()].sort((a, b) => (a.key < b.key ? -1 : 1)).map((e) => [e.key, toEnvoyJson(e.resource)]));
      }
    }
    out[id] = { problems: g.problems, ...types };
  }
  return out;
}

describe('policy plugins: golden files', () => {
  const cases = readdirSync(TESTDATA).filter((c) => existsSync(join(TESTDATA, c, 'input.yaml'))).sort();
  it('has cases', () => assert.ok(cases.length >= 2));
  for (const c of cases) {
    it(c, () => {
      const { zone, views } = load(join(TESTDATA, c));
      const actual = `${JSON.stringify(generateAll(zone, views), null, 2)}\n`;
      const file = join(TESTDATA, c, 'expected.json');
      if (process.env['UPDATE_GOLDEN'] === '1') writeFileSync(file, actual);
      assert.ok(existsSync(file), `${file} is missing: run with UPDATE_GOLDEN=1`);
      assert.equal(actual, readFileSync(file, 'utf8'));
    });
  }
});
