import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { Writable } from 'node:stream';
import { test } from 'node:test';
import { createLogger, generateCa, InProcessEventBus, MemoryStore, type ResourceStore, Telemetry, unpack } from '@meshfed/shared';
import { meshCaSecretNames } from '../mesh-ca/ca-secrets.js';
import { WorkloadCertificateCache } from '../mesh-ca/workload-certificate-cache.js';
import { checkSnapshot } from './snapshot.js';
import { SnapshotCache } from './snapshot-cache.js';
import { startXdsReconciler } from './xds-reconciler.js';

const global = { 'kuma.io/origin': 'global' };
const MTLS = { mtls: { enabledBackend: 'ca-1', backends: [{ name: 'ca-1', type: 'builtin' }] } };

function dp(name: string, address: string, service: string, outbound: [string, number][] = []) {
  return {
    type: 'Dataplane' as const, mesh: 'default', name, labels: {},
    spec: { networking: { address, inbound: [{ port: 8080, tags: { 'kuma.io/service': service } }], outbound: outbound.map(([s, port]) => ({ port, tags: { 'kuma.io/service': s } })) } },
  };
}

/** The default mesh's builtin CA (backend ca-1) arriving from global, as KDS writes it. */
async function giveMeshCa(store: ResourceStore): Promise<void> {
  const ca = await generateCa({ commonName: 'default' });
  const names = meshCaSecretNames('default', 'ca-1');
  const b64 = (s: string) => Buffer.from(s).toString('base64');
  await store.commit([
    { op: 'put', resource: { type: 'Secret', mesh: 'default', name: names.cert, labels: global, spec: { data: b64(ca.certPem) } } },
    { op: 'put', resource: { type: 'Secret', mesh: 'default', name: names.key, labels: global, spec: { data: b64(ca.keyPem) } } },
  ]);
}

async function put(store: ResourceStore, r: Parameters<ResourceStore['commit']>[0][number] extends infer O ? O extends { op: 'put'; resource: infer R } ? R : never : never) {
  await store.commit([{ op: 'put', resource: r }]);
}

async function eventually<T>(what: string, f: () => T | undefined | false, ms = 5000): Promise<T> {
  const until = Date.now() + ms;
  for (;;) {
    const v = f();
    if (v !== undefined && v !== false) return v;
    if (Date.now() > until) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

async function setup(logLines?: Record<string, unknown>[]) {
  const bus = new InProcessEventBus();
  const store = new MemoryStore(bus);
  const cache = new SnapshotCache();
  const problems = new Map<string, string | undefined>();
  const certificates = new WorkloadCertificateCache({ store, bus });
  const reconciler = startXdsReconciler({
    store, bus, cache, certificates, zone: 'zone-1', resyncIntervalMs: 0,
    log: logLines
      ? createLogger({ component: 'test', level: 'info', destination: new Writable({ write: (chunk, _enc, done) => { logLines.push(JSON.parse(String(chunk)) as Record<string, unknown>); done(); } }) })
      : createLogger({ component: 'test', level: 'silent' }),
    telemetry: new Telemetry({ service: 'test' }),
    onProblem: (id, p) => problems.set(id, p),
  });
  return { store, bus, cache, problems, reconciler, stop: async () => { await reconciler.stop(); certificates.close(); } };
}

const endpointsOf = (cache: SnapshotCache, proxy: string, cluster: string) => {
  const e = cache.get(proxy)?.types.endpoint.entries.get(cluster);
  if (!e) return undefined;
  const cla = unpack(e.resource) as { endpoints?: { lb_endpoints: { endpoint: { address: { socket_address: { address: string } } } }[] }[] };
  return (cla.endpoints ?? []).flatMap((l) => l.lb_endpoints.map((x) => x.endpoint.address.socket_address.address)).sort();
};

test('snapshots follow the resources by events; only affected proxies are regenerated', async (t) => {
  const z = await setup();
  t.after(z.stop);
  await put(z.store, { type: 'Mesh', name: 'default', labels: global, spec: {} });
  await put(z.store, dp('web', '10.0.0.1', 'web', [['backend', 10001]]));
  await put(z.store, dp('db', '10.0.0.3', 'db'));
  await put(z.store, dp('backend-1', '10.0.0.2', 'backend'));
  await eventually('web sees backend-1', () => endpointsOf(z.cache, 'default.web', 'backend')?.join() === '10.0.0.2');
  assert.deepEqual(checkSnapshot(z.cache.get('default.web')!), []);
  const dbBefore = z.cache.get('default.db');
  assert.ok(dbBefore);

  await put(z.store, dp('backend-2', '10.0.0.4', 'backend'));
  await eventually('web sees backend-2', () => endpointsOf(z.cache, 'default.web', 'backend')?.join() === '10.0.0.2,10.0.0.4');
  await z.reconciler.runNow();
  assert.equal(z.cache.get('default.db'), dbBefore, 'db calls nothing that changed: its snapshot is untouched');

  await z.store.commit([{ op: 'delete', key: { type: 'Dataplane', mesh: 'default', name: 'backend-1' } }]);
  await eventually('backend-1 gone from web', () => endpointsOf(z.cache, 'default.web', 'backend')?.join() === '10.0.0.4');
  await eventually('backend-1 snapshot cleared', () => z.cache.get('default.backend-1') === undefined);

  assert.match(z.reconciler.explain('default.nope') ?? '', /Dataplane "nope" of mesh "default" does not exist in this zone: register it/);
});

test('an mTLS mesh waits for its CA, says why, then serves certificates', async (t) => {
  const z = await setup();
  t.after(z.stop);
  await put(z.store, { type: 'Mesh', name: 'default', labels: global, spec: MTLS });
  await put(z.store, dp('web', '10.0.0.1', 'web'));
  await eventually('the problem is reported', () => z.problems.get('default.web'));
  assert.match(z.problems.get('default.web')!, /the CA of backend "ca-1" has not arrived from global/);
  assert.equal(z.cache.get('default.web'), undefined, 'never plaintext in an mTLS mesh');

  await giveMeshCa(z.store);
  const snapshot = await eventually('configured with certificates', () => z.cache.get('default.web'));
  assert.deepEqual([...snapshot.types.secret.entries.keys()].sort(), ['identity_cert:secret:default', 'mesh_ca:secret:default']);
  await eventually('problem cleared', () => z.problems.has('default.web') && z.problems.get('default.web') === undefined);
});

test('a dataplane serving two services gets one certificate naming both, so callers of either accept it', async (t) => {
  const z = await setup();
  t.after(z.stop);
  await put(z.store, { type: 'Mesh', name: 'default', labels: global, spec: MTLS });
  await giveMeshCa(z.store);
  const both = dp('api-1', '10.0.0.5', 'api');
  both.spec.networking.inbound.push({ port: 9090, tags: { 'kuma.io/service': 'metrics' } });
  await put(z.store, both);
  const snapshot = await eventually('configured', () => z.cache.get('default.api-1'));
  const secret = unpack(snapshot.types.secret.entries.get('identity_cert:secret:default')!.resource) as { tls_certificate: { certificate_chain: { inline_string: string } } };
  const san = new X509Certificate(secret.tls_certificate.certificate_chain.inline_string).subjectAltName ?? '';
  assert.ok(san.includes('URI:spiffe://default/api') && san.includes('URI:spiffe://default/metrics'), san);
});

test('a change regenerates its own proxy and the dependents of what changed, nothing else; a new identity gets its certificate', async (t) => {
  const z = await setup();
  t.after(z.stop);
  await put(z.store, { type: 'Mesh', name: 'default', labels: global, spec: MTLS });
  await giveMeshCa(z.store);
  await put(z.store, dp('web', '10.0.0.1', 'web', [['backend', 10001]]));
  await put(z.store, dp('db', '10.0.0.3', 'db'));
  await put(z.store, dp('backend-1', '10.0.0.2', 'backend'));
  await eventually('web sees backend-1', () => endpointsOf(z.cache, 'default.web', 'backend')?.join() === '10.0.0.2');
  await z.reconciler.runNow();
  const db = z.cache.get('default.db');

  const runs = z.reconciler.stats().runs;
  await put(z.store, dp('backend-1', '10.0.0.12', 'backend'));
  await eventually('the move is reconciled', () => z.reconciler.stats().runs > runs && endpointsOf(z.cache, 'default.web', 'backend')?.join() === '10.0.0.12');
  assert.equal(z.reconciler.stats().lastGenerated, 2, 'backend-1 itself and web, its caller');
  assert.equal(z.cache.get('default.db'), db);

  await put(z.store, dp('cache-1', '10.0.0.5', 'cache'));
  const s = await eventually('cache-1 configured', () => z.cache.get('default.cache-1'));
  assert.deepEqual([...s.types.secret.entries.keys()].sort(), ['identity_cert:secret:default', 'mesh_ca:secret:default']);
  assert.deepEqual(checkSnapshot(s), []);

  // mTLS off and on again: every proxy follows, and the dependency index follows their new reads.
  await put(z.store, { type: 'Mesh', name: 'default', labels: global, spec: {} });
  await eventually('plaintext', () => z.cache.get('default.web')?.types.secret.entries.size === 0);
  await put(z.store, { type: 'Mesh', name: 'default', labels: global, spec: MTLS });
  await eventually('mTLS again', () => z.cache.get('default.web')?.types.secret.entries.size === 2 && z.cache.get('default.cache-1')?.types.secret.entries.size === 2);
  const runs2 = z.reconciler.stats().runs;
  await z.store.commit([{ op: 'delete', key: { type: 'Dataplane', mesh: 'default', name: 'backend-1' } }]);
  await eventually('backend-1 gone', () => z.reconciler.stats().runs > runs2 && z.cache.get('default.backend-1') === undefined);
  assert.deepEqual(endpointsOf(z.cache, 'default.web', 'backend'), []);
});

test('a problem many proxies share is logged once with their count; a broken resource once, not on every run', async (t) => {
  const lines: Record<string, unknown>[] = [];
  const z = await setup(lines);
  t.after(z.stop);
  await put(z.store, { type: 'Mesh', name: 'default', labels: global, spec: {} });
  // zone-2 offers backend, but without mesh mTLS its ingress cannot be used: every caller is told.
  await put(z.store, {
    type: 'ZoneIngress', name: 'ingress.zone-2', labels: { 'kuma.io/origin': 'global', 'kuma.io/zone': 'zone-2' },
    spec: { zone: 'zone-2', networking: { address: '10.2.0.1', port: 10001, advertisedAddress: '192.0.2.2', advertisedPort: 10001 }, availableServices: [{ mesh: 'default', tags: { 'kuma.io/service': 'backend' }, instances: 2 }] },
  });
  await z.store.commit(['web-1', 'web-2', 'web-3'].map((n, i) => ({ op: 'put' as const, resource: dp(n, `10.0.0.${i + 1}`, 'web', [['backend', 10001]]) })));
  const broken = dp('broken', '10.0.0.9', 'x');
  broken.spec.networking.inbound.push({ port: 8080, tags: { 'kuma.io/service': 'y' } });
  await put(z.store, broken);
  await eventually('the three callers told', () => ['default.web-1', 'default.web-2', 'default.web-3'].every((id) => z.problems.get(id)?.includes('no mTLS')));
  await put(z.store, dp('other', '10.0.0.20', 'other'));
  await eventually('a later run', () => z.cache.get('default.other'));
  const shared = lines.filter((l) => String(l['msg']).includes('cannot be fully configured'));
  assert.equal(shared.length, 1, JSON.stringify(shared));
  assert.equal(shared[0]!['proxies'], 3);
  assert.match(String(shared[0]!['problem']), /backend has 2 instances in zone-2 that this zone cannot reach/);
  assert.equal(lines.filter((l) => l['msg'] === 'xDS: resource skipped' && l['name'] === 'broken').length, 1, 'the broken dataplane is reported once');
});

test('a builtin gateway follows its MeshGateway and MeshGatewayRoutes by events, with its own identity', async (t) => {
  const z = await setup();
  t.after(z.stop);
  await put(z.store, { type: 'Mesh', name: 'default', labels: global, spec: MTLS });
  await giveMeshCa(z.store);
  await put(z.store, dp('backend-1', '10.0.0.2', 'backend'));
  await put(z.store, {
    type: 'Dataplane', mesh: 'default', name: 'gw-1', labels: {},
    spec: { networking: { address: '10.0.0.10', gateway: { type: 'BUILTIN', tags: { 'kuma.io/service': 'edge' } } } },
  });
  await eventually('the gateway says no MeshGateway selects it', () => z.problems.get('default.gw-1')?.includes('no MeshGateway'));
  assert.equal(z.cache.get('default.gw-1')?.types.listener.entries.size ?? 0, 0);
  await put(z.store, {
    type: 'MeshGateway', mesh: 'default', name: 'edge', labels: global,
    spec: { selectors: [{ match: { 'kuma.io/service': 'edge' } }], conf: { listeners: [{ port: 8080, protocol: 'HTTP', hostname: 'foo.example.com' }] } },
  });
  await eventually('the gateway gets its listener', () => z.cache.get('default.gw-1')?.types.listener.entries.has('edge:HTTP:8080'));
  assert.equal(z.problems.get('default.gw-1'), undefined);
  await put(z.store, {
    type: 'MeshGatewayRoute', mesh: 'default', name: 'edge-route', labels: global,
    spec: { selectors: [{ match: { 'kuma.io/service': 'edge' } }], conf: { http: { rules: [{ matches: [{ path: { match: 'PREFIX', value: '/api' } }], backends: [{ destination: { 'kuma.io/service': 'backend' } }] }] } } },
  });
  await eventually('the route reaches backend-1', () => endpointsOf(z.cache, 'default.gw-1', 'backend')?.join() === '10.0.0.2');
  const snapshot = z.cache.get('default.gw-1')!;
  assert.deepEqual(checkSnapshot(snapshot), []);
  // The gateway's certificate names its gateway service.
  const secret = unpack(snapshot.types.secret.entries.get('identity_cert:secret:default')!.resource) as { tls_certificate: { certificate_chain: { inline_string: string } } };
  assert.match(new X509Certificate(secret.tls_certificate.certificate_chain.inline_string).subjectAltName ?? '', /URI:spiffe:\/\/default\/edge(,|$)/);
  // A second endpoint of the backend reaches the gateway (it depends on the service).
  await put(z.store, dp('backend-2', '10.0.0.3', 'backend'));
  await eventually('the gateway sees backend-2', () => endpointsOf(z.cache, 'default.gw-1', 'backend')?.join() === '10.0.0.2,10.0.0.3');
});
