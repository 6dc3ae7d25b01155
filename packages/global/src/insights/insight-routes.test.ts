import assert from 'node:assert/strict';
import { test, type TestContext } from 'node:test';
import { buildApiServer, InProcessEventBus, instrumentStore, MemoryStore, type Resource, Telemetry } from '@meshfed/shared';
import { registerInsightRoutes } from './insight-routes.js';
import { capturingLogger } from './testing.js';
import { ZoneInsights } from './zone-insights.js';
import { ZoneInventory } from './zone-inventory.js';

const T = { timeout: 20_000 };

function setup(t: TestContext) {
  const telemetry = new Telemetry({ service: 'test' });
  const store = instrumentStore(new MemoryStore(new InProcessEventBus()), telemetry);
  const { log } = capturingLogger();
  const insights = new ZoneInsights({ store, log, instanceId: 'global-a', cpVersion: '1.2.3', healthCheckIntervalMs: 1000, flushIntervalMs: 20 });
  insights.start();
  let clock = 0; // added to the real time, to look at the answers from the future
  const app = buildApiServer({
    mode: 'global', store, log, telemetry,
    extraRoutes: (a) => registerInsightRoutes(a, { store, insights, now: () => Date.now() + clock }),
  });
  t.after(async () => {
    await app.close();
    await insights.stop();
    await telemetry.shutdown();
  });
  return { app, store, insights, inventory: new ZoneInventory({ store }), advance: (ms: number) => void (clock += ms) };
}

const dataplane = (name: string): Resource => ({
  type: 'Dataplane', mesh: 'default', name, labels: {},
  spec: { networking: { address: '10.0.0.1', inbound: [{ port: 8080, tags: { 'kuma.io/service': 'web' } }] } },
});

test('GET /zones+insights lists every zone with its sync state; online is computed from the store', T, async (t) => {
  const { app, store, insights, inventory, advance } = setup(t);
  assert.deepEqual((await app.inject('/zones+insights')).json(), { total: 0, items: [], next: null });

  assert.deepEqual(await inventory.admit('zone-1'), { ok: true });
  assert.deepEqual(await inventory.admit('zone-2'), { ok: true }); // admitted, never synced
  const s = insights.connect('zone-1', { zoneCpVersion: '0.9.0', streamId: 'stream-1' });
  s.observer.sent('Mesh', 'global-to-zone', { nonce: 'n1', version: 'v1', resources: 1, removals: 0, bytes: 10 });
  s.observer.acked('Mesh', 'global-to-zone', { nonce: 'n1', version: 'v1', latencyMs: 3 });
  s.observer.sent('Mesh', 'global-to-zone', { nonce: 'n2', version: 'v2', resources: 1, removals: 0, bytes: 10 });
  s.observer.nacked('Mesh', 'global-to-zone', { nonce: 'n2', version: 'v2', error: 'spec.x: unknown field', rejected: [] });
  s.observer.refusedToSend('Secret', 'global-to-zone', { name: 'big', version: 'b1', error: 'too large to ever fit' });
  s.healthCheck();
  await insights.flush();

  const res = await app.inject('/zones+insights');
  assert.equal(res.statusCode, 200);
  const body = res.json();
  assert.equal(body.total, 2);
  assert.equal(body.next, null);
  const [z1, z2] = body.items;
  assert.equal(z1.type, 'ZoneInsight');
  assert.equal(z1.name, 'zone-1');
  assert.equal(z1.online, true);
  assert.equal(z1.enabled, true);
  assert.equal(z1.cpVersion, '1.2.3');
  assert.equal(z1.zoneCpVersion, '0.9.0');
  assert.ok(!Number.isNaN(Date.parse(z1.lastConnectTime)));
  assert.ok(z1.lastHealthCheckTime);
  assert.equal(z1.lastDisconnectTime, null);
  const stat = z1.subscriptions[0].status.stat.Mesh['global-to-zone'];
  assert.deepEqual(
    { sent: stat.sent, acked: stat.acked, rejected: stat.rejected, lastSentVersion: stat.lastSentVersion, lastAckedVersion: stat.lastAckedVersion, error: stat.lastNack.error, version: stat.lastNack.version },
    { sent: 2, acked: 1, rejected: 1, lastSentVersion: 'v2', lastAckedVersion: 'v1', error: 'spec.x: unknown field', version: 'v2' },
  );
  assert.ok(stat.lastNack.time);
  assert.equal(z1.subscriptions[0].status.stat.Secret['global-to-zone'].refused[0].name, 'big');
  assert.deepEqual(
    { name: z2.name, online: z2.online, lastConnectTime: z2.lastConnectTime, cpVersion: z2.cpVersion, subscriptions: z2.subscriptions },
    { name: 'zone-2', online: false, lastConnectTime: null, cpVersion: null, subscriptions: [] },
  );

  const one = await app.inject('/zones+insights/zone-1');
  assert.equal(one.statusCode, 200);
  assert.deepEqual(one.json(), z1);
  const missing = await app.inject('/zones+insights/zone-9');
  assert.equal(missing.statusCode, 404);
  assert.match(missing.json().details, /Zone "zone-9" does not exist/);

  const page = (await app.inject('/zones+insights?size=1')).json();
  assert.equal(page.items.length, 1);
  assert.match(page.next, /\/zones\+insights\?size=1&offset=1$/);
  assert.equal((await app.inject('/zones+insights?size=0')).statusCode, 400);

  // Seen from the future: the last health check is too old, so zone-1 is offline, on any replica.
  advance(insights.staleAfterMs + 1000);
  assert.equal((await app.inject('/zones+insights/zone-1')).json().online, false);
  advance(-(insights.staleAfterMs + 1000));
  assert.equal((await app.inject('/zones+insights/zone-1')).json().online, true);

  s.disconnect('stream closed');
  await insights.flush();
  const gone = (await app.inject('/zones+insights/zone-1')).json();
  assert.equal(gone.online, false);
  assert.ok(gone.lastDisconnectTime);
  assert.equal(gone.subscriptions[0].disconnectReason, 'stream closed');

  // The generic routes still refuse writes of the insight itself.
  const write = await app.inject({ method: 'PUT', url: '/zone-insights/zone-1', payload: { type: 'ZoneInsight', name: 'zone-1' } });
  assert.equal(write.statusCode, 400);
  assert.ok(await store.get({ type: 'ZoneInsight', name: 'zone-1' }));
});

test('GET /global-insight counts zones by state and proxies by type', T, async (t) => {
  const { app, store, insights, inventory } = setup(t);
  const empty = (await app.inject('/global-insight')).json();
  assert.deepEqual(empty, {
    zones: { online: 0, offline: 0, total: 0 },
    resources: { Dataplane: { total: 0 }, ZoneIngress: { total: 0 }, ZoneEgress: { total: 0 } },
    meshes: { total: 0 },
  });

  for (const z of ['zone-1', 'zone-2', 'zone-3']) await inventory.admit(z);
  const s1 = insights.connect('zone-1', { zoneCpVersion: '0.9.0', streamId: 's1' });
  const s2 = insights.connect('zone-2', { zoneCpVersion: '0.9.0', streamId: 's2' });
  insights.connect('zone-orphan', { zoneCpVersion: '0.9.0', streamId: 's3' }); // an insight without a Zone is not counted
  s2.disconnect();
  await insights.flush();
  await store.commit([
    { op: 'put', resource: { type: 'Mesh', name: 'default', labels: {}, spec: {} } },
    { op: 'put', resource: { type: 'Mesh', name: 'other', labels: {}, spec: {} } },
    { op: 'put', resource: dataplane('dp-1') },
    { op: 'put', resource: dataplane('dp-2') },
    { op: 'put', resource: { type: 'ZoneIngress', name: 'zone-1.ingress', labels: {}, spec: { networking: { address: '10.0.0.2', port: 10001 } } } },
  ]);

  const res = await app.inject('/global-insight');
  assert.equal(res.statusCode, 200);
  assert.deepEqual(res.json(), {
    zones: { online: 1, offline: 2, total: 3 },
    resources: { Dataplane: { total: 2 }, ZoneIngress: { total: 1 }, ZoneEgress: { total: 0 } },
    meshes: { total: 2 },
  });
  s1.disconnect();
  await insights.flush();
  assert.deepEqual((await app.inject('/global-insight')).json().zones, { online: 0, offline: 3, total: 3 });
});

test("proxy insights and config dumps are the zones': global says so and names the zones", T, async (t) => {
  const { app, inventory } = setup(t);
  const before = await app.inject('/meshes/default/dataplanes+insights');
  assert.equal(before.statusCode, 400);
  assert.match(before.json().details, /; no zone is known yet$/);

  await inventory.admit('zone-1');
  await inventory.admit('zone-2');
  const list = await app.inject('/meshes/default/dataplanes+insights');
  assert.deepEqual(list.json(), {
    title: 'Not served here',
    details: 'the global control plane does not hold proxy insights: proxies connect to the control plane of their zone, which does. ' +
      'Run "meshfed inspect dataplanes --cp <zone CP API URL>"; zones: zone-1, zone-2',
    causes: [],
  });
  for (const url of [
    '/dataplanes+insights', '/meshes/default/dataplanes+insights/web', '/zoneingresses+insights', '/zoneingresses+insights/ingress',
    '/zoneegresses+insights', '/zoneegresses+insights/egress',
  ]) {
    const res = await app.inject(url);
    assert.equal(res.statusCode, 400, url);
    assert.match(res.json().details, /^the global control plane does not hold proxy insights: .*"meshfed inspect (dataplanes|zoneingresses|zoneegresses) --cp .*; zones: zone-1, zone-2$/, url);
  }
  for (const url of ['/meshes/default/dataplanes/web/xds', '/zoneingresses/ingress/xds', '/zoneegresses/egress/xds?type=listener']) {
    const res = await app.inject(url);
    assert.equal(res.statusCode, 400, url);
    assert.match(res.json().details, /^the global control plane does not hold proxies' Envoy configuration: .*--config-dump --cp <zone CP API URL>"; zones: zone-1, zone-2$/, url);
  }
  const rules = await app.inject('/meshes/default/dataplanes/web/_rules');
  assert.equal(rules.statusCode, 400);
  assert.match(rules.json().details, /^the global control plane does not hold proxies' policy rules: .*"meshfed inspect dataplane NAME --rules --cp <zone CP API URL>"; zones: zone-1, zone-2$/);
  const affected = await app.inject('/meshes/default/meshtimeouts/t1/_resources/dataplanes');
  assert.equal(affected.statusCode, 400);
  assert.match(affected.json().details, /^the global control plane does not hold which proxies a policy affects: .*Ask each zone CP: GET <zone CP API URL>\/meshes\/MESH\/PLURAL\/NAME\/_resources\/dataplanes; zones: zone-1, zone-2$/);
  // The proxies' resources, which zones sync up, are still listed.
  assert.equal((await app.inject('/meshes/default/dataplanes')).statusCode, 200);
  assert.equal((await app.inject('/zoneingresses')).statusCode, 200);
});
