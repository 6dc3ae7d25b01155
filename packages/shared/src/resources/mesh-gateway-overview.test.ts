import assert from 'node:assert/strict';
import { test } from 'node:test';
import { meshGatewaysOverview, type OverviewDataplane } from './mesh-gateway-overview.js';

const gateway = (name: string, service: string, listeners: unknown[], tags?: Record<string, string>) => ({
  name, spec: { selectors: [{ match: { 'kuma.io/service': service } }], ...(tags ? { tags } : {}), conf: { listeners } },
});
const httpRoute = (name: string, match: Record<string, string>, hostnames?: string[]) => ({
  name, spec: { selectors: [{ match }], conf: { http: { ...(hostnames ? { hostnames } : {}), rules: [{ matches: [{ path: { match: 'PREFIX', value: '/api' } }], backends: [{ destination: { 'kuma.io/service': 'backend' } }] }] } } },
});
const tcpRoute = (name: string, match: Record<string, string>) => ({
  name, spec: { selectors: [{ match }], conf: { tcp: { rules: [{ backends: [{ destination: { 'kuma.io/service': 'backend' } }] }] } } },
});
const instance = (zone: string, name: string, tags: Record<string, string>): OverviewDataplane => ({
  zone, name, sync: { insightOn: zone }, spec: { networking: { address: '10.0.0.1', gateway: { type: 'BUILTIN', tags } } },
});

const EDGE = gateway('edge-gateway', 'edge-gateway', [
  { port: 8080, protocol: 'HTTP', hostname: 'foo.example.com', tags: { port: 'http/8080' } },
  { port: 9000, protocol: 'TCP', tags: { port: 'tcp/9000' } },
]);

test('routes attach to the listeners whose tags (instance + gateway + listener) their selectors match, by protocol and hostname', () => {
  const o = meshGatewaysOverview({
    mesh: 'default', zone: null,
    gateways: [EDGE],
    routes: [
      httpRoute('api', { 'kuma.io/service': 'edge-gateway', port: 'http/8080' }),
      httpRoute('any-port', { 'kuma.io/service': 'edge-gateway' }),
      tcpRoute('tcp', { 'kuma.io/service': 'edge-gateway', port: 'tcp/9000' }),
      // Selects the HTTP listener by its tags, but names a host the listener does not serve.
      httpRoute('other-host', { port: 'http/8080' }, ['bar.example.com']),
      // A tcp route whose selectors match only the HTTP listener.
      tcpRoute('tcp-on-http', { port: 'http/8080' }),
      httpRoute('orphan', { 'kuma.io/service': 'nobody' }),
    ],
    dataplanes: [
      instance('zone-1', 'edge-1', { 'kuma.io/service': 'edge-gateway' }),
      { zone: 'zone-1', name: 'web', sync: { insightOn: 'zone-1' }, spec: { networking: { address: '10.0.0.2', inbound: [{ port: 80, tags: { 'kuma.io/service': 'web' } }] } } },
    ],
  });
  const [gw] = o.gateways;
  assert.deepEqual(gw!.listeners.map((l) => [l.port, l.protocol, l.hostname, l.crossMesh, l.routes.map((r) => r.name)]), [
    [8080, 'HTTP', 'foo.example.com', false, ['any-port', 'api']],
    [9000, 'TCP', '*', false, ['tcp']],
  ]);
  // Only the builtin gateway Dataplane is an instance; global says whose CP holds its insight.
  assert.deepEqual(gw!.instances.map((i) => [i.zone, i.name, i.gateway, i.insightOn, i.problems]), [['zone-1', 'edge-1', 'edge-gateway', 'zone-1', []]]);
  const why = Object.fromEntries(o.unattachedRoutes.map((r) => [r.name, r.reason]));
  assert.deepEqual(Object.keys(why).sort(), ['orphan', 'other-host', 'tcp-on-http']);
  assert.match(why['orphan']!, /match no listener of any MeshGateway of mesh default/);
  assert.match(why['other-host']!, /none of its hostnames \(bar\.example\.com\) intersects/);
  assert.match(why['tcp-on-http']!, /MeshGateway edge-gateway port 8080.*tcp routes attach to TCP and TLS listeners/);
});

test('two gateways claiming one instance: the first by name serves it, and the instance says so', () => {
  const o = meshGatewaysOverview({
    mesh: 'default', zone: null,
    gateways: [gateway('b-gateway', 'edge', [{ port: 80, protocol: 'HTTP' }]), gateway('a-gateway', 'edge', [{ port: 81, protocol: 'HTTP' }])],
    routes: [],
    dataplanes: [instance('zone-2', 'edge-2', { 'kuma.io/service': 'edge' }), instance('zone-1', 'edge-1', { 'kuma.io/service': 'edge' }), instance('zone-1', 'lost', { 'kuma.io/service': 'none' })],
  });
  assert.deepEqual(o.gateways.map((g) => [g.name, g.instances.map((i) => `${i.zone}/${i.name}`)]), [['a-gateway', ['zone-1/edge-1', 'zone-2/edge-2']], ['b-gateway', []]]);
  assert.match(o.gateways[0]!.instances[0]!.problems[0]!, /MeshGateways a-gateway, b-gateway all select this builtin gateway: it serves a-gateway \(the first by name\)/);
  assert.deepEqual(o.unservedInstances.map((i) => [i.name, i.gateway]), [['lost', null]]);
  assert.match(o.unservedInstances[0]!.problems[0]!, /no MeshGateway of mesh default selects this builtin gateway/);
});

test('a route selecting a tag only some instances carry is attached on those only; without instances the selectors stand in', () => {
  const o = meshGatewaysOverview({
    mesh: 'default', zone: 'zone-1',
    gateways: [EDGE, gateway('idle', 'idle', [{ port: 7000, protocol: 'HTTP' }], { team: 'x' })],
    routes: [httpRoute('canary', { 'kuma.io/service': 'edge-gateway', port: 'http/8080', canary: 'true' }), httpRoute('idle-route', { 'kuma.io/service': 'idle', team: 'x' })],
    dataplanes: [
      { ...instance('zone-1', 'edge-1', { 'kuma.io/service': 'edge-gateway', canary: 'true' }), sync: { insight: { connected: true } } },
      { ...instance('zone-1', 'edge-2', { 'kuma.io/service': 'edge-gateway' }), sync: { insight: { connected: false } } },
    ],
  });
  assert.deepEqual(o.gateways[0]!.listeners[0]!.routes, [{ name: 'canary', kind: 'http', onlyOn: ['edge-1'] }]);
  assert.deepEqual(o.gateways[0]!.instances.map((i) => i.insight), [{ connected: true }, { connected: false }]);
  assert.deepEqual(o.gateways[1]!.listeners[0]!.routes, [{ name: 'idle-route', kind: 'http' }]);
  assert.deepEqual(o.unattachedRoutes, []);
});

test('invalid gateways and routes are left out and said', () => {
  const o = meshGatewaysOverview({
    mesh: 'default', zone: null,
    gateways: [{ name: 'broken', spec: { selectors: [] } }],
    routes: [{ name: 'bad', spec: { selectors: [{ match: { a: 'b' } }], conf: {} } }],
    dataplanes: [],
  });
  assert.deepEqual(o.gateways, []);
  assert.equal(o.problems.length, 2);
  assert.match(o.problems[0]!, /^MeshGateway broken is invalid and left out: /);
  assert.match(o.problems[1]!, /^MeshGatewayRoute bad is invalid and left out: /);
});
