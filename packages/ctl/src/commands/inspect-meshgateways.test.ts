import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { MeshGatewaysOverview } from '@meshfed/shared/resources';
import { instanceRows, listenerRows, unattachedRows } from './inspect-meshgateways.js';

const NOW = Date.parse('2024-01-01T00:01:00Z');
const acked = { lastSent: { nonce: '1', at: '2024-01-01T00:00:00Z' }, lastAcked: { nonce: '1', at: '2024-01-01T00:00:30Z' }, state: 'acked' };

const OVERVIEW: MeshGatewaysOverview = {
  mesh: 'default', zone: 'zone-1', problems: [],
  gateways: [{
    name: 'edge-gateway', selectors: [{ match: { 'kuma.io/service': 'edge-gateway' } }], tags: {},
    listeners: [
      { port: 8080, protocol: 'HTTP', hostname: 'foo.example.com', crossMesh: false, tags: {}, routes: [{ name: 'api', kind: 'http' }, { name: 'canary', kind: 'http', onlyOn: ['edge-1'] }] },
      { port: 9000, protocol: 'TCP', hostname: '*', crossMesh: false, tags: {}, routes: [] },
    ],
    instances: [
      { zone: 'zone-1', name: 'edge-1', address: '10.0.0.1', tags: {}, gateway: 'edge-gateway', problems: [], insight: { connected: true, types: { listener: acked, route: acked } } },
      { zone: 'zone-1', name: 'edge-2', address: '10.0.0.2', tags: {}, gateway: 'edge-gateway', problems: [], insight: { connected: false, types: {}, problem: 'mesh "default" has no CA yet' } },
    ],
  }],
  unservedInstances: [{ zone: 'zone-2', name: 'lost', address: '10.0.0.3', tags: {}, gateway: null, problems: ['no MeshGateway selects it'], insightOn: 'zone-2' }],
  unattachedRoutes: [{ name: 'stray', kind: 'tcp', selectors: [], reason: 'its selectors match no listener' }],
};

test('rows of inspect meshgateways: listeners with their routes, instances with their sync state, routes attached nowhere', () => {
  assert.deepEqual(listenerRows(OVERVIEW), [
    ['edge-gateway', '8080', 'HTTP', 'foo.example.com', 'no', 'api, canary (on edge-1)'],
    ['edge-gateway', '9000', 'TCP', '*', 'no', '-'],
  ]);
  assert.deepEqual(instanceRows(OVERVIEW, NOW), [
    ['edge-gateway', 'zone-1', 'edge-1', '10.0.0.1', 'yes', '2/2 acked', '30s', '-'],
    ['edge-gateway', 'zone-1', 'edge-2', '10.0.0.2', 'no', '-', 'never', 'mesh "default" has no CA yet'],
    ['-', 'zone-2', 'lost', '10.0.0.3', '-', '-', '-', 'no MeshGateway selects it'],
  ]);
  assert.deepEqual(unattachedRows(OVERVIEW), [['stray', 'tcp', 'its selectors match no listener']]);
});
