import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { recordingIo, fakeControlPlane } from '../testing/fakes.js';
import { applyCommand, checkDocument } from './apply.js';

const GOOD_AND_BAD = `type: Mesh
name: default
---
type: Dataplane
name: dp-bad
networking:
  address: 10.0.0.9
  inbound:
  - port: 70000
    tags:
      kuma.io/service: web
---
type: Dataplane
mesh: default
name: dp-1
networking:
  address: 10.0.0.1
  inbound:
  - port: 8080
    tags:
      kuma.io/service: web
---
name: no-type
---
type: Dataplane
name: dp-1
mesh: default
networking:
  address: 10.0.0.2
  inbound:
  - port: 8080
    tags:
      kuma.io/service: web
`;

function rejectBigPorts() {
  return fakeControlPlane({
    validate: (b) => {
      const port = (b.networking as { inbound?: { port: number }[] } | undefined)?.inbound?.[0]?.port;
      if (port !== undefined && port > 65535) {
        return {
          status: 400,
          body: { title: 'Invalid resource', details: 'Dataplane is invalid', causes: [{ field: 'networking.inbound[0].port', message: 'must be a port in 1-65535' }] },
        };
      }
      return undefined;
    },
  });
}

describe('apply', () => {
  it('applies documents in order, reports each failure with its place and goes on', async () => {
    const cp = rejectBigPorts();
    const io = recordingIo({ fetch: cp.fetch, files: { 'all.yaml': GOOD_AND_BAD } });
    const code = await applyCommand.run(['-f', 'all.yaml', '--cp', cp.base], io);
    assert.equal(code, 1);
    assert.equal(
      io.stdout(),
      ['Mesh "default" created', 'Dataplane "dp-1" in mesh "default" created', 'Dataplane "dp-1" in mesh "default" configured', ''].join('\n'),
    );
    assert.equal(
      io.stderr(),
      [
        'Error: all.yaml document 2 (line 4): Dataplane "dp-bad" in mesh "default" is invalid (400)',
        '  networking.inbound[0].port: must be a port in 1-65535',
        'Error: all.yaml document 4 (line 23): type is required (e.g. "type: Mesh")',
        '',
      ].join('\n'),
    );
    assert.deepEqual(
      cp.requests.map((r) => `${r.method} ${new URL(r.url).pathname}`),
      ['PUT /meshes/default', 'PUT /meshes/default/dataplanes/dp-bad', 'PUT /meshes/default/dataplanes/dp-1', 'PUT /meshes/default/dataplanes/dp-1'],
    );
    // A mesh-scoped document without mesh goes to "default", in the path and the body.
    assert.equal((cp.requests[1]?.body as { mesh?: string }).mesh, 'default');
  });

  it('applies nothing from a file with a YAML syntax error', async () => {
    const cp = fakeControlPlane();
    const io = recordingIo({ fetch: cp.fetch, files: { 'bad.yaml': 'type: Mesh\nname: a\n---\ntype: Mesh\nname: [b\n' } });
    const code = await applyCommand.run(['-f', 'bad.yaml', '--cp', cp.base], io).catch((e: unknown) => e);
    assert.ok(code instanceof Error && code.name === 'YamlSyntaxError');
    assert.equal(cp.requests.length, 0);
  });

  it('reads standard input and JSON, and the items of a listing', async () => {
    const cp = fakeControlPlane();
    const listing = JSON.stringify({ total: 2, items: [{ type: 'Mesh', name: 'a' }, { type: 'Mesh', name: 'b', creationTime: '2024-01-01T00:00:00Z' }], next: null });
    const io = recordingIo({ fetch: cp.fetch, stdin: listing });
    assert.equal(await applyCommand.run(['-f', '-', '--cp', cp.base], io), 0);
    assert.equal(io.stdout(), 'Mesh "a" created\nMesh "b" created\n');
    const list = recordingIo({ fetch: cp.fetch, stdin: '- type: Mesh\n  name: c\n- type: Mesh\n  name: d\n' });
    assert.equal(await applyCommand.run(['-f', '-', '--cp', cp.base], list), 0);
    assert.equal(list.stdout(), 'Mesh "c" created\nMesh "d" created\n');
  });

  it('refuses an input without resources and an unreadable file', async () => {
    const io = recordingIo({ files: { 'empty.yaml': '# nothing\n' } });
    await assert.rejects(applyCommand.run(['-f', 'empty.yaml'], io), /empty\.yaml has no resources to apply/);
    // What `get -o yaml` prints for an empty listing.
    await assert.rejects(applyCommand.run(['-f', '-'], recordingIo({ stdin: '[]\n' })), /stdin has no resources to apply/);
    await assert.rejects(applyCommand.run(['-f', 'missing.yaml'], io), /cannot read missing\.yaml: no such file/);
    await assert.rejects(applyCommand.run([], io), /missing -f FILE/);
  });

  it('stops at an unreachable control plane', async () => {
    const io = recordingIo({ files: { 'm.yaml': 'type: Mesh\nname: a\n---\ntype: Mesh\nname: b\n' } });
    await assert.rejects(applyCommand.run(['-f', 'm.yaml'], io), /cannot reach the control plane at http:\/\/127\.0\.0\.1:5681/);
  });
});

describe('checkDocument', () => {
  it('needs a mapping with a known type and a name', () => {
    assert.deepEqual(checkDocument(['a']), { error: 'a resource must be a mapping with type and name, got a list' });
    assert.deepEqual(checkDocument('Mesh'), { error: 'a resource must be a mapping with type and name, got the string "Mesh"' });
    assert.deepEqual(checkDocument({ name: 'x' }), { error: 'type is required (e.g. "type: Mesh")' });
    assert.deepEqual(checkDocument({ type: 'mesh', name: 'x' }), { error: 'unknown type "mesh": did you mean "Mesh"?' });
    assert.deepEqual(checkDocument({ type: 'Mesh' }), { error: 'Mesh without a name: name is required' });
    assert.deepEqual(checkDocument({ type: 'Mesh', name: 5 }), { error: 'Mesh: name must be a string, got number 5' });
    assert.deepEqual(checkDocument({ type: 'Dataplane', name: 'd', mesh: 3 }), { error: 'Dataplane "d": mesh must be a mesh name, got number 3' });
  });

  it('defaults the mesh of mesh-scoped types to default', () => {
    const c = checkDocument({ type: 'Dataplane', name: 'd' });
    assert.ok('descriptor' in c);
    assert.equal(c.mesh, 'default');
    assert.deepEqual(c.body, { type: 'Dataplane', name: 'd', mesh: 'default' });
    const m = checkDocument({ type: 'Mesh', name: 'm' });
    assert.ok('descriptor' in m);
    assert.equal(m.mesh, undefined);
  });
});
