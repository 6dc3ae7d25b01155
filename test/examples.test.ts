// The repository's own examples (examples/*.yaml): every document validates, and every file says what
// it shows. Applying them to real control planes is covered by the CLI and daemon suites.
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { parseResource } from '@meshfed/shared/resources';
import { parseAllDocuments } from 'yaml';
import { demoResources } from '../packages/ctl/src/lab/lab-demo.js';

export const EXAMPLES = join(import.meta.dirname, '..', 'examples');

const files = readdirSync(EXAMPLES).filter((f) => f.endsWith('.yaml')).sort();

describe('examples/', () => {
  test('covers what the documents describe', () => {
    const kinds = new Set(files.flatMap((f) => parseAllDocuments(readFileSync(join(EXAMPLES, f), 'utf8')).map((d) => (d.toJS() as { type: string }).type)));
    for (const kind of ['Mesh', 'ZoneEgress', 'ZoneIngress', 'Dataplane', 'MeshGateway', 'MeshGatewayRoute', 'ExternalService', 'MeshTrafficPermission', 'MeshTimeout', 'MeshRetry', 'MeshHTTPRoute']) {
      assert.ok(kinds.has(kind), `no example of ${kind}`);
    }
  });

  test('gateway-http.yaml is the lab\'s gateway, so the walk-through applies what the lab runs', () => {
    const docs = parseAllDocuments(readFileSync(join(EXAMPLES, 'gateway-http.yaml'), 'utf8')).map((d) => d.toJS() as { type: string; name: string });
    const lab = demoResources(0).filter((r) => r.where === 'global' && (r.body['type'] === 'MeshGateway' || r.body['type'] === 'MeshGatewayRoute')).map((r) => r.body);
    assert.deepEqual(docs, lab);
  });

  for (const file of files) {
    test(`${file} validates and says what it shows`, () => {
      const text = readFileSync(join(EXAMPLES, file), 'utf8');
      assert.match(text, /^# \S/, `${file} starts with a comment saying what it shows`);
      const docs = parseAllDocuments(text);
      assert.ok(docs.length > 0);
      for (const doc of docs) {
        assert.deepEqual(doc.errors, [], `${file}: YAML errors`);
        const value = doc.toJS() as { type: string; name: string };
        const parsed = parseResource(value);
        assert.equal(parsed.type, value.type);
        assert.equal(parsed.name, value.name);
      }
    });
  }
});
