// Golden tests: testdata/<case>/input.yaml (a Dataplane, policies, optionally a MeshGateway) →
// expected.json (the proxy's computed rules). `UPDATE_GOLDEN=1 node test/run-tests.mjs rules/golden`
// rewrites the expected files; review them in the diff.
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { parseAllDocuments } from 'yaml';
import { DataplaneSpec, MeshGatewaySpec } from '@meshfed/shared';
import { parsePolicies, type StoredPolicy } from './parse.js';
import { computeProxyRules } from './proxy-rules.js';
import type { ProxyView } from './selection.js';

const TESTDATA = join(dirname(fileURLToPath(import.meta.url)), 'testdata');

function load(dir: string) {
  const docs = parseAllDocuments(readFileSync(join(dir, 'input.yaml'), 'utf8')).map((d) => d.toJS() as Record<string, unknown>).filter(Boolean);
  let proxy: Omit<ProxyView, 'gateway'> | undefined;
  let gateway: ProxyView['gateway'];
  const stored: StoredPolicy[] = [];
  for (const d of docs) {
    const { type, name, mesh, labels, ...body } = d as { type: string; name: string; mesh: string; labels?: Record<string, string> };
    if (type === 'Dataplane') proxy = { name, mesh, spec: DataplaneSpec.parse(body) };
    else if (type === 'MeshGateway') gateway = { name, labels: labels ?? {}, spec: MeshGatewaySpec.parse(body) };
    else stored.push({ type, name, mesh, labels, spec: body });
  }
  assert.ok(proxy, `${dir}: input.yaml needs a Dataplane`);
  const { policies, problems } = parsePolicies(stored);
  assert.deepEqual(problems, [], `${dir}: every policy of input.yaml must be valid`);
  return { proxy: { ...proxy, gateway }, policies };
}

describe('rules golden files', () => {
  const cases = readdirSync(TESTDATA).filter((c) => existsSync(join(TESTDATA, c, 'input.yaml'))).sort();
  it('has cases', () => assert.ok(cases.length >= 7));
  for (const c of cases) {
    it(c, () => {
      const { proxy, policies } = load(join(TESTDATA, c));
      const actual = `${JSON.stringify(computeProxyRules(proxy, policies), null, 2)}\n`;
      const file = join(TESTDATA, c, 'expected.json');
      if (process.env['UPDATE_GOLDEN'] === '1') writeFileSync(file, actual);
      assert.ok(existsSync(file), `${file} is missing: run with UPDATE_GOLDEN=1`);
      assert.equal(actual, readFileSync(file, 'utf8'));
    });
  }
});
