import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { findByKind, type AnyDescriptor } from '@meshfed/shared/resources';
import { parse, parseAllDocuments } from 'yaml';
import { humanizeAge } from './age.js';
import { describeTargetRef } from './columns.js';
import { UsageError } from './errors.js';
import { formatList, formatOne, formatTable, parseOutputFormat } from './output.js';
import { renderTable } from './table.js';
import type { WireResource } from './wire.js';

const NOW = Date.parse('2024-01-10T12:00:00Z');
const ago = (seconds: number) => new Date(NOW - seconds * 1000).toISOString();
const desc = (kind: string): AnyDescriptor => {
  const d = findByKind(kind);
  assert.ok(d);
  return d;
};

describe('humanizeAge', () => {
  it('uses the largest whole unit', () => {
    assert.equal(humanizeAge(ago(0), NOW), '0s');
    assert.equal(humanizeAge(ago(5), NOW), '5s');
    assert.equal(humanizeAge(ago(59), NOW), '59s');
    assert.equal(humanizeAge(ago(60), NOW), '1m');
    assert.equal(humanizeAge(ago(3 * 60 + 59), NOW), '3m');
    assert.equal(humanizeAge(ago(2 * 3600 + 1), NOW), '2h');
    assert.equal(humanizeAge(ago(4 * 86400), NOW), '4d');
    assert.equal(humanizeAge(ago(400 * 86400), NOW), '1y');
  });

  it('shows - for unknown times and 0s for times in the future', () => {
    assert.equal(humanizeAge(undefined, NOW), '-');
    assert.equal(humanizeAge('yesterday', NOW), '-');
    assert.equal(humanizeAge(ago(-30), NOW), '0s');
  });
});

describe('renderTable', () => {
  it('pads columns to the widest cell and trims line ends', () => {
    const out = renderTable(['NAME', 'AGE'], [['default', '5s'], ['a', '10d']]);
    assert.equal(out, 'NAME      AGE\ndefault   5s\na         10d\n');
  });

  it('prints only the header without rows', () => {
    assert.equal(renderTable(['NAME', 'AGE'], []), 'NAME   AGE\n');
  });
});

describe('formatTable', () => {
  it('shows a mesh with its mTLS backend and zone egress', () => {
    const meshes: WireResource[] = [
      {
        type: 'Mesh', name: 'default', creationTime: ago(300), labels: {},
        mtls: { enabledBackend: 'ca-1', backends: [{ name: 'ca-1', type: 'builtin' }] },
        routing: { zoneEgress: true },
      },
      { type: 'Mesh', name: 'plain', creationTime: ago(7200), labels: {} },
    ];
    assert.equal(
      formatTable(desc('Mesh'), meshes, NOW),
      [
        'NAME      MTLS           LOCALITY   ZONE EGRESS   AGE',
        'default   builtin/ca-1   off        on            5m',
        'plain     off            off        off           2h',
        '',
      ].join('\n'),
    );
  });

  it('shows dataplanes with MESH, address and services or gateway', () => {
    const dps: WireResource[] = [
      {
        type: 'Dataplane', mesh: 'default', name: 'web-1', creationTime: ago(5),
        networking: {
          address: '10.0.0.1',
          inbound: [
            { port: 8080, tags: { 'kuma.io/service': 'web' } },
            { port: 8081, tags: { 'kuma.io/service': 'web-admin' } },
          ],
        },
      },
      {
        type: 'Dataplane', mesh: 'demo', name: 'gw-1', creationTime: ago(4 * 86400),
        networking: { address: '10.0.0.2', gateway: { type: 'BUILTIN', tags: { 'kuma.io/service': 'edge' } } },
      },
    ];
    const lines = formatTable(desc('Dataplane'), dps, NOW).split('\n');
    assert.match(lines[0]!, /^MESH\s+NAME\s+ADDRESS\s+SERVICES\s+AGE$/);
    assert.match(lines[1]!, /^default\s+web-1\s+10\.0\.0\.1\s+web,web-admin\s+5s$/);
    assert.match(lines[2]!, /^demo\s+gw-1\s+10\.0\.0\.2\s+gateway edge \(BUILTIN\)\s+4d$/);
  });

  it('shows a policy with its targetRef, and tolerates missing fields', () => {
    const policies: WireResource[] = [
      { type: 'MeshTrafficPermission', mesh: 'default', name: 'allow', spec: { targetRef: { kind: 'MeshService', name: 'web' } } },
      { type: 'MeshTrafficPermission', mesh: 'default', name: 'odd' },
    ];
    const lines = formatTable(desc('MeshTrafficPermission'), policies, NOW).split('\n');
    assert.match(lines[0]!, /^MESH\s+NAME\s+TARGETREF\s+AGE$/);
    assert.match(lines[1]!, /^default\s+allow\s+MeshService\/web\s+-$/);
    assert.match(lines[2]!, /^default\s+odd\s+-\s+-$/);
    assert.equal(describeTargetRef({ kind: 'MeshSubset', tags: { version: 'v1' } }), 'MeshSubset{version=v1}');
  });

  it('shows zone egress addresses', () => {
    const out = formatTable(desc('ZoneEgress'), [{ type: 'ZoneEgress', name: 'ze-1', networking: { address: '192.168.0.1', port: 10002 } }], NOW);
    assert.match(out.split('\n')[1]!, /^ze-1\s+-\s+192\.168\.0\.1:10002\s+-$/);
  });
});

describe('formatList and formatOne', () => {
  const items: WireResource[] = [
    { type: 'Mesh', name: 'a', labels: {} },
    { type: 'Mesh', name: 'b', labels: { team: 'x' } },
  ];

  it('prints YAML documents that apply reads back', () => {
    const out = formatList(desc('Mesh'), items, 'yaml', NOW);
    assert.deepEqual(parseAllDocuments(out).map((d) => d.toJS()), items);
    assert.deepEqual(parse(formatOne(desc('Mesh'), items[1]!, 'yaml', NOW)), items[1]);
  });

  it('prints JSON shaped like the API list', () => {
    assert.deepEqual(JSON.parse(formatList(desc('Mesh'), items, 'json', NOW)), { total: 2, items, next: null });
    assert.deepEqual(JSON.parse(formatOne(desc('Mesh'), items[0]!, 'json', NOW)), items[0]);
  });

  it('prints an empty list rather than nothing', () => {
    assert.equal(formatList(desc('Mesh'), [], 'yaml', NOW), '[]\n');
    assert.deepEqual(JSON.parse(formatList(desc('Mesh'), [], 'json', NOW)), { total: 0, items: [], next: null });
  });

  it('parses -o values', () => {
    assert.equal(parseOutputFormat(undefined), 'table');
    assert.equal(parseOutputFormat('json'), 'json');
    assert.throws(() => parseOutputFormat('wide'), (e: unknown) => e instanceof UsageError && /use one of table, yaml, json/.test(e.message));
  });
});
