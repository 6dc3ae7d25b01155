import assert from 'node:assert/strict';
import { test } from 'node:test';
import { type Any, type EnvoyObject, pack, unpack, XDS_TYPE_URL } from '@meshfed/shared';
import { checkSnapshot, makeSnapshot, type XdsSnapshot } from '../snapshot.js';
import { dep, dependencyVersions, type GenerationContext, ResourceMemo } from './context.js';
import { downstreamMeshTls, encodeEnvoy, listener, listenerOnTail, listenerOnTailChecked, listenerTail, tcpProxyFilter } from './envoy-parts.js';
import { RulesCache } from './matching.js';
import { generateSidecar } from './sidecar.js';
import { buildZoneIndex, type ResourceView, type XdsInput } from './zone-index.js';
import { generateZoneEgress, generateZoneIngress } from './zone-proxies.js';

const MTLS = { mtls: { enabledBackend: 'ca-1', backends: [{ name: 'ca-1', type: 'builtin' }] } };
const global = { 'kuma.io/origin': 'global' };

function mesh(name: string, spec: Record<string, unknown> = {}): ResourceView {
  return { name, labels: global, spec };
}
function dataplane(name: string, address: string, service: string, opts: { outbound?: [string, number][]; mesh?: string; ready?: boolean } = {}): ResourceView {
  return {
    name, mesh: opts.mesh ?? 'default', labels: {},
    spec: {
      networking: {
        address,
        inbound: [{ port: 8080, servicePort: 80, tags: { 'kuma.io/service': service }, ...(opts.ready === false ? { health: { ready: false } } : {}) }],
        ...(opts.outbound ? { outbound: opts.outbound.map(([s, port]) => ({ port, tags: { 'kuma.io/service': s } })) } : {}),
      },
    },
  };
}
function remoteIngress(zone: string, address: string | undefined, services: [string, number][], meshName = 'default'): ResourceView {
  return {
    name: `ingress.${zone}.abc`, labels: { ...global, 'kuma.io/zone': zone },
    spec: {
      zone,
      networking: { port: 10001, ...(address ? { advertisedAddress: address, advertisedPort: 10001 } : {}) },
      availableServices: services.map(([s, instances]) => ({ mesh: meshName, tags: { 'kuma.io/service': s }, instances })),
    },
  };
}
const localIngress: ResourceView = { name: 'ingress', labels: {}, spec: { networking: { address: '10.1.0.2', port: 10001, advertisedAddress: '192.0.2.1', advertisedPort: 10001 } } };
const egress = (name: string, address: string): ResourceView => ({ name, labels: {}, spec: { networking: { address, port: 10002 } } });
const httpbin: ResourceView = { name: 'httpbin', mesh: 'default', labels: global, spec: { tags: { 'kuma.io/service': 'httpbin' }, networking: { address: 'httpbin.org:443', tls: { enabled: true } } } };

function input(over: Partial<XdsInput>): XdsInput {
  return { zone: 'zone-1', meshes: [mesh('default')], dataplanes: [], zoneIngresses: [], zoneEgresses: [], externalServices: [], ...over };
}

function context(i: XdsInput): GenerationContext {
  const index = buildZoneIndex(i);
  const cert = { version: 'v1', certPem: 'CERT', keyPem: 'KEY', caPem: 'CA' };
  const rules = new RulesCache();
  return { index, versions: dependencyVersions(index, rules), memo: new ResourceMemo(), rules, certificate: () => cert, certificateProblem: () => undefined, meshCaPem: (mesh) => `CA of ${mesh}` };
}

const web = dataplane('web', '10.1.0.5', 'web', { outbound: [['backend', 10001], ['httpbin', 10002]] });

function sidecarSnapshot(i: XdsInput, id = 'default.web'): { snapshot: XdsSnapshot; problems: readonly string[] } {
  const ctx = context(i);
  const out = generateSidecar(ctx, ctx.index.dataplanes.get(id)!);
  assert.ok(out.resources, `no resources: ${out.problems.join('; ')}`);
  const snapshot = makeSnapshot(out.resources);
  assert.deepEqual(checkSnapshot(snapshot), []);
  return { snapshot, problems: out.problems };
}

function resource(s: XdsSnapshot, kind: keyof XdsSnapshot['types'], name: string): EnvoyObject {
  const e = s.types[kind].entries.get(name);
  assert.ok(e, `${kind} ${name} missing; have ${[...s.types[kind].entries.keys()].join(', ')}`);
  return unpack(e.resource);
}

interface Lb { endpoint: { address: { socket_address: { address: string; port_value: number } } }; load_balancing_weight: { value: number } }
interface Locality { locality: { zone: string; sub_zone?: string }; lb_endpoints: Lb[]; priority?: number }
function endpointsOf(s: XdsSnapshot, cluster: string): { address: string; port: number; weight: number; zone: string; priority: number }[] {
  const cla = resource(s, 'endpoint', cluster) as { endpoints?: Locality[] };
  return (cla.endpoints ?? []).flatMap((l) => l.lb_endpoints.map((e) => ({
    address: e.endpoint.address.socket_address.address, port: e.endpoint.address.socket_address.port_value,
    weight: e.load_balancing_weight.value, zone: l.locality.zone, priority: l.priority ?? 0,
  })));
}

/** Every generated resource decodes and re-encodes to the same bytes with the real Envoy protos. */
function assertRoundTrips(s: XdsSnapshot): void {
  for (const kind of Object.keys(s.types) as (keyof XdsSnapshot['types'])[]) {
    for (const e of s.types[kind].entries.values()) {
      const again: Any = pack(e.resource.type_url, unpack(e.resource));
      assert.deepEqual(Buffer.from(again.value), Buffer.from(e.resource.value), `${kind} ${e.key} does not round-trip`);
    }
  }
}

test('sidecar without egress: a remote backend is the other zone\'s ingress, weighted by its instances', () => {
  const { snapshot } = sidecarSnapshot(input({ meshes: [mesh('default', MTLS)], dataplanes: [web], zoneIngresses: [remoteIngress('zone-2', '192.0.2.20', [['backend', 2]])] }));
  assert.deepEqual(endpointsOf(snapshot, 'backend'), [{ address: '192.0.2.20', port: 10001, weight: 2, zone: 'zone-2', priority: 0 }]);
  const listener = resource(snapshot, 'listener', 'outbound:127.0.0.1:10001') as { filter_chains: { filters: { typed_config: Any }[] }[] };
  assert.equal(unpack(listener.filter_chains[0]!.filters[0]!.typed_config)['cluster'], 'backend');
  assert.equal(resource(snapshot, 'cluster', 'localhost:80')['type'], 'STATIC');
  assertRoundTrips(snapshot);
});

test('without mesh mTLS other zones are out of reach (their ingress routes by SNI): local instances only, and the proxy is told why', () => {
  const dps = [web, dataplane('backend-1', '10.1.0.6', 'backend')];
  const remote = [remoteIngress('zone-2', '192.0.2.20', [['backend', 2]]), remoteIngress('zone-3', '192.0.2.30', [['backend', 1]])];
  let r = sidecarSnapshot(input({ dataplanes: dps, zoneIngresses: remote }));
  assert.deepEqual(endpointsOf(r.snapshot, 'backend').map((e) => e.address), ['10.1.0.6']);
  assert.match(r.problems.join('\n'), /backend has 3 instances in zone-2, zone-3 that this zone cannot reach: .*mesh default has no mTLS/);
  const inbound = resource(r.snapshot, 'listener', 'inbound:10.1.0.5:8080') as { filter_chains: { transport_socket?: unknown }[] };
  assert.equal(inbound.filter_chains[0]!.transport_socket, undefined, 'no mTLS in a mesh without it');

});

test('sidecar: local instances and remote ingresses share the cluster; locality-aware puts the local zone first', () => {
  const dps = [web, dataplane('backend-1', '10.1.0.6', 'backend'), dataplane('backend-2', '10.1.0.7', 'backend', { ready: false })];
  const remote = [remoteIngress('zone-2', '192.0.2.20', [['backend', 3]])];
  let s = sidecarSnapshot(input({ meshes: [mesh('default', MTLS)], dataplanes: dps, zoneIngresses: remote })).snapshot;
  assert.deepEqual(endpointsOf(s, 'backend').map((e) => [e.address, e.weight, e.priority]), [['10.1.0.6', 1, 0], ['192.0.2.20', 3, 0]], 'an unready instance is left out');
  s = sidecarSnapshot(input({ meshes: [mesh('default', { ...MTLS, routing: { localityAwareLoadBalancing: true } })], dataplanes: dps, zoneIngresses: remote })).snapshot;
  assert.deepEqual(endpointsOf(s, 'backend').map((e) => [e.zone, e.priority]), [['zone-1', 0], ['zone-2', 1]]);
});

test('sidecar with mTLS: inbound requires a mesh certificate, outbound sends the service SNI and checks its SPIFFE id', () => {
  const { snapshot } = sidecarSnapshot(input({ meshes: [mesh('default', MTLS)], dataplanes: [web], zoneIngresses: [remoteIngress('zone-2', '192.0.2.20', [['backend', 2]])] }));
  const cluster = resource(snapshot, 'cluster', 'backend') as { transport_socket: { typed_config: Any } };
  const tls = unpack(cluster.transport_socket.typed_config) as { sni: string; common_tls_context: { combined_validation_context: { default_validation_context: { match_typed_subject_alt_names: { matcher: { exact: string } }[] } } } };
  assert.equal(tls.sni, 'backend{mesh=default}');
  assert.equal(tls.common_tls_context.combined_validation_context.default_validation_context.match_typed_subject_alt_names[0]!.matcher.exact, 'spiffe://default/backend');
  const inbound = resource(snapshot, 'listener', 'inbound:10.1.0.5:8080') as { filter_chains: { transport_socket: { typed_config: Any } }[] };
  assert.deepEqual(unpack(inbound.filter_chains[0]!.transport_socket.typed_config)['require_client_certificate'], { value: true });
  assert.deepEqual([...snapshot.types.secret.entries.keys()].sort(), ['identity_cert:secret:default', 'mesh_ca:secret:default']);
  assertRoundTrips(snapshot);
});

test('routing.zoneEgress: cross-zone and external endpoints become the local egresses; with no egress they are empty', () => {
  const meshes = [mesh('default', { ...MTLS, routing: { zoneEgress: true } })];
  const remote = [remoteIngress('zone-2', '192.0.2.20', [['backend', 2]])];
  let r = sidecarSnapshot(input({ meshes, dataplanes: [web], zoneIngresses: remote, externalServices: [httpbin], zoneEgresses: [egress('egress-1', '10.1.0.9'), egress('egress-2', '10.1.0.10')] }));
  assert.deepEqual(endpointsOf(r.snapshot, 'backend').map((e) => `${e.address}:${e.port}`), ['10.1.0.10:10002', '10.1.0.9:10002'], 'several egresses are several endpoints');
  assert.deepEqual(endpointsOf(r.snapshot, 'httpbin').map((e) => `${e.address}:${e.port}`), ['10.1.0.10:10002', '10.1.0.9:10002']);
  assert.equal(resource(r.snapshot, 'cluster', 'httpbin')['type'], 'EDS');

  r = sidecarSnapshot(input({ meshes, dataplanes: [web], zoneIngresses: remote, externalServices: [httpbin] }));
  assert.deepEqual(endpointsOf(r.snapshot, 'backend'), []);
  assert.deepEqual(endpointsOf(r.snapshot, 'httpbin'), []);
  assert.match(r.problems.join('\n'), /backend is reached through a ZoneEgress .* this zone has none/);
});

test('an external service without zoneEgress goes direct, originating TLS', () => {
  const { snapshot } = sidecarSnapshot(input({ meshes: [mesh('default', MTLS)], dataplanes: [web], externalServices: [httpbin] }));
  const c = resource(snapshot, 'cluster', 'httpbin') as { type: string; load_assignment: { endpoints: Locality[] }; transport_socket: { typed_config: Any } };
  assert.equal(c.type, 'STRICT_DNS');
  assert.equal(c.load_assignment.endpoints[0]!.lb_endpoints[0]!.endpoint.address.socket_address.address, 'httpbin.org');
  assert.equal(unpack(c.transport_socket.typed_config)['sni'], 'httpbin.org');
  assert.equal(snapshot.types.endpoint.entries.has('httpbin'), false);
});

test('zone ingress: one SNI chain per local service, passing through to its instances', () => {
  const ctx = context(input({ meshes: [mesh('default', MTLS)], dataplanes: [dataplane('backend-1', '10.1.0.6', 'backend'), dataplane('backend-2', '10.1.0.7', 'backend'), web], zoneIngresses: [localIngress] }));
  const out = generateZoneIngress(ctx, ctx.index.ingresses.get('zoneingress:ingress')!);
  const s = makeSnapshot(out.resources!);
  assert.deepEqual(checkSnapshot(s), []);
  const l = resource(s, 'listener', 'inbound:10.1.0.2:10001') as { listener_filters: { name: string }[]; filter_chains: { filter_chain_match: { server_names: string[] }; transport_socket?: unknown; filters: { typed_config: Any }[] }[] };
  assert.equal(l.listener_filters[0]!.name, 'envoy.filters.listener.tls_inspector');
  assert.deepEqual(l.filter_chains.map((c) => c.filter_chain_match.server_names[0]), ['backend{mesh=default}', 'web{mesh=default}']);
  assert.ok(l.filter_chains.every((c) => c.transport_socket === undefined), 'passthrough: the ingress does not terminate TLS');
  assert.equal(unpack(l.filter_chains[0]!.filters[0]!.typed_config)['cluster'], 'default:backend');
  assert.deepEqual(endpointsOf(s, 'default:backend').map((e) => e.address), ['10.1.0.6', '10.1.0.7']);
  assert.deepEqual(out.problems, []);
  assertRoundTrips(s);
});

test('zone egress: SNI passthrough to other zones\' ingresses, mTLS termination and TLS origination for external services', () => {
  const ctx = context(input({
    meshes: [mesh('default', { ...MTLS, routing: { zoneEgress: true } }), mesh('plain')], zoneEgresses: [egress('egress-1', '10.1.0.9')],
    zoneIngresses: [remoteIngress('zone-2', '192.0.2.20', [['backend', 2]]), remoteIngress('zone-3', '192.0.2.30', [['backend', 1]])], externalServices: [httpbin],
  }));
  const out = generateZoneEgress(ctx, ctx.index.egresses.get('zoneegress:egress-1')!);
  const s = makeSnapshot(out.resources!);
  assert.deepEqual(checkSnapshot(s), []);
  const l = resource(s, 'listener', 'inbound:10.1.0.9:10002') as { filter_chains: { filter_chain_match: { server_names: string[] }; transport_socket?: { typed_config: Any } }[] };
  const chains = new Map(l.filter_chains.map((c) => [c.filter_chain_match.server_names[0], c]));
  assert.equal(chains.get('backend{mesh=default}')?.transport_socket, undefined);
  assert.deepEqual(endpointsOf(s, 'default:backend').map((e) => [e.address, e.weight, e.zone]), [['192.0.2.20', 2, 'zone-2'], ['192.0.2.30', 1, 'zone-3']]);
  const ext = chains.get('httpbin{mesh=default}');
  assert.ok(ext?.transport_socket, 'the egress terminates mTLS for external services');
  assert.deepEqual(unpack(ext.transport_socket.typed_config)['require_client_certificate'], { value: true });
  const c = resource(s, 'cluster', 'default:httpbin') as { type: string; transport_socket: { typed_config: Any } };
  assert.equal(c.type, 'STRICT_DNS');
  assert.equal(unpack(c.transport_socket.typed_config)['sni'], 'httpbin.org');
  assertRoundTrips(s);
});

test('bad input is reported and affects nothing else', () => {
  const broken: ResourceView = { name: 'broken', mesh: 'default', labels: {}, spec: { networking: { address: '10.1.0.8', inbound: [{ port: 80, tags: { 'kuma.io/service': 'a' } }, { port: 80, tags: { 'kuma.io/service': 'b' } }] } } };
  const ctx = context(input({ meshes: [mesh('default', MTLS)], dataplanes: [web, broken], zoneIngresses: [remoteIngress('zone-2', undefined, [['backend', 2]]), remoteIngress('zone-3', '192.0.2.30', [['backend', 1]])] }));
  assert.deepEqual(ctx.index.problems.map((p) => [p.kind, p.name]), [['Dataplane', 'broken'], ['ZoneIngress', 'ingress.zone-2.abc']]);
  assert.match(ctx.index.problems[0]!.message, /inbound\.1\.port: conflicts with inbound\[0\]/);
  assert.match(ctx.index.problems[1]!.message, /no advertisedAddress/);
  const s = makeSnapshot(generateSidecar(ctx, ctx.index.dataplanes.get('default.web')!).resources!);
  assert.deepEqual(endpointsOf(s, 'backend').map((e) => e.zone), ['zone-3']);

  const noMesh = context(input({ meshes: [], dataplanes: [web] }));
  const out = generateSidecar(noMesh, noMesh.index.dataplanes.get('default.web')!);
  assert.equal(out.resources, undefined);
  assert.match(out.problems[0]!, /mesh "default" does not exist/);
});

test('a change of one service changes only that service\'s dependency version', () => {
  const base = { dataplanes: [web, dataplane('backend-1', '10.1.0.6', 'backend'), dataplane('db-1', '10.1.0.7', 'db')] };
  const before = dependencyVersions(buildZoneIndex(input(base)), new RulesCache());
  const after = dependencyVersions(buildZoneIndex(input({ dataplanes: [...base.dataplanes, dataplane('backend-2', '10.1.0.8', 'backend')] })), new RulesCache());
  // A dataplane of a new shape of tags also names its own rules (dep.rules), which are new keys.
  const changed = [...after.keys()].filter((k) => !k.startsWith(dep.rules('default', '')) && before.get(k) !== after.get(k)).sort();
  // The ingress's listener depends on which services exist, not on their instances: only backend moves.
  assert.deepEqual(changed, [dep.service('default', 'backend')]);
  const withCache = dependencyVersions(buildZoneIndex(input({ dataplanes: [...base.dataplanes, dataplane('cache-1', '10.1.0.9', 'cache')] })), new RulesCache());
  const added = [...withCache.keys()].filter((k) => !k.startsWith(dep.rules('default', '')) && before.get(k) !== withCache.get(k)).sort();
  // A new service changes which services exist: the ingress listener and proxyless clients (which dial every service) move.
  assert.deepEqual(added, [dep.ingressServices, dep.meshServices('default'), dep.service('default', 'cache')].sort(), 'a new service changes the ingress listener\'s dependency');
});

test('the zone ingress depends on each local service it passes through, and shares its listener across instance moves', () => {
  const dps = [web, dataplane('backend-1', '10.1.0.6', 'backend')];
  const memo = new ResourceMemo();
  const gen = (dataplanes: ResourceView[]) => {
    const index = buildZoneIndex(input({ dataplanes, zoneIngresses: [localIngress] }));
    const rules = new RulesCache();
    const ctx: GenerationContext = { index, versions: dependencyVersions(index, rules), memo, rules, certificate: () => undefined, certificateProblem: () => undefined, meshCaPem: () => undefined };
    return generateZoneIngress(ctx, index.ingresses.get('zoneingress:ingress')!);
  };
  const a = gen(dps);
  assert.deepEqual([...a.deps].sort(), [dep.ingressServices, dep.service('default', 'backend'), dep.service('default', 'web')].sort());
  const b = gen([web, dataplane('backend-1', '10.1.0.16', 'backend')]);
  const map = (r: typeof a.resources, kind: 'listener' | 'endpoint') => r![kind] as ReadonlyMap<string, Any>;
  assert.equal(map(a.resources, 'listener').size, 1);
  assert.equal([...map(a.resources, 'listener').values()][0], [...map(b.resources, 'listener').values()][0], 'an instance moving reuses the listener');
  assert.notEqual(map(a.resources, 'endpoint').get('default:backend'), map(b.resources, 'endpoint').get('default:backend'));
  assert.equal(map(a.resources, 'endpoint').get('default:web'), map(b.resources, 'endpoint').get('default:web'));
  assertRoundTrips(makeSnapshot(b.resources!));
});

test('a listener built on a shared tail is byte for byte the listener built whole', () => {
  const chains = [{ filters: [tcpProxyFilter('localhost_80', 'localhost:80')], transportSocket: downstreamMeshTls('default', { prefix: 'spiffe://default/' }) }];
  const whole = encodeEnvoy(XDS_TYPE_URL.listener, listener('inbound:10.1.0.5:8080', '10.1.0.5', 8080, 'INBOUND', chains));
  const onTail = listenerOnTail('inbound:10.1.0.5:8080', '10.1.0.5', 8080, encodeEnvoy(XDS_TYPE_URL.listener, listenerTail('INBOUND', chains)));
  assert.equal(onTail.type_url, whole.type_url);
  assert.deepEqual(Buffer.from(onTail.value), Buffer.from(whole.value));
  // The hand-encoded head equals protobufjs's checked encoding, whatever the lengths and ports.
  const tail = encodeEnvoy(XDS_TYPE_URL.listener, listenerTail('INBOUND', chains));
  for (const [name, address, port] of [['inbound:10.1.0.5:8080', '10.1.0.5', 8080], ['', '', 0], ['inbound:[fd00::1]:65535', 'fd00::1', 65535], [`l-${'é'.repeat(90)}`, 'x'.repeat(200), 127], ['p', '10.0.0.1', 128]] as const) {
    assert.deepEqual(Buffer.from(listenerOnTail(name, address, port, tail).value), Buffer.from(listenerOnTailChecked(name, address, port, tail).value), `${name} ${port}`);
  }
});

test('instances of one service share every resource but their inbound listener, and the snapshot types built from them', () => {
  const ctx = context(input({ meshes: [mesh('default', MTLS)], dataplanes: [web, dataplane('web-2', '10.1.0.99', 'web', { outbound: [['backend', 10001], ['httpbin', 10002]] })], externalServices: [httpbin] }));
  const a = generateSidecar(ctx, ctx.index.dataplanes.get('default.web')!);
  const b = generateSidecar(ctx, ctx.index.dataplanes.get('default.web-2')!);
  for (const kind of ['cluster', 'endpoint', 'secret'] as const) assert.equal(a.resources![kind], b.resources![kind], kind);
  const [sa, sb] = [makeSnapshot(a.resources!), makeSnapshot(b.resources!)];
  assert.equal(sa.types.cluster, sb.types.cluster);
  assert.notEqual(sa.types.listener.version, sb.types.listener.version);
  assert.deepEqual([...sb.types.listener.entries.keys()].filter((k) => k.startsWith('inbound')), ['inbound:10.1.0.99:8080']);
  assert.deepEqual(checkSnapshot(sb), []);
  assertRoundTrips(sb);
});

test('several ingresses of one zone share its instances; locality priorities start at 0 when nothing is local', () => {
  const second = { ...remoteIngress('zone-2', '192.0.2.21', [['backend', 4]]), name: 'ingress-b.zone-2.abc' };
  const meshes = [mesh('default', { ...MTLS, routing: { localityAwareLoadBalancing: true } })];
  const { snapshot } = sidecarSnapshot(input({ meshes, dataplanes: [web], zoneIngresses: [remoteIngress('zone-2', '192.0.2.20', [['backend', 4]]), second] }));
  assert.deepEqual(endpointsOf(snapshot, 'backend').map((e) => [e.address, e.weight, e.priority]), [['192.0.2.20', 2, 0], ['192.0.2.21', 2, 0]]);
});

test('through the egress, a sidecar accepts only the egress identity for external services', () => {
  const meshes = [mesh('default', { ...MTLS, routing: { zoneEgress: true } })];
  const { snapshot } = sidecarSnapshot(input({ meshes, dataplanes: [web], externalServices: [httpbin], zoneEgresses: [egress('egress-1', '10.1.0.9')] }));
  const c = resource(snapshot, 'cluster', 'httpbin') as { transport_socket: { typed_config: Any } };
  const tls = unpack(c.transport_socket.typed_config) as { common_tls_context: { combined_validation_context: { default_validation_context: { match_typed_subject_alt_names: { matcher: unknown }[] } } } };
  assert.deepEqual(tls.common_tls_context.combined_validation_context.default_validation_context.match_typed_subject_alt_names[0]!.matcher, { exact: 'spiffe://default/zone-egress' });
  const reserved = buildZoneIndex(input({ dataplanes: [dataplane('fake', '10.1.0.66', 'zone-egress')] }));
  assert.equal(reserved.dataplanes.size, 0);
  assert.match(reserved.problems[0]!.message, /"zone-egress" is reserved for the identity of zone egresses/);
});

test('a policy change recomputes the rules of only the proxies it reaches, and they equal a full computation', () => {
  const services = Array.from({ length: 20 }, (_, i) => `svc-${i}`);
  const dataplanes = services.map((s, i) => dataplane(`${s}-1`, `10.2.0.${i + 1}`, s));
  const timeout = (service: string, connect: string) => ({
    type: 'MeshTimeout', name: `timeout-${service}`, mesh: 'default', labels: {},
    spec: { spec: { targetRef: { kind: 'MeshService', name: service }, from: [{ targetRef: { kind: 'Mesh' }, default: { connectionTimeout: connect } }] } },
  });
  const route = (weight: number) => ({
    type: 'MeshHTTPRoute', name: 'route', mesh: 'default', labels: {},
    spec: { spec: { targetRef: { kind: 'MeshService', name: 'svc-0' }, to: [{ targetRef: { kind: 'MeshService', name: 'svc-1' }, rules: [{ matches: [{ path: { type: 'PathPrefix', value: '/' } }], default: { backendRefs: [{ kind: 'MeshService', name: 'svc-1', weight }] } }] }] } },
  });
  const base = services.map((s) => timeout(s, '1s'));
  const rules = new RulesCache();
  const run = (policies: ResourceView[]) => {
    const index = buildZoneIndex(input({ dataplanes, policies: policies as (ResourceView & { type: string })[] }));
    assert.deepEqual(index.problems, []);
    const before = rules.computed;
    const versions = dependencyVersions(index, rules);
    const fresh = dependencyVersions(index, new RulesCache());
    for (const [k, v] of fresh) if (k.startsWith('rules:')) assert.equal(versions.get(k), v, `${k} equals a full computation`);
    return rules.computed - before;
  };
  assert.equal(run(base), 20);
  // The stored objects stay (the index parses each stored spec once): only the edited policy is new.
  const edited = [...base];
  edited[7] = timeout('svc-7', '2s');
  assert.equal(run(edited), 1, 'one policy of one service: its proxies\' rules alone');
  const r = route(1);
  assert.equal(run([...edited, r]), 20, 'a MeshHTTPRoute may reach policies targeting it by name: everything');
  assert.equal(run([...edited, r, timeout('nobody', '3s')]), 0, 'a policy selecting no proxy recomputes nothing');
});

test('a service\'s version follows its instances\' affinity tags when a MeshLoadBalancingStrategy groups by them, and only then', () => {
  const withNode = (node: string): ResourceView => {
    const d = dataplane('backend-1', '10.1.0.6', 'backend');
    const spec = d.spec as { networking: { inbound: { tags: Record<string, string> }[] } };
    spec.networking.inbound[0]!.tags = { ...spec.networking.inbound[0]!.tags, node };
    return d;
  };
  const affinity = {
    type: 'MeshLoadBalancingStrategy', name: 'affinity', mesh: 'default', labels: {},
    spec: { spec: { targetRef: { kind: 'Mesh' }, to: [{ targetRef: { kind: 'MeshService', name: 'backend' }, default: { localityAwareness: { localZone: { affinityTags: [{ key: 'node' }] } } } }] } },
  } as ResourceView & { type: string };
  const version = (node: string, policies: (ResourceView & { type: string })[]) =>
    dependencyVersions(buildZoneIndex(input({ dataplanes: [web, withNode(node)], policies })), new RulesCache()).get(dep.service('default', 'backend'));
  assert.notEqual(version('n1', [affinity]), version('n2', [affinity]), 'callers group backend by node: a node change reaches them');
  assert.equal(version('n1', []), version('n2', []), 'nobody groups by node: the tag is not part of the version');
});
