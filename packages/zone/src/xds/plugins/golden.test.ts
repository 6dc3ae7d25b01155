// Golden tests of the policy plugins: testdata/<case>/input.yaml (a Mesh, Dataplanes, policies, and
// anything else the zone index reads) → expected.json (every local proxy's generated Envoy
// configuration, as Envoy's JSON, with its problems). `UPDATE_GOLDEN=1 node test/run-tests.mjs
// plugins/golden` rewrites the expected files; review them in the diff.
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { parseAllDocuments } from 'yaml';
import { toEnvoyJson } from '@meshfed/shared';
import { dependencyVersions, type GeneratedProxy, type GenerationContext, ResourceMemo } from '../generate/context.js';
import { GENERATORS } from '../generate/generators.js';
import { RulesCache } from '../generate/matching.js';
import { buildZoneIndex, type ResourceView } from '../generate/zone-index.js';
import { isPolicyKind } from '../rules/index.js';
import { checkSnapshot, makeSnapshot } from '../snapshot.js';

const TESTDATA = join(dirname(fileURLToPath(import.meta.url)), 'testdata');

/** What the index gets from input.yaml: `type`, `name`, `mesh`, `labels`, and the rest as the stored spec. */
function load(dir: string): { zone: string; views: (ResourceView & { type: string })[] } {
  const docs = parseAllDocuments(readFileSync(join(dir, 'input.yaml'), 'utf8')).map((d) => d.toJS() as Record<string, unknown> | null).filter((d) => d !== null);
  const views = docs.map((d) => {
    const { type, name, mesh, labels, ...spec } = d as { type: string; name: string; mesh?: string; labels?: Record<string, string> };
    return { type, name, ...(mesh !== undefined ? { mesh } : {}), labels: labels ?? {}, spec };
  });
  return { zone: 'zone-1', views };
}

/** Every local Dataplane's configuration and problems, resources by type then name, as Envoy's JSON. */
export function generateAll(zone: string, views: readonly (ResourceView & { type: string })[]): Record<string, unknown> {
  const of = (type: string) => views.filter((v) => v.type === type);
  const index = buildZoneIndex({
    zone, meshes: of('Mesh'), dataplanes: of('Dataplane'), zoneIngresses: of('ZoneIngress'), zoneEgresses: of('ZoneEgress'),
    externalServices: of('ExternalService'), policies: views.filter((v) => isPolicyKind(v.type)), secrets: of('Secret'),
    meshGateways: of('MeshGateway'), meshGatewayRoutes: of('MeshGatewayRoute'),
  });
  const rules = new RulesCache();
  const cert = { version: 'v1', certPem: 'CERT', keyPem: 'KEY', caPem: 'CA' };
  const ctx: GenerationContext = { index, versions: dependencyVersions(index, rules), memo: new ResourceMemo(), rules, certificate: () => cert, certificateProblem: () => undefined, meshCaPem: (mesh) => `CA of ${mesh}` };
  const out: Record<string, unknown> = {};
  if (index.problems.length > 0) out['index problems'] = index.problems.map((p) => `${p.kind} ${p.name}: ${p.message}`);
  // Every local proxy through the generator the reconciler would use (generators.ts): builtin gateways through generateGateway.
  const proxies: [string, GeneratedProxy][] = GENERATORS.flatMap((g) => [...g.ids(index)].map((id) => [id, g.generate(ctx, index, id)!] as [string, GeneratedProxy]));
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
