import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { after, before, describe, test } from 'node:test';
import { AccessGrantsCache, buildApiServer, createLogger, InProcessEventBus, MemoryStore, pack, Telemetry, UserTokens, XDS_TYPE_URL } from '@meshfed/shared';
import type { FastifyInstance } from 'fastify';
import { WorkloadCertificateCache } from '../mesh-ca/workload-certificate-cache.js';
import { baseResources } from './fixtures.test-support.js';
import { type ProxyInsight, ProxyInsights } from './proxy-insights.js';
import { makeSnapshot } from './snapshot.js';
import { SnapshotCache } from './snapshot-cache.js';
import { startXdsReconciler } from './xds-reconciler.js';
import { redactPrivateKeys, registerXdsRoutes, typeSyncState, xdsHostFor } from './xds-routes.js';

const quiet = new Writable({ write: (_c, _e, cb) => cb() });

/** ProxyInsights with the `problem` field another change adds; the routes must pass it on. */
class InsightsWithProblems extends ProxyInsights {
  readonly problems = new Map<string, string>();
  override get(proxyId: string): ProxyInsight | undefined {
    const p = super.get(proxyId);
    const problem = this.problems.get(proxyId);
    if (problem === undefined) return p;
    return Object.assign(p ?? ({ proxyId, proxyType: 'dataplane', protocol: 'delta', connected: false, connectedAt: '', streams: 0, types: {} } as unknown as ProxyInsight), { problem });
  }
}

function zone(xds: { port: number; address?: string } = { port: 5678 }, explain?: (proxyId: string) => string | undefined) {
  const store = new MemoryStore(new InProcessEventBus());
  const cache = new SnapshotCache();
  let clock = Date.parse('2024-01-01T00:00:00Z');
  const insights = new InsightsWithProblems(() => new Date(clock++));
  const app = buildApiServer({
    mode: 'standalone', zone: 'zone-1', store, telemetry: new Telemetry({ service: 'test' }), log: createLogger({ component: 'test', destination: quiet }),
    extraRoutes: (a) => registerXdsRoutes(a, { cache, insights, store, xds, zone: 'zone-1', ...(explain ? { explain } : {}) }),
  });
  return { app, store, cache, insights };
}

async function put(app: FastifyInstance, url: string, body: unknown) {
  const res = await app.inject({ method: 'PUT', url, payload: JSON.stringify(body), headers: { 'content-type': 'application/json' } });
  assert.ok(res.statusCode < 300, `${url}: ${res.body}`);
}

async function post(app: FastifyInstance, body: unknown, headers: Record<string, string> = {}) {
  return app.inject({ method: 'POST', url: '/bootstrap', payload: JSON.stringify(body), headers: { 'content-type': 'application/json', ...headers } });
}

const web = {
  type: 'Dataplane', mesh: 'default', name: 'web',
  networking: { address: '10.0.0.1', admin: { port: 9911 }, inbound: [{ port: 8080, tags: { 'kuma.io/service': 'web' } }] },
};

async function withProxies(app: FastifyInstance) {
  await put(app, '/meshes/default', { type: 'Mesh', name: 'default' });
  await put(app, '/meshes/default/dataplanes/web', web);
  await put(app, '/zoneingresses/ingress-1', { type: 'ZoneIngress', name: 'ingress-1', networking: { address: '10.0.0.9', port: 10001 } });
  await put(app, '/zoneegresses/egress-1', { type: 'ZoneEgress', name: 'egress-1', networking: { address: '10.0.0.8', port: 10002 } });
}

const KEY_PEM = '-----BEGIN PRIVATE KEY-----\nMC4CAQAwBQYDK2VwBCIEIAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA\n-----END PRIVATE KEY-----\n';

describe('xDS routes on a real API server', () => {
  const { app, cache, insights, store } = zone();
  after(() => app.close());

  test('/xds and the resource routes both answer under /meshes/:mesh/dataplanes/:name', async () => {
    await withProxies(app);
    const resource = await app.inject('/meshes/default/dataplanes/web');
    assert.equal(resource.statusCode, 200);
    assert.equal(resource.json().name, 'web');
    assert.equal((await app.inject('/meshes/default/dataplanes')).json().total, 1);

    const none = await app.inject('/meshes/default/dataplanes/web/xds');
    assert.equal(none.statusCode, 404);
    assert.deepEqual(none.json(), { title: 'Not found', details: 'Dataplane "web" in mesh "default" has no configuration computed yet', causes: [] });

    cache.set('default.web', makeSnapshot(baseResources()));
    const dump = await app.inject('/meshes/default/dataplanes/web/xds');
    assert.equal(dump.statusCode, 200);
    assert.match(String(dump.headers['content-type']), /^application\/json/);
    const configs = dump.json().configs as { '@type': string; [k: string]: unknown }[];
    assert.deepEqual(configs.map((c) => c['@type'].split('.').pop()), ['ClustersConfigDump', 'EndpointsConfigDump', 'ListenersConfigDump', 'RoutesConfigDump', 'SecretsConfigDump']);
    const clusters = configs[0] as unknown as { dynamic_active_clusters: { cluster: { '@type': string; name: string; type: string } }[] };
    assert.deepEqual(clusters.dynamic_active_clusters.map((c) => [c.cluster['@type'], c.cluster.name, c.cluster.type]), [[XDS_TYPE_URL.cluster, 'backend', 'EDS']]);
  });

  test('?type= restricts the sections, and a wrong one is a 400 naming the field', async () => {
    const only = (await app.inject('/meshes/default/dataplanes/web/xds?type=listener,cluster')).json();
    assert.deepEqual(only.configs.map((c: { '@type': string }) => c['@type'].split('.').pop()), ['ClustersConfigDump', 'ListenersConfigDump']);
    const bad = await app.inject('/meshes/default/dataplanes/web/xds?type=listeners');
    assert.equal(bad.statusCode, 400);
    assert.equal(bad.json().causes[0].field, 'type');
    assert.match(bad.json().details, /unknown type "listeners": use secret, cluster, endpoint, listener, route/);
  });

  test('404 for a proxy that does not exist, and the insight problem when nothing is computed', async () => {
    const missing = await app.inject('/meshes/default/dataplanes/nope/xds');
    assert.equal(missing.statusCode, 404);
    assert.equal(missing.json().details, 'Dataplane "nope" in mesh "default" does not exist');
    assert.equal((await app.inject('/zoneegresses/nope/xds')).statusCode, 404);
    insights.problems.set('zoneingress:ingress-1', 'no mesh has mTLS enabled');
    const ingress = await app.inject('/zoneingresses/ingress-1/xds');
    assert.equal(ingress.statusCode, 404);
    assert.equal(ingress.json().details, 'ZoneIngress "ingress-1" has no configuration computed yet: no mesh has mTLS enabled');
  });

  test('a zone egress is served its config dump; private keys never leave', async () => {
    const secret = pack(XDS_TYPE_URL.secret, {
      name: 'identity_cert:secret:default',
      tls_certificate: { certificate_chain: { inline_bytes: Buffer.from('CERT') }, private_key: { inline_bytes: Buffer.from(KEY_PEM) } },
    });
    cache.set('zoneegress:egress-1', makeSnapshot({ ...baseResources(), secret: { 'identity_cert:secret:default': secret } }));
    const res = await app.inject('/zoneegresses/egress-1/xds?type=secret');
    assert.equal(res.statusCode, 200);
    assert.ok(!res.body.includes('PRIVATE KEY') && !res.body.includes(Buffer.from(KEY_PEM).toString('base64').slice(0, 40)), 'no key material');
    const s = res.json().configs[0].dynamic_active_secrets[0].secret;
    assert.equal(s.name, 'identity_cert:secret:default');
    assert.equal(s.tls_certificate.certificate_chain.inline_bytes, Buffer.from('CERT').toString('base64'));
    assert.equal(Buffer.from(s.tls_certificate.private_key.inline_bytes, 'base64').toString(), '[redacted]');
  });

  test('+insights: connection, config version, per-type state and synced', async () => {
    const version = cache.get('default.web')!.version;
    const empty = (await app.inject('/meshes/default/dataplanes+insights')).json();
    assert.equal(empty.total, 1);
    assert.equal(empty.next, null);
    assert.deepEqual(empty.items[0].insight, { connected: false, configVersion: version, synced: false, types: {} });
    assert.equal(empty.items[0].networking.address, '10.0.0.1', 'the resource fields are there too');

    insights.connected('default.web', 'dataplane', 'delta');
    for (const [type, nonce] of [['listener', '1'], ['cluster', '2']] as const) {
      insights.sent('default.web', type, { version: `v${nonce}`, nonce, resources: 1 });
      insights.acked('default.web', type, { version: `v${nonce}`, nonce });
    }
    let one = (await app.inject('/meshes/default/dataplanes+insights/web')).json();
    assert.equal(one.name, 'web');
    assert.equal(one.insight.connected, true);
    assert.equal(one.insight.protocol, 'delta');
    assert.equal(one.insight.configVersion, version);
    assert.equal(one.insight.types.listener.state, 'acked');
    assert.equal(one.insight.types.listener.lastAcked.version, 'v1');
    assert.equal(one.insight.synced, true);

    insights.sent('default.web', 'endpoint', { version: 'v3', nonce: '3', resources: 1 });
    one = (await app.inject('/meshes/default/dataplanes+insights/web')).json();
    assert.equal(one.insight.types.endpoint.state, 'pending');
    assert.equal(one.insight.synced, false);

    insights.nacked('default.web', 'endpoint', { version: 'v3', nonce: '3', error: 'bad endpoint' });
    one = (await app.inject('/meshes/default/dataplanes+insights/web')).json();
    assert.equal(one.insight.types.endpoint.state, 'nacked');
    assert.equal(one.insight.types.endpoint.lastNack.error, 'bad endpoint');
    assert.equal(one.insight.synced, false);

    insights.disconnected('default.web');
    one = (await app.inject('/meshes/default/dataplanes+insights/web')).json();
    assert.equal(one.insight.connected, false);
    assert.ok(one.insight.disconnectedAt);

    assert.equal((await app.inject('/dataplanes+insights')).json().total, 1, 'across meshes');
    assert.equal((await app.inject('/meshes/default/dataplanes+insights/nope')).statusCode, 404);
    assert.equal((await app.inject('/meshes/default/dataplanes+insights?size=0')).json().causes[0].field, 'size');
  });

  test('+insights of zone ingresses and egresses pass extra insight fields on', async () => {
    const ingresses = (await app.inject('/zoneingresses+insights')).json();
    assert.deepEqual(ingresses.items.map((i: { name: string }) => i.name), ['ingress-1']);
    assert.equal(ingresses.items[0].insight.problem, 'no mesh has mTLS enabled');
    const egress = (await app.inject('/zoneegresses+insights/egress-1')).json();
    assert.equal(egress.type, 'ZoneEgress');
    assert.equal(egress.insight.configVersion, cache.get('zoneegress:egress-1')!.version);
    assert.equal(egress.insight.mesh, undefined);
  });

  test('POST /bootstrap answers a bootstrap for a registered proxy, dialling the host it was asked on', async () => {
    const res = await post(app, { mesh: 'default', name: 'web', dataplaneToken: 'a.b.c' }, { host: 'zone-cp.example:5681' });
    assert.equal(res.statusCode, 200, res.body);
    assert.match(String(res.headers['content-type']), /^application\/json/);
    assert.equal(res.headers['cache-control'], 'no-store');
    const b = res.json();
    assert.deepEqual(b.node, { id: 'default.web', cluster: 'web', metadata: { proxyType: 'dataplane' } });
    assert.equal(b.admin.address.socket_address.port_value, 9911, "the dataplane's own admin port");
    assert.equal(b.dynamic_resources.ads_config.grpc_services[0].initial_metadata[0].value, 'Bearer a.b.c');
    const cluster = b.static_resources.clusters[0];
    assert.equal(cluster.type, 'STRICT_DNS');
    assert.deepEqual(cluster.load_assignment.endpoints[0].lb_endpoints[0].endpoint.address.socket_address, { address: 'zone-cp.example', port_value: 5678 });

    const ingress = (await post(app, { name: 'ingress-1', proxyType: 'ingress', adminPort: 9902 }, { host: '192.0.2.7:5681' })).json();
    assert.deepEqual(ingress.node, { id: 'ingress-1', cluster: 'ingress-1', metadata: { proxyType: 'ingress' } });
    assert.equal(ingress.admin.address.socket_address.port_value, 9902);
    assert.equal(ingress.static_resources.clusters[0].type, 'STATIC');
    assert.equal(ingress.static_resources.clusters[0].load_assignment.endpoints[0].lb_endpoints[0].endpoint.address.socket_address.address, '192.0.2.7');
    assert.equal(ingress.dynamic_resources.ads_config.grpc_services[0].initial_metadata, undefined);
  });

  test('POST /bootstrap: 400 with field paths, 404 until the proxy is registered in this zone', async () => {
    const noMesh = await post(app, { name: 'web' });
    assert.equal(noMesh.statusCode, 400);
    assert.deepEqual(noMesh.json().causes, [{ field: 'mesh', message: 'is required for a dataplane' }]);
    const unknown = await post(app, { mesh: 'default', name: 'web', dataplaneTokenPath: '/x' });
    assert.deepEqual(unknown.json().causes, [{ field: 'dataplaneTokenPath', message: 'unknown field "dataplaneTokenPath": use mesh, name, proxyType, dataplaneToken and adminPort' }]);
    const port = await post(app, { mesh: 'default', name: 'web', adminPort: 'x' });
    assert.equal(port.json().causes[0].field, 'adminPort');

    const unregistered = await post(app, { mesh: 'default', name: 'api' });
    assert.equal(unregistered.statusCode, 404);
    assert.match(unregistered.json().details, /Dataplane "api" in mesh "default" is not registered in zone "zone-1": register it first with PUT \/meshes\/default\/dataplanes\/api/);
    const egress = await post(app, { name: 'egress-2', proxyType: 'egress' });
    assert.match(egress.json().details, /register it first with PUT \/zoneegresses\/egress-2/);

    // Another zone's ingress reaches this zone through global; it is not bootstrapped here.
    await store.commit([{ op: 'put', resource: {
      type: 'ZoneIngress', name: 'ingress-z2', labels: { 'kuma.io/origin': 'global', 'kuma.io/zone': 'zone-2' }, spec: { zone: 'zone-2', networking: { port: 10001 } },
    } }]);
    const foreign = await post(app, { name: 'ingress-z2', proxyType: 'ingress' });
    assert.equal(foreign.statusCode, 404);
    assert.match(foreign.json().details, /belongs to zone "zone-2"/);
    assert.match((await app.inject('/zoneingresses/ingress-z2/xds')).json().details, /belongs to zone "zone-2": inspect it on that zone's control plane/);
  });
});

test('a configured xDS address wins over the Host header unless it is a wildcard', async () => {
  const { app } = zone({ port: 15678, address: '10.9.8.7' });
  await withProxies(app);
  const b = (await post(app, { mesh: 'default', name: 'web' }, { host: 'ignored:5681' })).json();
  assert.deepEqual(b.static_resources.clusters[0].load_assignment.endpoints[0].lb_endpoints[0].endpoint.address.socket_address, { address: '10.9.8.7', port_value: 15678 });
  await app.close();
  assert.equal(xdsHostFor('[::1]:5681', '0.0.0.0'), '::1');
  assert.equal(xdsHostFor('cp:5681', '::'), 'cp');
  assert.equal(xdsHostFor(undefined, undefined), '127.0.0.1');
});

test("the reconciler's explanation comes first in a 404 for a proxy without configuration", async () => {
  const { app, insights } = zone({ port: 5678 }, (id) => (id === 'default.web' ? 'mesh "default" has mTLS but its CA is not ready' : undefined));
  await withProxies(app);
  insights.problems.set('default.web', 'stale problem');
  assert.equal((await app.inject('/meshes/default/dataplanes/web/xds')).json().details, 'Dataplane "web" in mesh "default" has no configuration computed yet: mesh "default" has mTLS but its CA is not ready');
  insights.problems.set('zoneegress:egress-1', 'from the insight');
  assert.equal((await app.inject('/zoneegresses/egress-1/xds')).json().details, 'ZoneEgress "egress-1" has no configuration computed yet: from the insight');
  await app.close();
});

test('typeSyncState judges the last response by nonce, version and time', () => {
  const sent = { version: 'v2', nonce: '2', at: '2024-01-01T00:00:02Z', resources: 1 };
  assert.equal(typeSyncState({}), 'not-sent');
  assert.equal(typeSyncState({ lastSent: sent }), 'pending');
  assert.equal(typeSyncState({ lastSent: sent, lastAcked: { version: 'v1', nonce: '1', at: '2024-01-01T00:00:01Z' } }), 'pending');
  // a new stream restarts nonces: an older stream's ACK of the same nonce does not count
  assert.equal(typeSyncState({ lastSent: sent, lastAcked: { version: 'v2', nonce: '2', at: '2024-01-01T00:00:01Z' } }), 'pending');
  assert.equal(typeSyncState({ lastSent: sent, lastAcked: { version: 'v2', nonce: '2', at: '2024-01-01T00:00:03Z' } }), 'acked');
  assert.equal(typeSyncState({ lastSent: sent, lastNack: { version: 'v2', nonce: '2', at: '2024-01-01T00:00:03Z', error: 'x' } }), 'nacked');
});

test('redactPrivateKeys empties inline private keys wherever they are', () => {
  assert.deepEqual(redactPrivateKeys({ a: [{ private_key: { inline_string: 'KEY' }, certificate_chain: { inline_string: 'CERT' } }] }), {
    a: [{ private_key: { inline_string: '[redacted]' }, certificate_chain: { inline_string: 'CERT' } }],
  });
});

// ---- the matching step's results: _rules and _resources/dataplanes --------------------------------

/** A zone API with a real store, a real xDS reconciler and access control (user tokens, roles). */
async function zoneWithRules() {
  const bus = new InProcessEventBus();
  const store = new MemoryStore(bus);
  const log = createLogger({ component: 'test', destination: quiet });
  const cache = new SnapshotCache();
  const certificates = new WorkloadCertificateCache({ store, bus });
  const reconciler = startXdsReconciler({ store, bus, cache, certificates, zone: 'zone-1', resyncIntervalMs: 0, log, telemetry: new Telemetry({ service: 'test' }) });
  const userTokens = await UserTokens.open(store);
  const grants = await AccessGrantsCache.start({ store, bus, log });
  const app = buildApiServer({
    mode: 'standalone', zone: 'zone-1', store, telemetry: new Telemetry({ service: 'test' }), log,
    access: { userTokens, grants: () => grants.current(), localhostIsAdmin: true, anonymousReads: false },
    extraRoutes: (a) => registerXdsRoutes(a, { cache, insights: new ProxyInsights(), store, xds: { port: 5678 }, zone: 'zone-1', rules: reconciler }),
  });
  const token = async (name: string, groups: string[]) => (await userTokens.issue({ name, groups, validForMs: 3_600_000 })).token;
  const close = async () => {
    await app.close();
    grants.close();
    await reconciler.stop();
    certificates.close();
  };
  return { app, store, reconciler, token, close };
}

const sidecar = (name: string, address: string, service: string, outbound: [string, number][] = []) => ({
  type: 'Dataplane', mesh: 'default', name,
  networking: { address, inbound: [{ port: 8080, tags: { 'kuma.io/service': service } }], outbound: outbound.map(([s, port]) => ({ port, tags: { 'kuma.io/service': s } })) },
});
const policy = (type: string, name: string, spec: unknown) => ({ type, mesh: 'default', name, spec });

describe('_rules and _resources/dataplanes on a real store and reconciler', () => {
  let z: Awaited<ReturnType<typeof zoneWithRules>>;
  before(async () => {
    z = await zoneWithRules();
    await put(z.app, '/meshes/default', { type: 'Mesh', name: 'default' });
    await put(z.app, '/meshes/default/dataplanes/web', sidecar('web', '10.0.0.1', 'web', [['backend', 10001], ['db', 10002]]));
    await put(z.app, '/meshes/default/dataplanes/backend-1', sidecar('backend-1', '10.0.0.2', 'backend'));
    await put(z.app, '/meshes/default/dataplanes/db-1', sidecar('db-1', '10.0.0.3', 'db'));
    // Written most specific first: the answer's order is the merge order, not the write order.
    await put(z.app, '/meshes/default/meshtimeouts/backend-timeouts', policy('MeshTimeout', 'backend-timeouts', {
      targetRef: { kind: 'MeshService', name: 'web' }, to: [{ targetRef: { kind: 'MeshService', name: 'backend' }, default: { http: { requestTimeout: '2s' } } }],
    }));
    await put(z.app, '/meshes/default/meshtimeouts/mesh-timeouts', policy('MeshTimeout', 'mesh-timeouts', {
      targetRef: { kind: 'Mesh' }, to: [{ targetRef: { kind: 'Mesh' }, default: { connectionTimeout: '5s', http: { requestTimeout: '15s' } } }],
    }));
    await put(z.app, '/meshes/default/meshtrafficpermissions/allow-all', policy('MeshTrafficPermission', 'allow-all', {
      targetRef: { kind: 'Mesh' }, from: [{ targetRef: { kind: 'Mesh' }, default: { action: 'Allow' } }],
    }));
    await put(z.app, '/meshes/default/meshtimeouts/ghost-timeouts', policy('MeshTimeout', 'ghost-timeouts', {
      targetRef: { kind: 'MeshService', name: 'ghost' }, to: [{ targetRef: { kind: 'Mesh' }, default: { idleTimeout: '1h' } }, { targetRef: { kind: 'MeshService', name: 'phantom' }, default: { idleTimeout: '2h' } }],
    }));
    // Stored past validation (as from a newer peer): the zone skips it and says why.
    await z.store.commit([{ op: 'put', resource: { type: 'MeshTimeout', mesh: 'default', name: 'broken', labels: {}, spec: { spec: { targetRef: { kind: 'Mesh' }, to: [{ targetRef: { kind: 'Mesh' }, default: { idleTimeout: 5 } }] } } } }]);
    await z.reconciler.runNow();
  });
  after(() => z.close());

  test("a dataplane's rules: policies in merge order, from per inbound, to and toByService with origins", async () => {
    const res = await z.app.inject('/meshes/default/dataplanes/web/_rules');
    assert.equal(res.statusCode, 200, res.body);
    const body = res.json();
    assert.deepEqual(Object.keys(body), ['mesh', 'dataplane', 'rules', 'warnings']);
    assert.deepEqual([body.mesh, body.dataplane, body.warnings], ['default', 'web', []]);
    assert.deepEqual(Object.keys(body.rules), ['MeshTrafficPermission', 'MeshTimeout'], 'only the types some policy selects, in a fixed order');
    const timeout = body.rules.MeshTimeout;
    assert.deepEqual(Object.keys(timeout), ['policies', 'from', 'to', 'toByService', 'warnings']);
    assert.deepEqual(timeout.policies, ['mesh-timeouts', 'backend-timeouts'], 'least specific first: the MeshService policy wins');
    assert.deepEqual(timeout.toByService, {
      backend: { conf: { connectionTimeout: '5s', http: { requestTimeout: '2s' } }, origins: ['backend-timeouts', 'mesh-timeouts'] },
      db: { conf: { connectionTimeout: '5s', http: { requestTimeout: '15s' } }, origins: ['mesh-timeouts'] },
    });
    assert.deepEqual(timeout.to.map((r: { subset: unknown }) => r.subset), [[{ key: 'kuma.io/service', value: 'backend' }], [{ key: 'kuma.io/service', value: 'backend', not: true }]]);
    assert.deepEqual(timeout.from, {});
    assert.deepEqual(body.rules.MeshTrafficPermission.from, { '10.0.0.1:8080': [{ subset: [], conf: { action: 'Allow' }, origins: ['allow-all'] }] }, "the inbound under the dataplane's own address");
    const backend = (await z.app.inject('/meshes/default/dataplanes/backend-1/_rules')).json();
    assert.deepEqual(backend.rules.MeshTimeout.policies, ['mesh-timeouts'], 'backend-timeouts selects web only');
  });

  test('which dataplanes a policy selects: exactly those, by name', async () => {
    const only = await z.app.inject('/meshes/default/meshtimeouts/backend-timeouts/_resources/dataplanes');
    assert.equal(only.statusCode, 200, only.body);
    assert.deepEqual(only.json(), { policy: { type: 'MeshTimeout', mesh: 'default', name: 'backend-timeouts' }, total: 1, items: [{ mesh: 'default', name: 'web' }], problems: [] });
    const all = (await z.app.inject('/meshes/default/meshtimeouts/mesh-timeouts/_resources/dataplanes')).json();
    assert.deepEqual(all.items.map((i: { name: string }) => i.name), ['backend-1', 'db-1', 'web']);
    assert.equal(all.total, 3);
    const mtp = (await z.app.inject('/meshes/default/meshtrafficpermissions/allow-all/_resources/dataplanes')).json();
    assert.equal(mtp.total, 3);
  });

  test('a policy that can never match is flagged with the field path; an invalid one says why it is ignored', async () => {
    const ghost = (await z.app.inject('/meshes/default/meshtimeouts/ghost-timeouts/_resources/dataplanes')).json();
    assert.deepEqual(ghost.items, []);
    assert.deepEqual(ghost.problems, [
      'spec.targetRef.name: MeshService "ghost" is offered by no proxy of mesh default (here or in other zones), so this policy selects nothing',
      'spec.to[1].targetRef.name: MeshService "phantom" is offered by no proxy of mesh default (here or in other zones), so this entry matches no traffic',
    ]);
    const broken = await z.app.inject('/meshes/default/meshtimeouts/broken/_resources/dataplanes');
    assert.equal(broken.statusCode, 200);
    assert.equal(broken.json().total, 0);
    assert.match(broken.json().problems[0], /^MeshTimeout broken: invalid: .*idleTimeout.*: this zone ignores it, so it selects nothing$/);

    // A service that appears makes the flag go.
    await put(z.app, '/meshes/default/dataplanes/ghost-1', sidecar('ghost-1', '10.0.0.9', 'ghost'));
    await z.reconciler.runNow();
    const seen = (await z.app.inject('/meshes/default/meshtimeouts/ghost-timeouts/_resources/dataplanes')).json();
    assert.deepEqual(seen.items, [{ mesh: 'default', name: 'ghost-1' }]);
    assert.equal(seen.problems.length, 1);
    assert.match(seen.problems[0], /^spec\.to\[1\]\.targetRef\.name: MeshService "phantom"/);
  });

  test('404s say what is missing: the plural, the dataplane, the policy', async () => {
    const cases: [string, string][] = [
      ['/meshes/default/dataplanes/nope/_rules', 'Dataplane "nope" in mesh "default" does not exist'],
      ['/meshes/default/meshtimeouts/nope/_resources/dataplanes', 'MeshTimeout "nope" in mesh "default" does not exist in this zone'],
      ['/meshes/other/meshtimeouts/mesh-timeouts/_resources/dataplanes', 'MeshTimeout "mesh-timeouts" in mesh "other" does not exist in this zone'],
    ];
    for (const [url, details] of cases) {
      const r = await z.app.inject(url);
      assert.equal(r.statusCode, 404, url);
      assert.deepEqual(r.json(), { title: 'Not found', details, causes: [] });
    }
    const plural = (await z.app.inject('/meshes/default/meshtimeoutz/x/_resources/dataplanes')).json();
    assert.match(plural.details, /^unknown policy type "meshtimeoutz": _resources\/dataplanes answers for meshtrafficpermissions, meshtimeouts, meshretries, .*meshaccesslogs$/);
    assert.match((await z.app.inject('/meshes/default/meshgateways/gw/_resources/dataplanes')).json().details, /^MeshGateway is not a policy matched to proxies: _resources\/dataplanes answers for meshtrafficpermissions/);
    assert.match((await z.app.inject('/meshes/default/dataplanes/web/_resources/dataplanes')).json().details, /^Dataplane is not a policy matched to proxies/);
  });

  test('a reader may look, anonymous callers are a 401; the policy type is authorized by its plural', async () => {
    const reader = await z.token('alice', ['readers']);
    const remote = { remoteAddress: '192.0.2.10' };
    const asReader = (url: string) => z.app.inject({ url, ...remote, headers: { authorization: `Bearer ${reader}` } });
    assert.equal((await asReader('/meshes/default/dataplanes/web/_rules')).statusCode, 200);
    assert.equal((await asReader('/meshes/default/meshtimeouts/mesh-timeouts/_resources/dataplanes')).statusCode, 200);
    for (const url of ['/meshes/default/dataplanes/web/_rules', '/meshes/default/meshtimeouts/mesh-timeouts/_resources/dataplanes']) {
      const anonymous = await z.app.inject({ url, ...remote });
      assert.equal(anonymous.statusCode, 401, url);
      assert.match(anonymous.json().details, /authentication required to READ (Dataplane "web"|MeshTimeout "mesh-timeouts") in mesh "default"/);
    }
    // Reading secrets needs a grant: asking what a Secret "affects" is refused before it is answered 404.
    const secret = await asReader('/meshes/default/secrets/s1/_resources/dataplanes');
    assert.equal(secret.statusCode, 403);
    assert.deepEqual(secret.json(), {
      title: 'Forbidden', details: 'user "alice" (groups: readers) lacks the right to READ Secret "s1" in mesh "default": ask an admin for an AccessRole that grants it', causes: [],
    });
  });
});

test('a registered dataplane or policy the reconciler has not matched yet is a 404 that says why', async () => {
  const store = new MemoryStore(new InProcessEventBus());
  const loading = 'the zone control plane is still loading its resources';
  const app = buildApiServer({
    mode: 'standalone', zone: 'zone-1', store, telemetry: new Telemetry({ service: 'test' }), log: createLogger({ component: 'test', destination: quiet }),
    extraRoutes: (a) => registerXdsRoutes(a, {
      cache: new SnapshotCache(), insights: new ProxyInsights(), store, xds: { port: 5678 }, zone: 'zone-1',
      rules: { rulesOf: () => ({ missing: loading }), dataplanesOf: () => ({ missing: loading }) },
    }),
  });
  await withProxies(app);
  await put(app, '/meshes/default/meshretries/r1', { type: 'MeshRetry', mesh: 'default', name: 'r1', spec: { targetRef: { kind: 'Mesh' }, to: [{ targetRef: { kind: 'Mesh' }, default: { tcp: { maxConnectAttempt: 2 } } }] } });
  const rules = await app.inject('/meshes/default/dataplanes/web/_rules');
  assert.equal(rules.statusCode, 404);
  assert.equal(rules.json().details, `Dataplane "web" in mesh "default" has no rules computed yet: ${loading}`);
  const affected = await app.inject('/meshes/default/meshretries/r1/_resources/dataplanes');
  assert.equal(affected.statusCode, 404);
  assert.equal(affected.json().details, `MeshRetry "r1" in mesh "default" is not matched yet: ${loading}`);
  await app.close();
});
