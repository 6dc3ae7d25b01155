// `meshfed inspect meshgateways` against real daemons: global (on Postgres) sees every zone's builtin
// gateway instances matched to the gateways and routes applied on it and says which zone holds their
// xDS state; a zone CP shows its own instance connected and ACKing the listeners it is served; a
// route attached nowhere and an instance two gateways claim are flagged.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { meshfed, show } from './support/cli.js';
import { cleanups } from './support/cleanup.js';
import { eventually, FAST_GLOBAL, getJson, put, startZone, tmp } from './support/federation.js';
import { createTestDatabase } from './support/postgres.js';
import { startCp } from './support/processes.js';
import { XdsTestClient, xdsTargetOf } from './support/xds-client.js';
import { dataplane, ok } from './support/xds-resources.js';

const gateway = (name: string) => ({
  type: 'MeshGateway', mesh: 'default', name,
  selectors: [{ match: { 'kuma.io/service': 'edge-gateway' } }],
  conf: { listeners: [{ port: 8080, protocol: 'HTTP', hostname: 'foo.example.com', tags: { port: 'http/8080' } }, { port: 9000, protocol: 'TCP', tags: { port: 'tcp/9000' } }] },
});
const route = (name: string, match: Record<string, string>, conf: unknown) => ({ type: 'MeshGatewayRoute', mesh: 'default', name, selectors: [{ match }], conf });
const toBackend = [{ destination: { 'kuma.io/service': 'backend' } }];
const instance = (name: string) => ({ type: 'Dataplane', mesh: 'default', name, networking: { address: '127.0.0.1', gateway: { type: 'BUILTIN', tags: { 'kuma.io/service': 'edge-gateway' } } } });

test('inspect meshgateways: listeners with their routes, instances per zone with their sync state, what attaches nowhere', { timeout: 120_000 }, async () => {
  const dir = tmp();
  cleanups.push(dir.cleanup);
  const db = await createTestDatabase();
  const global = await startCp('global', [...FAST_GLOBAL, '--store', 'postgres', '--postgres-url', db.url]);
  const [z1, z2] = await Promise.all(['zone-1', 'zone-2'].map((z) => startZone(global, z, dir.dir, ['--dp-auth', 'none'])));
  for (const z of [z1!, z2!]) await eventually('the default mesh in the zone', async () => (await getJson(`${z.url}/meshes/default`)).status === 200);

  await ok(put(`${global.url}/meshes/default/meshgateways/edge-gateway`, gateway('edge-gateway')));
  await ok(put(`${global.url}/meshes/default/meshgatewayroutes/edge-gateway-route`, route('edge-gateway-route', { 'kuma.io/service': 'edge-gateway', port: 'http/8080' }, {
    http: { rules: [{ matches: [{ path: { match: 'PREFIX', value: '/api' } }], backends: toBackend }] },
  })));
  await ok(put(`${global.url}/meshes/default/meshgatewayroutes/edge-gateway-tcp`, route('edge-gateway-tcp', { 'kuma.io/service': 'edge-gateway', port: 'tcp/9000' }, { tcp: { rules: [{ backends: toBackend }] } })));
  await ok(put(`${global.url}/meshes/default/meshgatewayroutes/stray-route`, route('stray-route', { 'kuma.io/service': 'nowhere' }, { tcp: { rules: [{ backends: toBackend }] } })));
  for (const [z, port] of [[z1!, 11011], [z2!, 21011]] as const) {
    await ok(put(`${z.url}/meshes/default/dataplanes/backend-1`, dataplane('backend-1', port, { 'kuma.io/service': 'backend', 'kuma.io/protocol': 'http' })));
  }
  await ok(put(`${z1!.url}/meshes/default/dataplanes/edge-gateway-1`, instance('edge-gateway-1')));
  await ok(put(`${z2!.url}/meshes/default/dataplanes/edge-gateway-2`, instance('edge-gateway-2')));

  // Global: both zones' instances, once KDS brought them up; their xDS state is their zone's.
  const onGlobal = await eventually('both instances on global', async () => {
    const r = await meshfed(['inspect', 'meshgateways', '--cp', global.url]);
    return r.code === 0 && r.stdout.includes('edge-gateway-2') && r.stdout.includes('edge-gateway-1') ? r : undefined;
  });
  assert.match(onGlobal.stdout, /^GATEWAY\s+PORT\s+PROTOCOL\s+HOSTNAME\s+CROSSMESH\s+ROUTES$/m, show(onGlobal));
  assert.match(onGlobal.stdout, /^edge-gateway\s+8080\s+HTTP\s+foo\.example\.com\s+no\s+edge-gateway-route$/m, show(onGlobal));
  assert.match(onGlobal.stdout, /^edge-gateway\s+9000\s+TCP\s+\*\s+no\s+edge-gateway-tcp$/m, show(onGlobal));
  assert.match(onGlobal.stdout, /^edge-gateway\s+zone-1\s+edge-gateway-1\s+127\.0\.0\.1\s+-\s+-\s+-\s+held by zone-1's CP$/m, show(onGlobal));
  assert.match(onGlobal.stdout, /^edge-gateway\s+zone-2\s+edge-gateway-2\s+127\.0\.0\.1\s+-\s+-\s+-\s+held by zone-2's CP$/m, show(onGlobal));
  assert.match(onGlobal.stdout, /^stray-route\s+tcp\s+its selectors match no listener of any MeshGateway of mesh default/m, show(onGlobal));
  assert.match(onGlobal.stderr, /held by their zone's control plane: meshfed inspect meshgateways --cp <zone CP API URL>/, show(onGlobal));

  // Zone-1: its instance only, connected and ACKing what it is served.
  const xds1 = await xdsTargetOf(z1!);
  const proxy = new XdsTestClient(xds1, 'default.edge-gateway-1', 'dataplane');
  await proxy.waitFor('the gateway listener on 8080', (c) => c.get('listener', 'edge-gateway:HTTP:8080') !== undefined);
  const onZone = await eventually('edge-gateway-1 synced on zone-1', async () => {
    const r = await meshfed(['inspect', 'meshgateways', '--cp', z1!.url]);
    return /^edge-gateway\s+zone-1\s+edge-gateway-1\s+127\.0\.0\.1\s+yes\s+(\d)\/\1 acked\s+\S+\s+-$/m.test(r.stdout) ? r : undefined;
  });
  assert.doesNotMatch(onZone.stdout, /edge-gateway-2/, show(onZone));
  assert.match(onZone.stdout, /^edge-gateway\s+8080\s+HTTP\s+foo\.example\.com\s+no\s+edge-gateway-route$/m, show(onZone));
  const json = await meshfed(['inspect', 'meshgateways', '-o', 'json', '--cp', z1!.url]);
  assert.equal(json.code, 0, show(json));
  const o = JSON.parse(json.stdout) as { zone: string; gateways: { name: string; instances: { name: string; insight: { connected: boolean; synced: boolean } }[] }[]; unattachedRoutes: { name: string }[] };
  assert.equal(o.zone, 'zone-1');
  assert.deepEqual(o.gateways[0]!.instances.map((i) => [i.name, i.insight.connected, i.insight.synced]), [['edge-gateway-1', true, true]]);
  assert.deepEqual(o.unattachedRoutes.map((r) => r.name), ['stray-route']);

  // A second gateway claiming the same instances: the first by name serves them, and they say so.
  await ok(put(`${global.url}/meshes/default/meshgateways/z-edge-gateway`, gateway('z-edge-gateway')));
  const claimed = await eventually('the claim conflict on zone-1', async () => {
    const r = await meshfed(['inspect', 'meshgateways', '--cp', z1!.url]);
    return r.stdout.includes('z-edge-gateway') && r.stdout.includes('MeshGateways edge-gateway, z-edge-gateway all select') ? r : undefined;
  });
  assert.match(claimed.stdout, /^edge-gateway\s+zone-1\s+edge-gateway-1\s+127\.0\.0\.1\s+yes\s+.*MeshGateways edge-gateway, z-edge-gateway all select/m, show(claimed));
  // z-edge-gateway serves no instance: its listeners stand on its selectors, routes attach the same way.
  assert.match(claimed.stdout, /^z-edge-gateway\s+8080\s+HTTP\s+foo\.example\.com\s+no\s+edge-gateway-route$/m, show(claimed));

  // One gateway by name; an unknown one is an error that names it.
  const one = await meshfed(['inspect', 'meshgateway', 'edge-gateway', '--cp', global.url]);
  assert.equal(one.code, 0, show(one));
  assert.doesNotMatch(one.stdout, /^z-edge-gateway|stray-route/m, show(one));
  const missing = await meshfed(['inspect', 'meshgateway', 'nope', '--cp', global.url]);
  assert.notEqual(missing.code, 0, show(missing));
  assert.match(missing.stderr, /MeshGateway "nope" does not exist in mesh "default"/, show(missing));

  // The instance's own configuration and rules are inspected as a dataplane's, on its zone.
  const dump = await meshfed(['inspect', 'dataplane', 'edge-gateway-1', '--config-dump', '--type', 'listener', '--cp', z1!.url]);
  assert.equal(dump.code, 0, show(dump));
  assert.match(dump.stdout, /"name": "edge-gateway:HTTP:8080"/, show(dump));
});
