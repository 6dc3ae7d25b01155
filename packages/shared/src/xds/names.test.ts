import assert from 'node:assert/strict';
import { test } from 'node:test';
import { EnvoyNameError } from './errors.js';
import {
  dataplaneNodeId, identityCertSecretName, inboundListenerName, inboundRouteName, localClusterName, meshCaSecretName,
  meshClusterName, outboundClusterName, outboundListenerName, outboundRouteName, parseDataplaneNodeId,
  parseListenerName, parseMeshClusterName, parseServiceSni, parseSpiffeId, serviceSni, spiffeId,
  zoneEgressListenerName, zoneIngressListenerName,
} from './names.js';

test("names read like Kuma's", () => {
  assert.equal(inboundListenerName('10.0.0.1', 8080), 'inbound:10.0.0.1:8080');
  assert.equal(outboundListenerName('127.0.0.1', 10001), 'outbound:127.0.0.1:10001');
  assert.equal(zoneIngressListenerName('192.168.0.1', 10001), 'inbound:192.168.0.1:10001');
  assert.equal(zoneEgressListenerName('192.168.0.2', 10002), 'inbound:192.168.0.2:10002');
  assert.equal(outboundClusterName('backend'), 'backend');
  assert.equal(localClusterName(8080), 'localhost:8080');
  assert.equal(meshClusterName('default', 'backend'), 'default:backend');
  assert.equal(outboundRouteName('backend'), 'outbound:backend');
  assert.equal(inboundRouteName('backend'), 'inbound:backend');
  assert.equal(identityCertSecretName('default'), 'identity_cert:secret:default');
  assert.equal(meshCaSecretName('default'), 'mesh_ca:secret:default');
  assert.equal(serviceSni('backend', 'default'), 'backend{mesh=default}');
  assert.equal(serviceSni('backend', 'default', { version: 'v1' }), 'backend{mesh=default,version=v1}');
  assert.equal(serviceSni('backend', 'default', { version: 'v1', 'kuma.io/service': 'backend', app: 'x' }), 'backend{app=x,mesh=default,version=v1}');
  assert.equal(spiffeId('default', 'backend'), 'spiffe://default/backend');
  assert.equal(dataplaneNodeId('default', 'web-1'), 'default.web-1');
});

// Inputs as the resource schemas allow them: mesh names [0-9a-z_-], service names and tag values
// with Kuma's tag characters (letters, digits, '.', '_', ':', '/', '-', '*').
const MESHES = ['default', 'm-2', 'prod_eu', 'a'];
const SERVICES = ['backend', 'backend_default_svc_8080', 'web.ns.svc:80', 'a/b', 'x', 'redis-*', 'localhost'];
const TAG_SETS: Record<string, string>[] = [
  {},
  { version: 'v1' },
  { version: 'v2' },
  { version: 'v1', region: 'eu' },
  { 'kuma.io/zone': 'zone-1', 'kuma.io/protocol': 'http' },
  { 'k8s.io/ns': 'a:b/c.d' },
  { app: 'web', zzz: '*' },
];
const ADDRESSES = ['10.0.0.1', '127.0.0.1', '::1', 'fd00::1:2', 'backend.local', '0.0.0.0'];
const PORTS = [1, 80, 8080, 10001, 65535];

test('SNIs round-trip and are unique for distinct (service, mesh, tags)', () => {
  const seen = new Map<string, string>();
  for (const mesh of MESHES) {
    for (const service of SERVICES) {
      for (const tags of TAG_SETS) {
        const sni = serviceSni(service, mesh, tags);
        assert.deepEqual(parseServiceSni(sni), { service, mesh, tags }, sni);
        const input = JSON.stringify([service, mesh, Object.entries(tags).sort()]);
        assert.equal(seen.get(sni) ?? input, input, `${sni} built from two inputs`);
        seen.set(sni, input);
      }
    }
  }
  assert.equal(seen.size, MESHES.length * SERVICES.length * TAG_SETS.length);
  // tag order in the input does not matter: one spelling
  assert.equal(serviceSni('b', 'm', { z: '1', a: '2' }), serviceSni('b', 'm', { a: '2', z: '1' }));
});

test('parseServiceSni refuses anything serviceSni would not produce', () => {
  for (const bad of [
    'backend', 'backend{}', 'backend{version=v1}', '{mesh=default}', 'backend{mesh=default}}', 'backend{mesh=default',
    'backend{version=v1,mesh=default}', 'backend{mesh=a,mesh=b}', 'backend{mesh=}', 'backend{=x,mesh=a}',
    'backend{mesh=default,,a=b}', 'backend{kuma.io/service=x,mesh=a}', 'a=b{mesh=default}', '',
  ]) {
    assert.equal(parseServiceSni(bad), undefined, bad);
  }
});

test('names that would not round-trip are refused when built', () => {
  assert.throws(() => serviceSni('back{end', 'default'), EnvoyNameError);
  assert.throws(() => serviceSni('backend', 'default', { version: 'v1,mesh=other' }), EnvoyNameError);
  assert.throws(() => serviceSni('backend', 'default', { 'a=b': 'c' }), EnvoyNameError);
  assert.throws(() => serviceSni('backend', 'default', { mesh: 'other' }), /reserved/);
  assert.throws(() => serviceSni('backend', 'default', { 'kuma.io/service': 'web' }), /contradicts/);
  assert.throws(() => serviceSni('', 'default'), EnvoyNameError);
  assert.throws(() => spiffeId('a/b', 'backend'), EnvoyNameError);
  assert.throws(() => meshClusterName('a:b', 'backend'), EnvoyNameError);
  assert.throws(() => dataplaneNodeId('a.b', 'web'), EnvoyNameError);
  assert.throws(() => dataplaneNodeId('', 'web'), EnvoyNameError);
});

test('SPIFFE ids, mesh clusters and node ids round-trip and are unique', () => {
  const spiffe = new Set<string>();
  const clusters = new Set<string>();
  for (const mesh of MESHES) {
    for (const service of SERVICES) {
      const id = spiffeId(mesh, service);
      assert.deepEqual(parseSpiffeId(id), { mesh, service });
      spiffe.add(id);
      const cluster = meshClusterName(mesh, service);
      assert.deepEqual(parseMeshClusterName(cluster), { mesh, service });
      clusters.add(cluster);
      const node = dataplaneNodeId(mesh, `${service.replace(/[^a-z0-9._-]/g, '-')}.pod`);
      assert.deepEqual(parseDataplaneNodeId(node), { mesh, name: `${service.replace(/[^a-z0-9._-]/g, '-')}.pod` });
    }
  }
  assert.equal(spiffe.size, MESHES.length * SERVICES.length);
  assert.equal(clusters.size, MESHES.length * SERVICES.length);
  for (const bad of ['spiffe://default', 'spiffe:///backend', 'http://default/backend', 'spiffe://default/']) {
    assert.equal(parseSpiffeId(bad), undefined, bad);
  }
  for (const bad of ['backend', ':backend', 'default:']) assert.equal(parseMeshClusterName(bad), undefined, bad);
  for (const bad of ['web', '.web', 'default.']) assert.equal(parseDataplaneNodeId(bad), undefined, bad);
});

test('listener names round-trip (IPv6 included) and never collide between directions', () => {
  const names = new Set<string>();
  for (const direction of ['inbound', 'outbound'] as const) {
    for (const address of ADDRESSES) {
      for (const port of PORTS) {
        const name = direction === 'inbound' ? inboundListenerName(address, port) : outboundListenerName(address, port);
        assert.deepEqual(parseListenerName(name), { direction, address, port });
        names.add(name);
      }
    }
  }
  assert.equal(names.size, 2 * ADDRESSES.length * PORTS.length);
  for (const bad of ['inbound:10.0.0.1', 'inbound::80', 'sideways:10.0.0.1:80', 'inbound:10.0.0.1:65536', 'inbound:10.0.0.1:080']) {
    assert.equal(parseListenerName(bad), undefined, bad);
  }
});

test('on one sidecar, cluster, route and secret names are unique across families', () => {
  const clusters = [
    ...SERVICES.map(outboundClusterName),
    ...PORTS.map(localClusterName),
  ];
  assert.equal(new Set(clusters).size, clusters.length);
  const routes = [...SERVICES.map(outboundRouteName), ...SERVICES.map(inboundRouteName)];
  assert.equal(new Set(routes).size, routes.length);
  const secrets = [...MESHES.map(identityCertSecretName), ...MESHES.map(meshCaSecretName)];
  assert.equal(new Set(secrets).size, secrets.length);
});
