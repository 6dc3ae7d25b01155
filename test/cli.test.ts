// The built `meshfed` CLI against a real standalone zone CP: apply, get, delete, errors.
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { findByKind } from '@meshfed/shared/resources';
import { parseAllDocuments } from 'yaml';
import { type RunningCp, startCp } from './support/processes.js';
import { CLI, meshfed, show } from './support/cli.js';

const EXAMPLES = join(import.meta.dirname, '..', 'examples');

interface Doc {
  readonly type: string;
  readonly name: string;
  readonly mesh?: string;
}

function docsOf(file: string): Doc[] {
  return parseAllDocuments(readFileSync(file, 'utf8')).map((d) => d.toJS() as Doc);
}

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  assert.ok(address && typeof address === 'object');
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return address.port;
}

describe('meshfed CLI against a standalone zone', () => {
  let cp: RunningCp;
  let dir: string;
  const cli = (args: readonly string[], stdin?: string) => meshfed(['--cp', cp.url, ...args], stdin !== undefined ? { stdin } : {});

  before(async () => {
    assert.ok(existsSync(CLI), `${CLI} is missing: run "npm run build" first`);
    cp = await startCp('zone');
    dir = mkdtempSync(join(tmpdir(), 'meshfed-cli-'));
  });

  after(async () => {
    await cp?.stop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  test('applies every example, and get shows each resource', async () => {
    // Meshes first, so the mesh-scoped examples find their mesh whatever the file names.
    const files = readdirSync(EXAMPLES)
      .filter((f) => f.endsWith('.yaml'))
      .map((f) => join(EXAMPLES, f))
      .sort((a, b) => Number(!docsOf(a).some((d) => d.type === 'Mesh')) - Number(!docsOf(b).some((d) => d.type === 'Mesh')) || a.localeCompare(b));
    assert.ok(files.length > 0);
    for (const file of files) {
      const docs = docsOf(file);
      const r = await cli(['apply', '-f', file]);
      assert.equal(r.code, 0, `${file}\n${show(r)}`);
      assert.equal(r.stderr, '');
      const lines = r.stdout.trimEnd().split('\n');
      assert.equal(lines.length, docs.length, show(r));
      docs.forEach((d, i) => {
        const mesh = findByKind(d.type)?.scope === 'global' ? '' : ` in mesh "${d.mesh ?? 'default'}"`;
        assert.match(lines[i]!, new RegExp(`^${d.type} "${d.name}"${mesh} (created|configured)$`));
      });

      for (const d of docs) {
        const meshArgs = d.mesh !== undefined ? ['--mesh', d.mesh] : [];
        const one = await cli(['get', d.type, d.name, ...meshArgs, '-o', 'json']);
        assert.equal(one.code, 0, show(one));
        const got = JSON.parse(one.stdout) as Doc & { creationTime?: string };
        assert.equal(got.type, d.type);
        assert.equal(got.name, d.name);
        assert.equal(got.mesh, d.mesh);
        assert.ok(got.creationTime);

        const list = await cli(['get', d.type, ...meshArgs]);
        assert.equal(list.code, 0, show(list));
        assert.ok(list.stdout.split('\n').some((l) => l.split(/\s+/).includes(d.name)), `${d.type} ${d.name} not listed:\n${list.stdout}`);
      }
    }

    const meshes = await cli(['get', 'meshes']);
    assert.match(meshes.stdout, /^NAME\s+MTLS\s+LOCALITY\s+ZONE EGRESS\s+AGE\n/);
    assert.match(meshes.stdout, /\ndefault\s+builtin\/ca-1\s+off\s+on\s+\d+[smhdy]\n/);
    const dps = await cli(['get', 'dp']);
    assert.match(dps.stdout, /^MESH\s+NAME\s+ADDRESS\s+SERVICES\s+AGE\n/);
    assert.match(dps.stdout, /\ndefault\s+gateway-instance-1\s+127\.0\.0\.1\s+gateway edge-gateway \(BUILTIN\)\s+\d+[smhdy]\n/);
  });

  test('a bad document among good ones: reported with its field path, the others applied, exit 1', async () => {
    const file = join(dir, 'mixed.yaml');
    writeFileSync(
      file,
      `type: Mesh
name: cli-e2e
---
type: Dataplane
mesh: cli-e2e
name: dp-bad
networking:
  address: 10.0.0.9
  inbound:
  - port: 70000
    tags:
      kuma.io/service: web
---
type: Dataplane
mesh: cli-e2e
name: dp-good
networking:
  address: 10.0.0.1
  inbound:
  - port: 8080
    tags:
      kuma.io/service: web
`,
    );
    const r = await cli(['apply', '-f', file]);
    assert.equal(r.code, 1, show(r));
    assert.equal(r.stdout, 'Mesh "cli-e2e" created\nDataplane "dp-good" in mesh "cli-e2e" created\n');
    const lines = r.stderr.trimEnd().split('\n');
    assert.equal(lines[0], `Error: ${file} document 2 (line 4): Dataplane "dp-bad" in mesh "cli-e2e" is invalid (400)`, show(r));
    assert.ok(lines.slice(1).some((l) => /^ {2}networking\.inbound\[0\]\.port: .*65535/.test(l)), show(r));

    const bad = await cli(['get', 'dataplane', 'dp-bad', '--mesh', 'cli-e2e']);
    assert.equal(bad.code, 1);
    assert.equal(bad.stderr, 'Error: Dataplane "dp-bad" in mesh "cli-e2e" not found (404)\n');

    const again = await cli(['apply', '-f', file]);
    assert.match(again.stdout, /^Mesh "cli-e2e" configured\nDataplane "dp-good" in mesh "cli-e2e" configured\n$/);
  });

  test('a YAML syntax error applies nothing and says where', async () => {
    const file = join(dir, 'broken.yaml');
    writeFileSync(file, 'type: Mesh\nname: never-applied\n---\ntype: Mesh\nname: [oops\n');
    const r = await cli(['apply', '-f', file]);
    assert.equal(r.code, 1, show(r));
    assert.equal(r.stdout, '');
    assert.match(r.stderr, new RegExp(`^Error: ${file.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')} is not valid YAML; nothing was applied\n`));
    assert.match(r.stderr, /at line \d+, column \d+/);
    const get = await cli(['get', 'mesh', 'never-applied']);
    assert.equal(get.code, 1);
  });

  test('get prints JSON, YAML and tables, and -A lists across meshes', async () => {
    const json = await cli(['get', 'dataplanes', '--mesh', 'cli-e2e', '-o', 'json']);
    assert.equal(json.code, 0, show(json));
    const list = JSON.parse(json.stdout) as { total: number; items: Doc[]; next: null };
    assert.equal(list.total, 1);
    assert.deepEqual(list.items.map((d) => [d.mesh, d.name]), [['cli-e2e', 'dp-good']]);

    const yaml = await cli(['get', 'dp', '-A', '-o', 'yaml']);
    assert.equal(yaml.code, 0, show(yaml));
    const docs = parseAllDocuments(yaml.stdout).map((d) => d.toJS() as Doc);
    assert.deepEqual(docs.map((d) => `${d.mesh}/${d.name}`).sort(), ['cli-e2e/dp-good', 'default/gateway-instance-1', 'default/kong-gateway-1']);

    const one = await cli(['get', 'mesh', 'cli-e2e', '-o', 'yaml']);
    assert.match(one.stdout, /^type: Mesh\nname: cli-e2e\n/);

    const table = await cli(['get', 'dp', '-A']);
    assert.match(table.stdout, /^MESH\s+NAME\s+ADDRESS\s+SERVICES\s+AGE\n/);
    assert.match(table.stdout, /\ncli-e2e\s+dp-good\s+10\.0\.0\.1\s+web\s+\d+[smhdy]\n/);

    // What get -o yaml prints, apply takes back.
    const back = await cli(['apply', '-f', '-'], yaml.stdout);
    assert.equal(back.code, 0, show(back));
    assert.match(back.stdout, /Dataplane "dp-good" in mesh "cli-e2e" configured/);

    const empty = await cli(['get', 'meshgateways', '--mesh', 'cli-e2e']);
    assert.equal(empty.code, 0);
    assert.equal(empty.stderr, 'No meshgateways found in mesh "cli-e2e".\n');
  });

  test('delete removes one resource', async () => {
    const r = await cli(['delete', 'dp', 'dp-good', '--mesh', 'cli-e2e']);
    assert.equal(r.code, 0, show(r));
    assert.equal(r.stdout, 'deleted Dataplane "dp-good" in mesh "cli-e2e"\n');
    const gone = await cli(['delete', 'dp', 'dp-good', '--mesh', 'cli-e2e']);
    assert.equal(gone.code, 1);
    assert.equal(gone.stderr, 'Error: Dataplane "dp-good" in mesh "cli-e2e" not found (404)\n');
  });

  test('usage mistakes exit 2', async () => {
    const r = await cli(['get', 'pods']);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /^Error: unknown resource type "pods"; valid types: meshes, .*dataplanes/);
    assert.match(r.stderr, /\nUsage: meshfed get TYPE/);
  });
});

test('an unreachable control plane is one clear line, exit 1', async () => {
  const url = `http://127.0.0.1:${await freePort()}`;
  const r = await meshfed(['get', 'meshes', '--cp', url]);
  assert.equal(r.code, 1, show(r));
  assert.equal(r.stderr, `Error: cannot reach the control plane at ${url} (connect ECONNREFUSED): is it running? Use --cp to point elsewhere.\n`);
  const env = await meshfed(['apply', '-f', '-'], { stdin: 'type: Mesh\nname: x\n', env: { MESHFED_CP: url } });
  assert.equal(env.code, 1);
  assert.match(env.stderr, new RegExp(`cannot reach the control plane at ${url.replace(/\./g, '\\.')} `));
});
