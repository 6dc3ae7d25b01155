import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { computeAvailableServices, type ResourceView } from './available-services.js';

type Inbound = { port: number; tags: Record<string, string>; health?: { ready: boolean } };

const dp = (name: string, inbound: Inbound[], o: { mesh?: string; labels?: Record<string, string> } = {}): ResourceView => ({
  name, mesh: o.mesh ?? 'default', labels: o.labels ?? {}, spec: { networking: { address: '10.0.0.1', inbound } },
});
const svc = (service: string, extra: Record<string, string> = {}) => ({ 'kuma.io/service': service, ...extra });
const mesh = (name: string, zoneEgress?: boolean): ResourceView => ({
  name, labels: {}, spec: zoneEgress === undefined ? {} : { mtls: { enabledBackend: 'ca', backends: [{ name: 'ca', type: 'builtin' }] }, routing: { zoneEgress } },
});
const es = (name: string, meshName: string, tags: Record<string, string>): ResourceView => ({
  name, mesh: meshName, labels: {}, spec: { tags, networking: { address: 'httpbin.org:443' } },
});
const compute = (dataplanes: ResourceView[], o: { externalServices?: ResourceView[]; meshes?: ResourceView[] } = {}) =>
  computeAvailableServices({ dataplanes, externalServices: o.externalServices ?? [], meshes: o.meshes ?? [mesh('default')] });

describe('computeAvailableServices', () => {
  test('groups healthy inbounds by mesh and full tag set, counting instances', () => {
    const out = compute([
      dp('b1', [{ port: 80, tags: svc('backend', { version: 'v1' }) }]),
      dp('b2', [{ port: 80, tags: svc('backend', { version: 'v1' }) }]),
      dp('b3', [{ port: 80, tags: svc('backend', { version: 'v2' }) }]),
      dp('b4', [{ port: 80, tags: svc('backend', { version: 'v1' }) }], { mesh: 'other' }),
      // Two inbounds of one dataplane are two instances of their services.
      dp('multi', [{ port: 80, tags: svc('web') }, { port: 81, tags: svc('admin') }]),
    ]);
    assert.deepEqual(out, [
      { tags: svc('admin'), instances: 1, mesh: 'default' },
      { tags: svc('backend', { version: 'v1' }), instances: 2, mesh: 'default' },
      { tags: svc('backend', { version: 'v2' }), instances: 1, mesh: 'default' },
      { tags: svc('web'), instances: 1, mesh: 'default' },
      { tags: svc('backend', { version: 'v1' }), instances: 1, mesh: 'other' },
    ]);
  });

  test('with the zone given, every instance is offered with kuma.io/zone (other zones route to its subsets by it); an inbound that sets it keeps its own', () => {
    const out = computeAvailableServices({
      dataplanes: [
        dp('b1', [{ port: 80, tags: svc('backend', { version: 'v1' }) }]),
        dp('b2', [{ port: 80, tags: svc('backend', { version: 'v1', 'kuma.io/zone': 'edge' }) }]),
      ],
      externalServices: [], meshes: [mesh('default')], zone: 'zone-1',
    });
    assert.deepEqual(out, [
      { tags: svc('backend', { 'kuma.io/zone': 'edge', version: 'v1' }), instances: 1, mesh: 'default' },
      { tags: svc('backend', { 'kuma.io/zone': 'zone-1', version: 'v1' }), instances: 1, mesh: 'default' },
    ]);
    // Sorted keys, so equal sets are byte-equal wherever they are computed.
    assert.deepEqual(Object.keys(out[1]!.tags), ['kuma.io/service', 'kuma.io/zone', 'version']);
  });

  test('an ExternalService pinned to this zone is offered whatever the routing; one pinned to another zone never is', () => {
    const out = computeAvailableServices({
      dataplanes: [],
      externalServices: [
        es('ledger', 'default', svc('ledger', { 'kuma.io/zone': 'zone-1' })),
        es('vault', 'default', svc('vault', { 'kuma.io/zone': 'zone-2' })),
        es('httpbin', 'default', svc('httpbin')),
        es('vault', 'routed', svc('vault', { 'kuma.io/zone': 'zone-2' })),
        es('httpbin', 'routed', svc('httpbin')),
      ],
      meshes: [mesh('default'), mesh('routed', true)], zone: 'zone-1',
    });
    assert.deepEqual(out, [
      { tags: svc('ledger', { 'kuma.io/zone': 'zone-1' }), instances: 1, mesh: 'default', externalService: true },
      { tags: svc('httpbin'), instances: 1, mesh: 'routed', externalService: true },
    ]);
  });

  test('an inbound with health.ready false is left out; no health or ready true counts', () => {
    const out = compute([
      dp('b1', [{ port: 80, tags: svc('backend') }]),
      dp('b2', [{ port: 80, tags: svc('backend'), health: { ready: true } }]),
      dp('b3', [{ port: 80, tags: svc('backend'), health: { ready: false } }]),
      dp('down', [{ port: 80, tags: svc('down'), health: { ready: false } }]),
    ]);
    assert.deepEqual(out, [{ tags: svc('backend'), instances: 2, mesh: 'default' }]);
  });

  test('gateways are left out (builtin ones are served through MeshGateway)', () => {
    const gw = (type: string): ResourceView => ({ name: `gw-${type}`, mesh: 'default', labels: {}, spec: { networking: { address: '10.0.0.9', gateway: { type, tags: svc('edge') } } } });
    assert.deepEqual(compute([gw('BUILTIN'), gw('DELEGATED'), dp('b1', [{ port: 80, tags: svc('backend') }])]), [
      { tags: svc('backend'), instances: 1, mesh: 'default' },
    ]);
  });

  test('a builtin gateway instance is offered when the MeshGateway it serves has a crossMesh listener (other meshes reach it through the ingress)', () => {
    const gw = (name: string, service: string): ResourceView => ({ name, mesh: 'default', labels: {}, spec: { networking: { address: '10.0.0.9', gateway: { type: 'BUILTIN', tags: svc(service) } } } });
    const meshGateway = (name: string, service: string, crossMesh: boolean): ResourceView => ({
      name, mesh: 'default', labels: {}, spec: { selectors: [{ match: svc(service) }], conf: { listeners: [{ port: 8080, protocol: 'HTTP', ...(crossMesh ? { crossMesh: true } : {}) }] } },
    });
    const out = computeAvailableServices({
      dataplanes: [gw('cross-1', 'cross'), gw('cross-2', 'cross'), gw('edge-1', 'edge')], externalServices: [], meshes: [mesh('default')], zone: 'zone-1',
      meshGateways: [meshGateway('cross-gw', 'cross', true), meshGateway('edge-gw', 'edge', false)],
    });
    assert.deepEqual(out, [{ tags: svc('cross', { 'kuma.io/zone': 'zone-1' }), instances: 2, mesh: 'default' }]);
  });

  test('dataplanes received from global are not this zone\'s to offer; zone-labelled local ones are', () => {
    const out = compute([
      dp('remote', [{ port: 80, tags: svc('backend') }], { labels: { 'kuma.io/origin': 'global', 'kuma.io/zone': 'zone-2' } }),
      dp('local', [{ port: 80, tags: svc('backend') }], { labels: { 'kuma.io/origin': 'zone', 'kuma.io/zone': 'zone-1' } }),
    ]);
    assert.deepEqual(out, [{ tags: svc('backend'), instances: 1, mesh: 'default' }]);
  });

  test('external services only for meshes with routing.zoneEgress, one instance each', () => {
    const externalServices = [
      es('httpbin', 'eg', svc('httpbin', { 'kuma.io/protocol': 'http' })),
      es('httpbin-copy', 'eg', svc('httpbin', { 'kuma.io/protocol': 'http' })),
      es('other', 'eg', svc('aaa-ext')),
      es('plain', 'default', svc('ignored')),
      es('off', 'off', svc('ignored-too')),
    ];
    const meshes = [mesh('default'), mesh('eg', true), mesh('off', false)];
    const out = compute([dp('b', [{ port: 80, tags: svc('httpbin', { 'kuma.io/protocol': 'http' }) }], { mesh: 'eg' })], { externalServices, meshes });
    assert.deepEqual(out, [
      { tags: svc('aaa-ext'), instances: 1, mesh: 'eg', externalService: true },
      // A dataplane and an external service with the same tags stay two entries; the dataplane first.
      { tags: svc('httpbin', { 'kuma.io/protocol': 'http' }), instances: 1, mesh: 'eg' },
      { tags: svc('httpbin', { 'kuma.io/protocol': 'http' }), instances: 1, mesh: 'eg', externalService: true },
    ]);
    assert.deepEqual(compute([], { externalServices, meshes: [mesh('eg', false)] }), []);
  });

  test('deterministic: input order and tag key order do not change the bytes; tags are copied', () => {
    const a = [
      dp('x', [{ port: 80, tags: { version: 'v1', 'kuma.io/service': 'b' } }], { mesh: 'm2' }),
      dp('y', [{ port: 80, tags: svc('a') }, { port: 81, tags: svc('b', { version: 'v1' }) }]),
      dp('z', [{ port: 80, tags: svc('b', { version: 'v0' }) }], { mesh: 'm1' }),
      dp('w', [{ port: 80, tags: { zone: 'z', 'kuma.io/service': 'a' } }]),
    ];
    const forward = compute(a);
    const backward = compute([...a].reverse().map((d) => structuredClone(d)));
    assert.equal(JSON.stringify(forward), JSON.stringify(backward));
    assert.deepEqual(forward.map((s) => `${s.mesh}/${s.tags['kuma.io/service']}/${JSON.stringify(s.tags)}`), [
      'default/a/{"kuma.io/service":"a"}',
      'default/a/{"kuma.io/service":"a","zone":"z"}',
      'default/b/{"kuma.io/service":"b","version":"v1"}',
      'm1/b/{"kuma.io/service":"b","version":"v0"}',
      'm2/b/{"kuma.io/service":"b","version":"v1"}',
    ]);
    // Mutating the output never reaches the input.
    forward[0]!.tags['kuma.io/service'] = 'changed';
    const inbound = (a[1]!.spec.networking as { inbound: Inbound[] }).inbound;
    assert.equal(inbound[0]!.tags['kuma.io/service'], 'a');
  });

  test('malformed specs are skipped rather than thrown on', () => {
    const bad: ResourceView[] = [
      { name: 'n1', mesh: 'default', labels: {}, spec: {} },
      { name: 'n2', mesh: 'default', labels: {}, spec: { networking: { inbound: 'nope' } } },
      { name: 'n3', mesh: 'default', labels: {}, spec: { networking: { inbound: [null, { port: 1, tags: { other: 'x' } }, { port: 2, tags: { 'kuma.io/service': 5 } }] } } },
    ];
    assert.deepEqual(compute(bad), []);
  });
});
