import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { DataplaneSpec, MeshGatewaySpec } from '@meshfed/shared';
import type { AnyPolicy, Policy } from './policy-kinds.js';
import { isSelected, type ProxyView, selectionOf, tagsMatch } from './selection.js';

const sidecar: ProxyView = {
  name: 'web-1',
  mesh: 'default',
  spec: DataplaneSpec.parse({
    networking: {
      address: '10.0.0.1',
      inbound: [
        { port: 8080, tags: { 'kuma.io/service': 'web', version: 'v1', team: 'a' } },
        { port: 9090, address: '10.0.0.9', tags: { 'kuma.io/service': 'web-admin', team: 'b' } },
      ],
    },
  }),
};
const delegated: ProxyView = {
  name: 'edge-1',
  mesh: 'default',
  spec: DataplaneSpec.parse({ networking: { address: '10.0.0.2', gateway: { type: 'DELEGATED', tags: { 'kuma.io/service': 'edge' } } } }),
};
const builtin: ProxyView = {
  name: 'gw-1',
  mesh: 'default',
  spec: DataplaneSpec.parse({ networking: { address: '10.0.0.3', gateway: { type: 'BUILTIN', tags: { 'kuma.io/service': 'gw' } } } }),
  gateway: {
    name: 'edge',
    labels: {},
    spec: MeshGatewaySpec.parse({
      selectors: [{ match: { 'kuma.io/service': 'gw' } }],
      conf: { listeners: [{ port: 80, protocol: 'HTTP', tags: { port: 'http-80' } }, { port: 443, protocol: 'HTTP', hostname: 'a.com', tags: { port: 'https-443' } }] },
    }),
  },
};

const pol = (targetRef: Record<string, unknown>, mesh = 'default'): AnyPolicy =>
  ({ type: 'MeshTimeout', name: 'p', mesh, labels: {}, spec: { targetRef, to: [] } }) as unknown as AnyPolicy;

describe('selection', () => {
  it('Mesh selects every inbound of every proxy of the mesh ("Mesh: applies to all proxies running in the mesh")', () => {
    assert.deepEqual(selectionOf(pol({ kind: 'Mesh' }), sidecar).inbounds, ['10.0.0.1:8080', '10.0.0.9:9090']);
    assert.ok(!isSelected(selectionOf(pol({ kind: 'Mesh' }, 'other'), sidecar)));
  });

  it('MeshSubset selects the inbounds whose tags match ("filters only proxies who have matching targetRef.tags")', () => {
    assert.deepEqual(selectionOf(pol({ kind: 'MeshSubset', tags: { team: 'b' } }), sidecar).inbounds, ['10.0.0.9:9090']);
    assert.ok(!isSelected(selectionOf(pol({ kind: 'MeshSubset', tags: { team: 'c' } }), sidecar)));
  });

  it('MeshService and MeshServiceSubset select by kuma.io/service, then tags', () => {
    assert.deepEqual(selectionOf(pol({ kind: 'MeshService', name: 'web' }), sidecar).inbounds, ['10.0.0.1:8080']);
    assert.deepEqual(selectionOf(pol({ kind: 'MeshServiceSubset', name: 'web', tags: { version: 'v1' } }), sidecar).inbounds, ['10.0.0.1:8080']);
    assert.ok(!isSelected(selectionOf(pol({ kind: 'MeshServiceSubset', name: 'web', tags: { version: 'v2' } }), sidecar)));
  });

  it('proxyTypes narrows Mesh and MeshSubset only ("Sidecar ... Gateway ... Empty list - which refers to all Dataplanes")', () => {
    assert.ok(!isSelected(selectionOf(pol({ kind: 'Mesh', proxyTypes: ['Gateway'] }), sidecar)));
    assert.ok(isSelected(selectionOf(pol({ kind: 'Mesh', proxyTypes: ['Sidecar'] }), sidecar)));
    assert.ok(isSelected(selectionOf(pol({ kind: 'Mesh', proxyTypes: ['Gateway'] }), delegated)));
    assert.ok(!isSelected(selectionOf(pol({ kind: 'MeshSubset', tags: { team: 'a' }, proxyTypes: ['Gateway'] }), sidecar)));
  });

  it('selects a delegated gateway by its gateway tags', () => {
    assert.equal(selectionOf(pol({ kind: 'MeshService', name: 'edge' }), delegated).delegatedGateway, true);
    assert.equal(selectionOf(pol({ kind: 'MeshService', name: 'web' }), delegated).delegatedGateway, false);
  });

  it('MeshGateway selects a builtin gateway\'s listeners, narrowed by listener tags ("MeshGateway: targets proxies matched by the named MeshGateway")', () => {
    const all = selectionOf(pol({ kind: 'MeshGateway', name: 'edge' }), builtin);
    assert.deepEqual(all.gatewayListeners, [{ inbound: '10.0.0.3:80', hostname: '*' }, { inbound: '10.0.0.3:443', hostname: 'a.com' }]);
    assert.deepEqual(selectionOf(pol({ kind: 'MeshGateway', name: 'edge', tags: { port: 'https-443' } }), builtin).inbounds, ['10.0.0.3:443']);
    assert.ok(!isSelected(selectionOf(pol({ kind: 'MeshGateway', name: 'other' }), builtin)));
  });

  it('MeshHTTPRoute selects what the route selects, and reports a route that does not exist', () => {
    const route = { type: 'MeshHTTPRoute', name: 'r', mesh: 'default', labels: {}, spec: { targetRef: { kind: 'MeshService', name: 'web' }, to: [] } } as unknown as Policy<'MeshHTTPRoute'>;
    assert.deepEqual(selectionOf(pol({ kind: 'MeshHTTPRoute', name: 'r' }), sidecar, [route]).inbounds, ['10.0.0.1:8080']);
    assert.match(selectionOf(pol({ kind: 'MeshHTTPRoute', name: 'missing' }), sidecar, [route]).problem ?? '', /couldn't resolve MeshHTTPRoute/);
  });

  it('tag selectors accept * for any value (Kuma TagSelector.Matches)', () => {
    assert.ok(tagsMatch({ version: '*' }, { version: 'v9' }));
    assert.ok(!tagsMatch({ version: '*' }, {}));
  });
});
