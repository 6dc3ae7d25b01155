import assert from 'node:assert/strict';
import { test } from 'node:test';
import { FlagError } from '@meshfed/shared';
import { parseDataplaneDoc } from './dataplane-file.js';

const YAML = `type: Dataplane
mesh: default
name: web
networking:
  address: 127.0.0.1
  proxyless: true
  inbound:
    - port: 8080
      tags: {kuma.io/service: web}
`;

test('a Dataplane in YAML or JSON, as the zone is sent it', () => {
  const d = parseDataplaneDoc(YAML, '--dataplane-file dp.yaml');
  assert.equal(d.mesh, 'default');
  assert.equal(d.name, 'web');
  const wire = { type: 'Dataplane', mesh: 'default', name: 'web', networking: { address: '127.0.0.1', proxyless: true, inbound: [{ port: 8080, tags: { 'kuma.io/service': 'web' } }] } };
  assert.deepEqual(d.wire, wire);
  assert.deepEqual(parseDataplaneDoc(JSON.stringify(wire), 'f').wire, wire);
});

test('a bad field is one FlagError naming the file and the field\'s path', () => {
  const cases: [string, RegExp][] = [
    [YAML.replace('port: 8080', 'port: 70000'), /^--dataplane-file dp\.yaml: Dataplane is invalid: networking\.inbound\[0\]\.port: /],
    [YAML.replace('type: Dataplane', 'type: Mesh'), /^--dataplane-file dp\.yaml: .*type/],
    [YAML.replace('mesh: default\n', ''), /^--dataplane-file dp\.yaml: Dataplane is invalid: mesh: /],
    ['a: [', /^--dataplane-file dp\.yaml is not YAML or JSON: /],
  ];
  for (const [text, message] of cases) assert.throws(() => parseDataplaneDoc(text, '--dataplane-file dp.yaml'), (e: unknown) => e instanceof FlagError && message.test(e.message), String(message));
});
