import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { test } from 'node:test';
import { buildApiServer, createLogger, InProcessEventBus, MemoryStore, type MeshGatewaysOverview, NO_GRANTS, Telemetry } from '@meshfed/shared';
import type { FastifyInstance } from 'fastify';
import { registerGatewayOverviewRoute } from './gateway-overview-routes.js';
import { buildZoneIndex } from './xds/generate/zone-index.js';
import { ProxyInsights } from './xds/proxy-insights.js';
import { SnapshotCache } from './xds/snapshot-cache.js';

const quiet = new Writable({ write: (_c, _e, cb) => cb() });

async function put(app: FastifyInstance, url: string, body: unknown) {
  const res = await app.inject({ method: 'PUT', url, payload: JSON.stringify(body), headers: { 'content-type': 'application/json' } });
  assert.ok(res.statusCode < 300, `${url}: ${res.body}`);
}

const gw = (name: string, port: number) => ({
  type: 'MeshGateway', mesh: 'default', name, selectors: [{ match: { 'kuma.io/service': 'edge' } }], conf: { listeners: [{ port, protocol: 'HTTP' }] },
});
const instance = (name: string, tags: Record<string, string>) => ({ type: 'Dataplane', mesh: 'default', name, networking: { address: '10.0.0.1', gateway: { type: 'BUILTIN', tags } } });

test('a zone CP answers the overview with its instances\' insights, and picks the same gateway for each as its xDS index', async () => {
  const store = new MemoryStore(new InProcessEventBus());
  const cache = new SnapshotCache();
  const insights = new ProxyInsights();
  const app = buildApiServer({
    mode: 'standalone', zone: 'zone-1', store, telemetry: new Telemetry({ service: 'test' }), log: createLogger({ component: 'test', destination: quiet }),
    extraRoutes: (a) => registerGatewayOverviewRoute(a, { store, zone: 'zone-1', insights, cache, explain: (id) => (id === 'default.lost' ? 'no MeshGateway selects it' : undefined) }),
  });
  await put(app, '/meshes/default', { type: 'Mesh', name: 'default' });
  // Named so that store order and name order differ: the first by name must win on both sides.
  for (const g of [gw('zz-gateway', 80), gw('aa-gateway', 81), gw('mm-gateway', 82)]) await put(app, `/meshes/default/meshgateways/${g.name}`, g);
  await put(app, '/meshes/default/dataplanes/edge-1', instance('edge-1', { 'kuma.io/service': 'edge' }));
  await put(app, '/meshes/default/dataplanes/lost', instance('lost', { 'kuma.io/service': 'nobody' }));
  insights.connected('default.edge-1', 'dataplane', 'delta');

  const res = await app.inject('/meshes/default/meshgateways/_overview');
  assert.equal(res.statusCode, 200, res.body);
  const o = res.json() as MeshGatewaysOverview;
  assert.equal(o.zone, 'zone-1');
  const served = o.gateways.filter((g) => g.instances.length > 0);
  assert.deepEqual(served.map((g) => [g.name, g.instances.map((i) => [i.name, i.insight?.['connected']])]), [['aa-gateway', [['edge-1', true]]]]);
  assert.deepEqual(o.unservedInstances.map((i) => [i.name, i.insight?.['connected'], i.insight?.['problem']]), [['lost', false, 'no MeshGateway selects it']]);

  const view = (type: string) => async () => (await store.list(type as 'Mesh')).items;
  const index = buildZoneIndex({
    zone: 'zone-1', meshes: await view('Mesh')(), dataplanes: await view('Dataplane')(), zoneIngresses: [], zoneEgresses: [], externalServices: [],
    meshGateways: await view('MeshGateway')(),
  });
  assert.equal(index.builtinGateways.get('default.edge-1')?.gateway?.name, served[0]!.name);

  assert.equal((await app.inject('/meshes/nope/meshgateways/_overview')).statusCode, 404);
  await app.close();
});

test('the overview declares its access rule: without credentials it is refused', async () => {
  const store = new MemoryStore(new InProcessEventBus());
  const app = buildApiServer({
    mode: 'standalone', zone: 'zone-1', store, telemetry: new Telemetry({ service: 'test' }), log: createLogger({ component: 'test', destination: quiet }),
    access: { localhostIsAdmin: false, anonymousReads: true, grants: () => NO_GRANTS, userTokens: { verify: async () => { throw new Error('no tokens here'); } } },
    extraRoutes: (a) => registerGatewayOverviewRoute(a, { store, zone: 'zone-1', insights: new ProxyInsights(), cache: new SnapshotCache(), explain: () => undefined }),
  });
  const res = await app.inject('/meshes/default/meshgateways/_overview');
  assert.equal(res.statusCode, 401, res.body);
  await app.close();
});
